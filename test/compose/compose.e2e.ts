/**
 * Docker Compose end to end, against a real Docker engine that the harness starts itself:
 * `up --build --scale node=5`, all five agree on one leader, the leader's container is stopped
 * and the four left agree on a new one, scale to 7 and all agree (the leader stays: joiners do
 * not depose it), then every container stops cleanly on SIGTERM and `down` removes it all.
 *
 * Opt-in (`npm run test:compose`): it installs Docker if missing and starts dockerd as root.
 * COMPOSE_FLAVOUR=v1 runs the same steps with docker-compose 1.29 instead of `docker compose`.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './freePort.js';
import { COMPOSE_FILE, log, startComposeHarness, type ComposeHarness } from './harness.js';
import { inspectorPage, settledRing as settleRing, type LeaderInfo } from './ring.js';
import { run, waitFor } from './run.js';
import { stopwatch } from './stopwatch.js';

const PROJECT = `rle2e${process.pid}`;
// Generous: a shared 2-core machine, several test suites at once.
const SETTLE_MS = Number(process.env.COMPOSE_E2E_SETTLE_MS ?? 180_000);
const { timings, timed } = stopwatch(log);
const LOG_FILE = join(tmpdir(), 'ringleader-compose-e2e.log');

let harness: ComposeHarness | undefined;
let relayPort = 0;
let inspectorPort = 0;

function h(): ComposeHarness {
  if (!harness) throw new Error('harness not started');
  return harness;
}

/** Running members: `node` replicas and those started under the original's name, `websocket-client`. */
async function runningNodeContainers(): Promise<string[]> {
  const containers: string[] = [];
  for (const service of ['node', 'websocket-client']) {
    const { stdout } = await h().docker([
      'ps', '-q', '--no-trunc',
      '--filter', `label=com.docker.compose.project=${PROJECT}`,
      '--filter', `label=com.docker.compose.service=${service}`,
    ]);
    containers.push(...stdout.split('\n').map((line) => line.trim()).filter(Boolean));
  }
  return containers;
}

function settledRing(size: number): Promise<{ leader: LeaderInfo; leaderContainer: string }> {
  return settleRing({ docker: h().docker, relayPort, nodeContainers: runningNodeContainers, size, timeoutMs: SETTLE_MS });
}

describe('docker compose', () => {
  beforeAll(async () => {
    relayPort = await freePort();
    inspectorPort = await freePort();
    harness = await timed('harness (tools, dockerd, base image)', () =>
      startComposeHarness({
        project: PROJECT,
        // Ports the test picked free, so a user's ring on 8080/8090 and other test runs do not collide.
        env: { RELAY_PORT: String(relayPort), INSPECTOR_PORT: String(inspectorPort), LOG_LEVEL: 'info' },
      }),
    );
    log(`compose flavour: ${harness.flavour}`);
  }, 900_000);

  afterAll(async () => {
    if (harness) {
      // Kept for reading after a failure: every container's log, before `down` removes them.
      const logs = await harness.compose(['logs', '--no-color', '--timestamps'], { allowFailure: true, timeoutMs: 60_000 }).catch(() => undefined);
      if (logs) writeFileSync(LOG_FILE, logs.stdout + logs.stderr);
      log(`container logs: ${LOG_FILE}`);
    }
    if (harness) await timed('cleanup (down + dockerd stop)', () => harness!.stop());
    log(`timings (ms): ${JSON.stringify(timings)}`);
  }, 300_000);

  it('accepts the compose file in Compose v2, docker-compose 1.29 and docker stack', async () => {
    const { tools } = h();
    const env = { ...h().engine.env };
    if (tools.composeV2Config) {
      await run(tools.docker, ['compose', '-f', COMPOSE_FILE, 'config', '-q'], { env: { ...env, DOCKER_CONFIG: tools.composeV2Config } });
    }
    if (tools.composeV1) await run(tools.composeV1, ['-f', COMPOSE_FILE, 'config', '-q'], { env });
    // Swarm reads the same file: `docker stack config` checks it without needing a swarm.
    const stack = await run(tools.docker, ['stack', 'config', '-c', COMPOSE_FILE], { env });
    expect(stack.stdout).toMatch(/replicas: 5/);
    expect(tools.composeV2Config ?? tools.composeV1).toBeDefined();
  });

  it('elects one leader among 5 nodes, replaces a stopped leader, scales to 7, and takes the original\'s --scale websocket-client', async () => {
    await timed('up --build --scale node=5', () =>
      h().compose(['up', '--build', '--detach', '--scale', 'node=5'], { timeoutMs: 900_000 }),
    );

    // The healthcheck (node -e fetch /healthz inside the container) turns the relay healthy.
    await timed('relay healthy', () =>
      waitFor(
        async () => {
          const { stdout } = await h().docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=relay', '--filter', 'health=healthy']);
          return stdout.trim() ? true : undefined;
        },
        'the relay container to be healthy',
        { timeoutMs: SETTLE_MS, intervalMs: 1_000 },
      ),
    );

    const first = await timed('5 nodes agree', () => settledRing(5));
    log(`leader of 5: ${first.leader.id} rank ${first.leader.rank} term ${first.leader.term}`);

    // The inspector's page is served on its published port.
    expect(await inspectorPage(inspectorPort, SETTLE_MS)).toMatch(/<html/i);

    await timed('docker stop leader', () => h().docker(['stop', first.leaderContainer], { timeoutMs: 60_000 }));
    const second = await timed('4 nodes agree on a new leader', () => settledRing(4));
    log(`leader of 4: ${second.leader.id} rank ${second.leader.rank} term ${second.leader.term}`);
    expect(second.leader.id).not.toBe(first.leader.id);
    expect(second.leader.term).toBeGreaterThan(first.leader.term);
    expect(second.leaderContainer).not.toBe(first.leaderContainer);

    // Back to scale: compose starts the stopped container again (a fresh process, a new member)
    // and adds two more, so 7 run.
    await timed('up --scale node=7', () => h().compose(['up', '--detach', '--scale', 'node=7'], { timeoutMs: 300_000 }));
    const third = await timed('7 nodes agree', () => settledRing(7));
    log(`leader of 7: ${third.leader.id} rank ${third.leader.rank} term ${third.leader.term}`);
    // Stability: the healthy leader is not deposed by members joining, even of higher rank.
    expect(third.leader.id).toBe(second.leader.id);
    expect(third.leader.term).toBe(second.leader.term);

    // The original project's command names the nodes `websocket-client`: still a ring member.
    await timed('up --scale websocket-client=1', () =>
      h().compose(['up', '--detach', '--scale', 'node=7', '--scale', 'websocket-client=1'], { timeoutMs: 300_000 }),
    );
    const fourth = await timed('8 nodes agree', () => settledRing(8));
    expect(fourth.leader.id).toBe(second.leader.id);

    // Every process handles SIGTERM itself (relay exits 0, nodes leave the ring and exit 0), so
    // nothing waits for the kill timeout; a container killed after the timeout exits 137.
    await timed('compose stop', () => h().compose(['stop', '--timeout', '10'], { timeoutMs: 120_000 }));
    const { stdout } = await h().docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}} {{.Status}}']);
    const exits = stdout.trim().split('\n').filter(Boolean);
    log(`after stop:\n  ${exits.join('\n  ')}`);
    expect(exits.length).toBeGreaterThanOrEqual(10);
    for (const line of exits) expect(line).toMatch(/Exited \(0\)/);

    await timed('down', () => h().compose(['down', '--remove-orphans', '--timeout', '10'], { timeoutMs: 120_000 }));
    const left = await h().docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    expect(left.stdout.trim()).toBe('');
  });
});
