/**
 * Docker Swarm end to end, on the same kind of private engine as the compose test: a one-machine
 * swarm, `docker stack deploy` of the very docker-compose.yml the compose test runs (the image a
 * local tag the harness builds from it), then what a user of the stack would notice:
 * - the 5 nodes agree on one leader, found through the relay's published port and their logs;
 * - `docker kill` of the relay's task: Swarm starts a new relay task and the ring agrees again;
 * - `docker kill` of the relay and every node at once: Swarm starts them all again, and the fresh
 *   processes elect a leader in a term above every earlier one, which only the relay's state file
 *   on the `relay-state` volume can carry (without it they would start again at term 1);
 * - `docker service scale` to 7: all 7 join and the leader stays;
 * - `docker stack rm` removes every task and network (the volume stays), and the engine leaves
 *   the swarm. Cleanup runs even when a step fails.
 *
 * The kernel here has no IPVS, so there are no service virtual IPs and no ingress routing mesh: the
 * compose file gives the relay `endpoint_mode: dnsrr` and publishes ports in `mode: host`, which is
 * exactly what this test exercises.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './freePort.js';
import { log, startComposeHarness, type ComposeHarness } from './harness.js';
import { inspectorPage, relayStatus, settledRing as settleRing, type LeaderInfo } from './ring.js';
import { waitFor } from './run.js';
import { stopwatch } from './stopwatch.js';
import { initSwarm, type SwarmStack } from './swarm.js';

const STACK = `rlswarm${process.pid}`;
const IMAGE = 'ringleader:swarm-e2e';
// Generous: a shared 2-core machine, several test suites at once.
const SETTLE_MS = Number(process.env.COMPOSE_E2E_SETTLE_MS ?? 180_000);
const { timings, timed } = stopwatch(log);
const LOG_FILE = join(tmpdir(), 'ringleader-swarm-e2e.log');

let harness: ComposeHarness | undefined;
let stack: SwarmStack | undefined;
let stackRemoved = false;
let swarmLeft = false;
let relayPort = 0;
let inspectorPort = 0;

function h(): ComposeHarness {
  if (!harness) throw new Error('harness not started');
  return harness;
}

function s(): SwarmStack {
  if (!stack) throw new Error('swarm not initialised');
  return stack;
}

function settledRing(size: number): Promise<{ leader: LeaderInfo; leaderContainer: string }> {
  return settleRing({ docker: h().docker, relayPort, nodeContainers: () => s().containers('node'), size, timeoutMs: SETTLE_MS });
}

/** Waits until Swarm runs `count` tasks of `service`, none of them one of `gone` (killed ones). */
function replacedTasks(service: string, count: number, gone: string[]): Promise<string[]> {
  return waitFor(
    async () => {
      const running = await s().containers(service);
      return running.length === count && running.every((id) => !gone.includes(id)) ? running : undefined;
    },
    `Swarm to run ${count} new ${service} task(s)`,
    { timeoutMs: SETTLE_MS, intervalMs: 500 },
  );
}

/** Every task's log (killed ones too), kept for reading after a failure. */
async function saveLogs(): Promise<void> {
  const parts: string[] = [];
  for (const service of ['relay', 'node', 'inspector']) {
    const logs = await h()
      .docker(['service', 'logs', '--timestamps', '--no-trunc', `${STACK}_${service}`], { allowFailure: true, timeoutMs: 60_000 })
      .catch(() => undefined);
    if (logs) parts.push(logs.stdout, logs.stderr);
  }
  writeFileSync(LOG_FILE, parts.join('\n'));
  log(`task logs: ${LOG_FILE}`);
}

describe('docker stack deploy (Swarm)', () => {
  beforeAll(async () => {
    relayPort = await freePort();
    inspectorPort = await freePort();
    harness = await timed('harness (tools, dockerd, base image)', () =>
      startComposeHarness({
        project: STACK,
        // The stack reads these from the deploying shell, as a user's would.
        env: { RINGLEADER_IMAGE: IMAGE, RELAY_PORT: String(relayPort), INSPECTOR_PORT: String(inspectorPort), LOG_LEVEL: 'info' },
      }),
    );
    // Swarm ignores `build`: the image is built first, by Compose from the same file, under the tag
    // RINGLEADER_IMAGE names.
    await timed('compose build', () => h().compose(['build'], { timeoutMs: 900_000 }));
    stack = await timed('swarm init', () => initSwarm(h(), STACK));
  }, 900_000);

  afterAll(async () => {
    try {
      if (stack && !stackRemoved) {
        await saveLogs();
        await timed('cleanup: stack rm', () => stack!.remove(120_000)).catch((error: Error) => log(`stack rm: ${error.message}`));
      }
      if (stack && !swarmLeft) await stack.leave().catch((error: Error) => log(`swarm leave: ${error.message}`));
    } finally {
      if (harness) await timed('cleanup: dockerd stop', () => harness!.stop());
      log(`timings (ms): ${JSON.stringify(timings)}`);
    }
  }, 300_000);

  it('deploys the compose file, survives relay and whole-ring kills with higher terms, scales, and is removed', async () => {
    const deployed = await timed('stack deploy', () => s().deploy());
    log(`stack deploy: ${(deployed.stdout + deployed.stderr).trim().replace(/\n+/g, ' | ')}`);

    const first = await timed('5 nodes agree', () => settledRing(5));
    log(`leader of 5: ${first.leader.id} rank ${first.leader.rank} term ${first.leader.term}`);

    // The inspector's page, on its host-mode published port.
    expect(await inspectorPage(inspectorPort, SETTLE_MS)).toMatch(/<html/i);

    // The relay's task dies: Swarm's restart policy starts a new one, the nodes find it by the
    // service name (dnsrr: the name resolves to the new task's address) and resume their ids.
    const [killedRelay] = await s().containers('relay');
    expect(killedRelay).toBeDefined();
    await timed('docker kill relay', () => h().docker(['kill', killedRelay!]));
    await timed('Swarm restarts the relay', () => replacedTasks('relay', 1, [killedRelay!]));
    const second = await timed('5 nodes agree after relay kill', () => settledRing(5));
    log(`leader after relay kill: ${second.leader.id} term ${second.leader.term} (before: ${first.leader.id} term ${first.leader.term})`);
    // A leader that resumes its id leads on in its term (docs/GUARANTEES.md); any new election is above it.
    expect(second.leader.term).toBeGreaterThanOrEqual(first.leader.term);
    expect((await relayStatus(relayPort)).highestTerm).toBeGreaterThanOrEqual(first.leader.term);

    // Everything dies at once: the new node processes know no term, so only the relay's state
    // file on the volume can tell them the terms already used.
    const killedNodes = await s().containers('node');
    const [relayNow] = await s().containers('relay');
    await timed('docker kill relay and all nodes', () => h().docker(['kill', relayNow!, ...killedNodes]));
    await timed('Swarm restarts relay and nodes', async () => {
      await replacedTasks('relay', 1, [relayNow!]);
      await replacedTasks('node', 5, killedNodes);
    });
    const third = await timed('5 fresh nodes agree', () => settledRing(5));
    log(`leader of the fresh ring: ${third.leader.id} term ${third.leader.term}`);
    expect(third.leader.term).toBeGreaterThan(second.leader.term);

    await timed('service scale node=7', () => s().scale('node', 7));
    const fourth = await timed('7 nodes agree', () => settledRing(7));
    log(`leader of 7: ${fourth.leader.id} term ${fourth.leader.term}`);
    // Joiners do not depose a healthy leader.
    expect(fourth.leader.id).toBe(third.leader.id);
    expect(fourth.leader.term).toBe(third.leader.term);

    await saveLogs();
    await timed('stack rm', () => s().remove(120_000));
    stackRemoved = true;
    // The named volume outlives the stack, so a redeployed relay keeps the terms.
    const volumes = await h().docker(['volume', 'ls', '-q', '--filter', `name=${STACK}_relay-state`]);
    expect(volumes.stdout.trim()).toBe(`${STACK}_relay-state`);
    const state = await timed('swarm leave', () => s().leave());
    swarmLeft = true;
    expect(state).toBe('inactive');
  });
});
