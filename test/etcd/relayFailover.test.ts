/**
 * `ringleader relay --store etcd://...` as users run it: several relay processes on one etcd, node
 * processes given every relay (`--relay r1,r2,r3`), and an observer outside them all (the nodes'
 * own log lines) that records every leadership. The active relay is SIGKILLed, or frozen past its
 * lease; a standby takes the ring over and the ring agrees again, never with two leaders in one
 * term. And a relay that cannot start on its store says why, with its own exit code, serving nothing.
 * (`npm run build` first: these run dist/cli/ringleader.js.)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../cli/freePort.js';
import { Supervisor } from '../../cli/supervisor.js';
import { DEFAULT_RELAY_LEASE_TTL_S, TAKEOVER_SLACK_MS } from '../../machines/relayLease.js';
import { DEADLINE_MS, FAST_TIMING, doubleClaims, describeViews } from '../e2eHarness.js';
import { CLI, RelayProcess, getJson, killRelayProcesses } from '../relayHelpers.js';
import { waitFor } from '../../runtime/waitFor.js';
import { startEtcd, type EtcdCluster } from './etcdHarness.js';

let etcd: EtcdCluster;
const supervisors: Supervisor[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
});
afterEach(async () => {
  for (const supervisor of supervisors.splice(0)) await supervisor.stop();
  killRelayProcesses();
});
afterAll(async () => {
  await etcd?.stop();
});

const TAKEOVER_BOUND_MS = DEFAULT_RELAY_LEASE_TTL_S * 1000 + TAKEOVER_SLACK_MS;
/** A loaded 2-core machine gets this much on top of the bound before the test calls it a failure. */
const SLACK_MS = 15_000;

interface RelaySpot {
  port: number;
  url: string;
  http: string;
}

async function relaySpots(count: number): Promise<RelaySpot[]> {
  const spots: RelaySpot[] = [];
  for (let index = 0; index < count; index += 1) {
    const port = await freePort();
    spots.push({ port, url: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}` });
  }
  return spots;
}

const storeArgs = (spot: RelaySpot, prefix: string) => ['--port', String(spot.port), '--host', '127.0.0.1', '--store', etcd.storeUrl, '--store-prefix', prefix, '--advertise-url', spot.url];

/**
 * Relay 1 runs under a Supervisor (which also runs the nodes, given every relay); the others are
 * plain relay processes on the same store and prefix.
 */
async function startHaRing(relayCount: number, ranks: number[], prefix: string): Promise<{ supervisor: Supervisor; spots: RelaySpot[]; standbys: RelayProcess[] }> {
  const spots = await relaySpots(relayCount);
  const supervisor = new Supervisor({
    env: { ...process.env, ...FAST_TIMING, LOG_LEVEL: 'info' },
    relayPort: spots[0]!.port,
    relayArgs: storeArgs(spots[0]!, prefix).slice(2),
    nodeArgs: ['--relay', spots.map((spot) => spot.url).join(',')],
  });
  supervisors.push(supervisor);
  await supervisor.startRelay();
  const standbys: RelayProcess[] = [];
  for (const spot of spots.slice(1)) standbys.push(await RelayProcess.start(storeArgs(spot, prefix), { ...FAST_TIMING }));
  // Relay 1 started first: it serves the default ring; the others stand by for it.
  expect(await getJson(`${spots[0]!.http}/status`)).toMatchObject({ serving: true, activeRelay: spots[0]!.url });
  for (const spot of spots.slice(1)) expect(await getJson(`${spot.http}/status`)).toMatchObject({ serving: false, activeRelay: spots[0]!.url, members: [] });
  await supervisor.startNodes(ranks.length, ranks);
  return { supervisor, spots, standbys };
}

function agreement(supervisor: Supervisor, what: string) {
  return supervisor.waitFor(() => supervisor.agreement() ?? undefined, { timeoutMs: DEADLINE_MS * 2, what: `${what} (now: ${describeViews(supervisor)})` });
}

/** The first of `spots` whose /status says it serves the default ring, and when it was first seen to. */
function servingRelay(spots: RelaySpot[], timeoutMs: number): Promise<{ spot: RelaySpot; at: number }> {
  return waitFor(
    async () => {
      for (const spot of spots) {
        const status = await getJson(`${spot.http}/status`).catch(() => null);
        if (status?.serving === true) return { spot, at: performance.now() };
      }
      return undefined;
    },
    'a standby to serve the ring',
    { timeoutMs, intervalMs: 50 },
  );
}

/** Asks `port` for a WebSocket upgrade and returns how it answered (101 is an accepted upgrade). */
function upgradeAnswer(port: number, path: string): Promise<{ status: number; location: string | undefined; cacheControl: string | undefined }> {
  return new Promise((resolve, reject) => {
    const upgrade = request({
      host: '127.0.0.1',
      port,
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': randomBytes(16).toString('base64'), 'Sec-WebSocket-Version': '13' },
    });
    upgrade.on('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0, location: response.headers.location, cacheControl: response.headers['cache-control'] });
    });
    upgrade.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve({ status: 101, location: undefined, cacheControl: undefined });
    });
    upgrade.on('error', reject);
    upgrade.setTimeout(5000, () => upgrade.destroy(new Error('no answer within 5 s')));
    upgrade.end();
  });
}

describe('relays on etcd: the active relay lost', () => {
  it('SIGKILL of the active relay of 3: a standby serves within the lease TTL + 1 s, every node agrees again, never two leaders in a term', async () => {
    const { supervisor, spots } = await startHaRing(3, [1, 2, 3, 4, 5], 'ha-kill/');
    const before = (await agreement(supervisor, 'five nodes to agree')).leader;

    const killedAt = performance.now();
    supervisor.relay!.process.kill('SIGKILL');
    const takeover = await servingRelay(spots.slice(1), TAKEOVER_BOUND_MS + SLACK_MS);
    const takeoverMs = Math.round(takeover.at - killedAt);
    const after = await agreement(supervisor, 'the five nodes to agree again on the standby');
    const agreedMs = Math.round(performance.now() - killedAt);

    expect(takeoverMs).toBeLessThan(TAKEOVER_BOUND_MS + SLACK_MS);
    expect(supervisor.nodes).toHaveLength(5);
    expect(after.nodes).toHaveLength(5);
    expect(doubleClaims(supervisor)).toEqual([]);
    // The leader kept its id and term, or a later term was elected: never an older or repeated one.
    const kept = after.leader.id === before.id && after.leader.term === before.term;
    expect(kept || after.leader.term > before.term).toBe(true);
    const status = await getJson(`${takeover.spot.http}/status`);
    expect(status).toMatchObject({ serving: true, activeRelay: takeover.spot.url, leader: { id: after.leader.id, term: after.leader.term } });
    expect(status.members).toHaveLength(5);
    console.log(
      `relay SIGKILL: standby ${takeover.spot.url} serving after ${takeoverMs} ms (bound ${TAKEOVER_BOUND_MS} ms), 5 nodes agreed after ${agreedMs} ms; ` +
        `leader ${before.id}@${before.term} -> ${after.leader.id}@${after.leader.term} (${kept ? 'kept' : 'new term'})`,
    );
  });

  it('SIGSTOP of the active relay past its lease: a standby serves; on SIGCONT the old relay has closed the ring and redirects every join (307)', async () => {
    const { supervisor, spots, standbys } = await startHaRing(2, [1, 2, 3], 'ha-freeze/');
    await agreement(supervisor, 'three nodes to agree');
    const frozen = supervisor.relay!;
    frozen.process.kill('SIGSTOP');
    let continued = false;
    try {
      const takeover = await servingRelay([spots[1]!], TAKEOVER_BOUND_MS + SLACK_MS);
      expect(takeover.spot).toBe(spots[1]);
      frozen.process.kill('SIGCONT');
      continued = true;
      // The first answers after waking may be 503 (it has not read who serves yet); never an upgrade.
      const answers: number[] = [];
      const redirect = await waitFor(
        async () => {
          const answer = await upgradeAnswer(spots[0]!.port, '/?role=observer&host=probe');
          answers.push(answer.status);
          return answer.status === 307 ? answer : undefined;
        },
        'the woken relay to redirect a join',
        { timeoutMs: DEADLINE_MS, intervalMs: 100 },
      );
      expect(answers.filter((status) => status !== 307 && status !== 503)).toEqual([]);
      expect(redirect.location).toBe(`${spots[1]!.url}/?role=observer&host=probe`);
      expect(redirect.cacheControl).toBe('no-store');
      const stopped = frozen.records.find((record) => record.msg === 'ring no longer served by this relay: its sockets closed (4010)');
      expect(stopped).toBeDefined();
      expect(await getJson(`${spots[0]!.http}/status`)).toMatchObject({ serving: false, activeRelay: spots[1]!.url, members: [] });
      expect(await getJson(`${spots[0]!.http}/rings`)).toEqual([]);
      await supervisor.waitFor(() => supervisor.agreement() !== null && supervisor.nodes.length === 3, { timeoutMs: DEADLINE_MS * 2, what: 'the nodes to agree on the standby' });
      expect(doubleClaims(supervisor)).toEqual([]);
      expect((await getJson(`${spots[1]!.http}/status`)).members).toHaveLength(3);
      expect(standbys[0]!.child.exitCode).toBeNull();
    } finally {
      if (!continued) frozen.process.kill('SIGCONT');
    }
  });
});

/** Runs `ringleader relay` with `args` until it exits: its code, stderr and whether it ever listened. */
async function failedStart(args: string[]): Promise<{ code: number | null; stderr: string; listened: boolean }> {
  const child = spawn(process.execPath, [CLI, 'relay', '--host', '127.0.0.1', ...args], { env: { ...process.env, LOG_PRETTY: '0', ...FAST_TIMING }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr, listened: stdout.includes('"relay listening"') };
}

describe('relays on etcd: starts that fail', () => {
  it('a bad store URL, or --store with --state-file: exit 2 with the rule broken, nothing served', async () => {
    const [spot] = await relaySpots(1);
    const bad = await failedStart(['--port', String(spot!.port), '--store', 'etcd://127.0.0.1:2379/path', '--advertise-url', spot!.url]);
    expect(bad).toMatchObject({ code: 2, listened: false });
    expect(bad.stderr).toContain('--store "etcd://127.0.0.1:2379/path": no path, query, fragment or credentials');
    const both = await failedStart(['--port', String(spot!.port), '--store', etcd.storeUrl, '--advertise-url', spot!.url, '--state-file', '/tmp/never-written.json']);
    expect(both).toMatchObject({ code: 2, listened: false });
    expect(both.stderr).toContain('--store and --state-file exclude each other');
    const noUrl = await failedStart(['--port', String(spot!.port), '--store', etcd.storeUrl]);
    expect(noUrl).toMatchObject({ code: 2, listened: false });
    expect(noUrl.stderr).toContain('--store needs --advertise-url');
  });

  it('etcd unreachable: exit 4 naming where it looked, nothing served', async () => {
    const [spot] = await relaySpots(1);
    const nobody = await freePort();
    const result = await failedStart(['--port', String(spot!.port), '--store', `etcd://127.0.0.1:${nobody}`, '--advertise-url', spot!.url]);
    expect(result).toMatchObject({ code: 4, listened: false });
    expect(result.stderr).toContain(`cannot reach etcd at http://127.0.0.1:${nobody}`);
  });

  it('two live relays with one advertise URL: the second exits 5 naming the holder, the first serves on', async () => {
    const [spot, other] = await relaySpots(2);
    const first = await RelayProcess.start(storeArgs(spot!, 'same-url/'), { ...FAST_TIMING });
    const second = await failedStart([...storeArgs(other!, 'same-url/').slice(0, 8), '--advertise-url', spot!.url]);
    expect(second).toMatchObject({ code: 5, listened: false });
    expect(second.stderr).toMatch(new RegExp(`--advertise-url ${spot!.url.replace(/[.]/g, '\\.')} is already used by another relay \\(host .*, pid ${first.child.pid}\\)`));
    expect(await getJson(`${spot!.http}/status`)).toMatchObject({ serving: true, activeRelay: spot!.url });
  });
});
