/**
 * How often a program hears of a new leader: `onNewLeader` (and the node's "leader changed" log
 * line) exactly once per change, with the leader's metadata, on every node, the one that completed
 * the lap included (it knows the winner's id and rank from the frame, its metadata only from the
 * relay). Issue 21, finding 5: that node used to hear of each leader twice, first without meta.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LeaderInfo, RingNode } from '../index.js';
import { FAST, killChild, repoRoot, spawnWithLines, TestRing, waitFor, type ChildWithLines, type LogLine } from './nodeKit.js';
import { requireBuiltCli } from './sidecarKit.js';

const cli = join(repoRoot, 'dist', 'cli', 'ringleader.js');
const FAST_ENV = {
  CHECK_INTERVAL_MS: String(FAST.checkIntervalMs),
  LEADER_TIMEOUT_MS: String(FAST.leaderTimeoutMs),
  ELECTION_TIMEOUT_MS: String(FAST.electionTimeoutMs),
  LOG_LEVEL: 'info',
};
const urlOf = (name: string) => `http://${name}.example:8080`;

/** Each (leader, term) a node was told of, in order, and how many times. */
function tally(reports: Array<{ id: string; term: number }>): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const { id, term } of reports) counts.set(`${id}/${term}`, (counts.get(`${id}/${term}`) ?? 0) + 1);
  return [...counts];
}

describe('a new leader is reported once, with its metadata', () => {
  const ring = new TestRing();
  const children: ChildWithLines[] = [];
  const startNode = (args: string[]) => {
    const child = spawnWithLines([cli, 'node', '--relay', ring.url, ...args], FAST_ENV);
    children.push(child);
    return child;
  };
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killChild));
    await ring.cleanUp();
  });

  it('onNewLeader fires once per election on every member, with meta: at start, on request and after the leader dies', async () => {
    await ring.startRelay();
    const told = new Map<RingNode, LeaderInfo[]>();
    const member = async (name: string, rank: number) => {
      const node = await ring.join({ rank, meta: { url: urlOf(name) } });
      told.set(node, []);
      node.onNewLeader((leader) => told.get(node)!.push(leader));
      return node;
    };
    // a leads alone first (its own lap: it is the node that completes it, and the winner).
    const a = await member('a', 10);
    await waitFor(() => a.isLeader(), 'a to lead alone');
    const b = await member('b', 20);
    await waitFor(() => b.leader()?.id === a.id, 'b to follow a');
    // c, a process of its own so that it can be killed, outranks both.
    const c = startNode(['--rank', '30', '--meta', `url=${urlOf('c')}`]);
    const cId = (await c.line((line) => line.msg === 'node joined', 'c to join')).clientId as string;
    // b asks for an election: b completes the lap, c wins it.
    b.startElection();
    await waitFor(() => [a, b].every((node) => node.leader()?.id === cId), 'a and b to follow c');
    // c dies: its successor a starts the election and completes it; b wins.
    c.child.kill('SIGKILL');
    await waitFor(() => b.isLeader() && a.leader()?.id === b.id, 'b to lead after c died');

    const names = new Map([[a.id, 'a'], [b.id, 'b'], [cId, 'c']]);
    for (const node of [a, b]) {
      await waitFor(() => told.get(node)!.at(-1)?.id === b.id || undefined, `${names.get(node.id)} to be told b leads`);
      const reports = told.get(node)!;
      expect(tally(reports).filter(([, count]) => count > 1), `${names.get(node.id)} was told a leader twice`).toEqual([]);
      expect(reports.map((leader) => names.get(leader.id))).toEqual(['a', 'c', 'b']);
      for (const leader of reports) expect(leader.meta).toEqual({ url: urlOf(names.get(leader.id)!) });
    }
  });

  it('`node --meta` logs "leader changed" once per election, on every process', async () => {
    await ring.startRelay();
    const changes = (node: ChildWithLines): LogLine[] => node.lines.filter((line) => line.msg === 'leader changed');
    const nodes: ChildWithLines[] = [];
    const ids: string[] = [];
    // The rank-10 node leads alone first (its own lap); the others join and follow it.
    for (const rank of [10, 20, 30]) {
      const node = startNode(['--rank', String(rank), '--meta', `url=${urlOf(`r${rank}`)}`]);
      ids.push((await node.line((line) => line.msg === 'node joined', `the rank-${rank} node to join`)).clientId as string);
      nodes.push(node);
      await waitFor(() => changes(node).at(-1)?.leaderId === ids[0] || undefined, `the rank-${rank} node to log the rank-10 leader`);
    }
    // An election on request, started (and so completed) by the rank-10 node: rank 30 wins it.
    nodes[0]!.child.kill('SIGUSR2');
    await waitFor(() => nodes.every((node) => changes(node).at(-1)?.leaderId === ids[2]) || undefined, 'every node to log the rank-30 leader');
    // The leader dies; the rank-20 node wins the next election.
    nodes[2]!.child.kill('SIGKILL');
    const survivors = nodes.slice(0, 2);
    await waitFor(() => survivors.every((node) => changes(node).at(-1)?.leaderId === ids[1]) || undefined, 'the survivors to log the rank-20 leader');

    for (const node of survivors) {
      const reported = changes(node).map((line) => ({ id: line.leaderId as string, term: line.term as number }));
      expect(tally(reported).filter(([, count]) => count > 1), `"leader changed" repeated: ${JSON.stringify(reported)}`).toEqual([]);
      expect(reported.length).toBeGreaterThanOrEqual(3);
    }
  });
});
