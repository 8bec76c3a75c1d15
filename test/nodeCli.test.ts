/**
 * `ringleader node` as an OS process (dist/cli/ringleader.js) against an in-process relay: its
 * first log line, its signals (SIGUSR2 election, SIGTERM graceful hand-off) and exit codes.
 */
import { join } from 'node:path';
import { hostname } from 'node:os';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../relay/server.js';
import { FAST, killChild, repoRoot, silentLogger, spawnWithLines, TestRing, waitFor, type ChildWithLines, type LogLine } from './nodeKit.js';
import { requireBuiltCli } from './sidecarKit.js';

const cli = join(repoRoot, 'dist', 'cli', 'ringleader.js');
const FAST_ENV = {
  CHECK_INTERVAL_MS: String(FAST.checkIntervalMs),
  LEADER_TIMEOUT_MS: String(FAST.leaderTimeoutMs),
  ELECTION_TIMEOUT_MS: String(FAST.electionTimeoutMs),
  LOG_LEVEL: 'info',
};

describe('ringleader node', () => {
  const ring = new TestRing();
  const children: ChildWithLines[] = [];
  const startNode = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawnWithLines([cli, 'node', ...args], { ...FAST_ENV, ...env });
    children.push(child);
    return child;
  };
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killChild));
    await ring.cleanUp();
  });

  const msg = (text: string) => (line: LogLine) => line.msg === text;

  it('logs "node joined" first, with its client id, rank, host and pid', async () => {
    await ring.startRelay();
    const node = startNode(['--relay', ring.url, '--rank', '42']);
    const joined = await node.line(msg('node joined'), '"node joined"');
    expect(node.lines[0]).toBe(joined);
    expect(joined).toMatchObject({ clientId: expect.any(String), rank: 42, hostname: hostname(), pid: node.child.pid, component: 'node' });
    expect(ring.relay!.status().members).toEqual([joined.clientId]);
  });

  it('SIGUSR2 starts an election; SIGTERM hands leadership off and exits 0', async () => {
    await ring.startRelay();
    const low = startNode(['--relay', ring.url, '--rank', '10']);
    const lowId = (await low.line(msg('node joined'), 'the first node to join')).clientId;
    await low.line(msg('leadership acquired'), 'the first node to lead alone');
    const high = startNode(['--relay', ring.url, '--rank', '20']);
    const highId = (await high.line(msg('node joined'), 'the second node to join')).clientId;
    await high.line((line) => line.msg === 'leader changed' && line.leaderId === lowId, 'the second node to follow the first');

    // Stability kept the first node in charge; an election on request picks the higher rank.
    low.child.kill('SIGUSR2');
    const won = await high.line(msg('leadership acquired'), 'the higher rank to win the requested election');
    const requested = await low.line((line) => line.msg === 'election started' && line.reason === 'requested', 'the requested election to be logged');
    expect(requested).toMatchObject({ clientId: lowId, rank: 10 });
    expect(requested.term as number).toBe(won.term);

    // SIGTERM on the leader: a hand-off (one lap, reason "resign"), then a clean exit.
    high.child.kill('SIGTERM');
    expect(await high.exited).toBe(0);
    const highLines = high.lines.map((line) => line.msg);
    expect(highLines.indexOf('leadership lost')).toBeLessThan(highLines.indexOf('node left'));
    expect(high.lines.find(msg('election started'))).toMatchObject({ reason: 'resign', clientId: highId });
    const regained = await low.line(
      (line) => line.msg === 'leadership acquired' && (line.term as number) > (won.term as number),
      'the remaining node to take over',
    );
    // It took over from the hand-off, before the relay even reported the leaver gone.
    const leftAt = low.lines.findIndex((line) => line.msg === 'member left' && line.memberId === highId);
    expect(leftAt === -1 || low.lines.indexOf(regained) < leftAt).toBe(true);
  });

  it('bad configuration exits 2 with a message naming the option', async () => {
    const bad = startNode(['--relay', 'http://localhost:1']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--relay .*must use ws: or wss:/);
    const badEnv = startNode([], { LEADER_TIMEOUT_MS: 'soon' });
    expect(await badEnv.exited).toBe(2);
    expect(badEnv.stderr()).toMatch(/LEADER_TIMEOUT_MS must be an integer/);
  });

  it('a wrong RING_TOKEN exits 1 with a clear message instead of retrying', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', token: 'right', logger: silentLogger });
    ring.onCleanUp(() => relay.close());
    const node = startNode(['--relay', relay.url], { RING_TOKEN: 'wrong' });
    expect(await node.exited).toBe(1);
    const fatal = node.lines.find((line) => line.level === 60);
    expect(fatal?.msg).toMatch(/HTTP 401.*RING_TOKEN/);
    expect(node.lines.filter(msg('reconnecting'))).toEqual([]);
    await waitFor(() => relay.status().members.length === 0 || undefined, 'the relay to have no members');
  });

  it('with --connect-timeout-ms, a relay that is not there exits 1 with one fatal line naming the address', async () => {
    // A port that was free a moment ago: connections are refused.
    const relay = await startRelay({ port: 0, host: '127.0.0.1', logger: silentLogger });
    const url = relay.url;
    await relay.close();
    const node = startNode(['--relay', url, '--connect-timeout-ms', '500']);
    expect(await node.exited).toBe(1);
    const fatal = node.lines.filter((line) => line.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'unreachable', relay: url });
    expect(fatal[0]!.msg).toContain(`cannot reach the relay at ${url}: connect ECONNREFUSED`);
  });
});
