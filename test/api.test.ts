/**
 * The embeddable API against a real relay (in process): what a user of `joinRing()` notices.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, RelayUnauthorizedError, type LeaderInfo, type RingNode } from '../index.js';
import { startRelay } from '../relay/server.js';
import { capturingLogger, FAST, silentLogger, TestRing, waitFor } from './nodeKit.js';

/** What one node's callbacks reported, in the order they fired. */
interface Reported {
  events: string[];
  leaders: LeaderInfo[];
  terms: number[];
  /** For each leadership: whether its signal had aborted when onStoppedLeading ran. */
  abortedAtStop: boolean[];
}

function record(node: RingNode): Reported {
  const reported: Reported = { events: [], leaders: [], terms: [], abortedAtStop: [] };
  let signal: AbortSignal | null = null;
  node.onNewLeader((leader) => {
    reported.events.push(`leader ${leader.id}@${leader.term}`);
    reported.leaders.push(leader);
    reported.terms.push(node.term());
  });
  node.onStartedLeading(({ term, signal: current }) => {
    reported.events.push(`started ${term}`);
    reported.terms.push(node.term());
    signal = current;
    // The callback sees the state it announces.
    expect(node.isLeader()).toBe(true);
    expect(node.leader()).toMatchObject({ id: node.id, term });
  });
  node.onStoppedLeading(({ term }) => {
    reported.events.push(`stopped ${term}`);
    reported.abortedAtStop.push(signal?.aborted ?? false);
    expect(node.isLeader()).toBe(false);
  });
  return reported;
}

/** Started and stopped alternate, each stop closing the leadership its start opened. */
function expectAlternating(events: string[]): void {
  const leadership = events.filter((event) => event.startsWith('started') || event.startsWith('stopped'));
  leadership.forEach((event, index) => {
    if (index % 2 === 0) expect(event).toMatch(/^started /);
    else expect(event).toBe(leadership[index - 1]!.replace('started', 'stopped'));
  });
}

/** No change reported twice, and leaders only move forward in (term, rank). */
function expectEachChangeOnce(leaders: LeaderInfo[]): void {
  for (let index = 1; index < leaders.length; index += 1) {
    const before = leaders[index - 1]!;
    const after = leaders[index]!;
    expect(after.term > before.term || (after.term === before.term && after.rank > before.rank)).toBe(true);
  }
}

describe('joinRing against a real relay', () => {
  const ring = new TestRing();
  afterEach(() => ring.cleanUp());

  it('fires each callback exactly once per change, in order, and agrees with the node state', async () => {
    await ring.startRelay();
    const a = await ring.join({ rank: 10 });
    const seenA = record(a);
    await waitFor(() => a.isLeader(), 'a to lead alone');
    const b = await ring.join({ rank: 20 });
    const seenB = record(b);
    const c = await ring.join({ rank: 30 });
    const seenC = record(c);
    const all = [a, b, c];

    // a was alone, so it leads; the later, higher joiners do not depose it (stability).
    expect(await ring.agreement(all)).toBe(a);
    expect(seenA.events).toEqual([`leader ${a.id}@${a.term()}`, `started ${a.term()}`]);

    // A requested election: c, the highest, wins the next term.
    a.startElection();
    await waitFor(() => c.isLeader(), 'c to lead after the requested election');
    const termC = c.term();
    // The resigning leader hands off to b, the highest of the others.
    await c.resign();
    expect(await ring.agreement(all, 'agreement after c resigned')).toBe(b);
    const termB = b.term();
    expect(termB).toBeGreaterThan(termC);

    for (const seen of [seenA, seenB, seenC]) {
      expectEachChangeOnce(seen.leaders);
      expectAlternating(seen.events);
      expect(seen.abortedAtStop.every(Boolean)).toBe(true);
      // Every node saw the same leaders in the same order.
      expect(seen.leaders.map((l) => `${l.id}@${l.term}`)).toEqual(seenA.leaders.map((l) => `${l.id}@${l.term}`));
    }
    expect(seenA.leaders.map((leader) => leader.id)).toEqual([a.id, c.id, b.id]);
    expect(seenC.events.filter((event) => !event.startsWith('leader'))).toEqual([`started ${termC}`, `stopped ${termC}`]);
    expect(seenB.events.filter((event) => !event.startsWith('leader'))).toEqual([`started ${termB}`]);

    // A late subscriber is told the current state at once, once.
    const late: string[] = [];
    b.onNewLeader((leader) => late.push(leader.id));
    b.onStartedLeading(({ term }) => late.push(`started ${term}`));
    expect(late).toEqual([b.id, `started ${termB}`]);
  });

  it('a throwing callback is logged and breaks neither the node nor the other callbacks', async () => {
    await ring.startRelay();
    const a = await ring.join({ rank: 10 });
    await waitFor(() => a.isLeader(), 'a to lead alone');
    const b = await ring.join({ rank: 20 });
    await waitFor(() => a.members().length === 2, 'a to see b join');
    b.onNewLeader(() => {
      throw new Error('user bug');
    });
    b.onStartedLeading(async () => {
      throw new Error('async user bug');
    });
    const seen: string[] = [];
    b.onNewLeader((leader) => seen.push(leader.id));
    await a.resign();
    await waitFor(() => b.isLeader(), 'b to lead after a resigned');
    expect(seen).toEqual([a.id, b.id]);
    await waitFor(() => ring.logs.get(b)!.filter((line) => line.level >= 50).length >= 3, 'three logged callback errors');
    const messages = ring.logs.get(b)!.filter((line) => line.level >= 50).map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['onNewLeader callback failed', 'onStartedLeading callback failed']));
    // Still a working member: it hands leadership back on request.
    await b.resign();
    expect(await ring.agreement([a, b])).toBe(a);
  });

  it('resign() hands off in one lap, well under the leader timeout, and the node stays a member', async () => {
    await ring.startRelay();
    const timing = { ...FAST, leaderTimeoutMs: 5000 };
    const a = await ring.join({ rank: 30, timing });
    await waitFor(() => a.isLeader(), 'a to lead');
    const b = await ring.join({ rank: 20, timing });
    const c = await ring.join({ rank: 10, timing });
    await ring.agreement([a, b, c]);
    let lost: unknown = null;
    a.onStartedLeading(({ signal }) => signal.addEventListener('abort', () => (lost = signal.reason)));

    const startedAt = performance.now();
    const next = await a.resign();
    const handOffMs = performance.now() - startedAt;

    expect(handOffMs).toBeLessThan(timing.leaderTimeoutMs);
    expect(next).toMatchObject({ id: b.id, rank: 20 });
    expect(a.isLeader()).toBe(false);
    expect((lost as Error).name).toBe('LeadershipLostError');
    expect(await ring.agreement([a, b, c])).toBe(b);
    expect(ring.relay!.status().members).toContain(a.id);
    expect(a.members()).toEqual(b.members());
  });

  it('terms seen by every node only grow, and no term ever has two leaders', async () => {
    await ring.startRelay();
    const termsOf = new Map<RingNode, number[]>();
    const leadersOfTerm = new Map<number, Set<string>>();
    const watch = (node: RingNode) => {
      const terms: number[] = [];
      termsOf.set(node, terms);
      node.onNewLeader((leader) => terms.push(leader.term, node.term()));
      node.onStartedLeading(({ term }) => {
        terms.push(term);
        const ids = leadersOfTerm.get(term) ?? new Set();
        leadersOfTerm.set(term, ids.add(node.id));
      });
      node.onStoppedLeading(({ term }) => terms.push(term, node.term()));
      return node;
    };
    const nodes = [watch(await ring.join({ rank: 5 })), watch(await ring.join({ rank: 50 })), watch(await ring.join({ rank: 25 }))];
    await ring.agreement(nodes);

    // Churn: requested elections, a resign, a leader leaving, a newcomer.
    nodes[2]!.startElection();
    await waitFor(() => nodes[1]!.isLeader(), 'the highest to win the requested election');
    await nodes[1]!.resign();
    await ring.agreement(nodes, 'agreement after the resign');
    const leaving = ring.leaders(nodes)[0]!;
    await leaving.leave();
    const rest = nodes.filter((node) => node !== leaving);
    await ring.agreement(rest, 'agreement after the leader left');
    rest.push(watch(await ring.join({ rank: 99 })));
    rest[0]!.startElection();
    await waitFor(() => rest[2]!.isLeader(), 'the newcomer to win the next election');
    await ring.agreement(rest, 'final agreement');

    for (const [, terms] of termsOf) {
      expect(terms.length).toBeGreaterThan(0);
      expect(terms).toEqual([...terms].sort((x, y) => x - y));
    }
    for (const [, ids] of leadersOfTerm) expect(ids.size).toBe(1);
  });

  it('a leader whose relay dies steps down at once: its signal aborts and it stops leading', async () => {
    await ring.startRelay();
    const a = await ring.join({ rank: 10 });
    await waitFor(() => a.isLeader(), 'a to lead alone');
    const b = await ring.join({ rank: 5 });
    await ring.agreement([a, b]);
    const stopped: number[] = [];
    let aborted = false;
    a.onStartedLeading(({ signal }) => signal.addEventListener('abort', () => (aborted = true)));
    a.onStoppedLeading(({ term }) => stopped.push(term));

    await ring.relay!.close();
    await waitFor(() => aborted && stopped.length === 1, "the leader's signal to abort");
    expect(a.isLeader()).toBe(false);
    expect(b.isLeader()).toBe(false);
    // It still remembers who led, for when the relay is back.
    expect(a.leader()).toMatchObject({ id: a.id });
  });

  it('after the relay restarts on the same port, the nodes rejoin with their ids and keep a single leader', async () => {
    const first = await ring.startRelay();
    const nodes = [await ring.join({ rank: 30 }), await ring.join({ rank: 20 }), await ring.join({ rank: 10 })];
    const leaderBefore = await ring.agreement(nodes);
    const ids = nodes.map((node) => node.id);
    const claims: Array<{ id: string; term: number }> = [];
    for (const node of nodes) node.onStartedLeading(({ term }) => claims.push({ id: node.id, term }));

    await first.close();
    await waitFor(() => nodes.every((node) => !node.isLeader()), 'every node to notice the relay is gone');
    await ring.startRelay(first.port);

    const leaderAfter = await ring.agreement(nodes, 'agreement on the restarted relay');
    await waitFor(() => ring.relay!.status().members.length === 3, 'all three to rejoin the new relay');
    expect([...ring.relay!.status().members].sort()).toEqual([...ids].sort());
    expect(nodes.map((node) => node.id)).toEqual(ids);
    expect(leaderAfter.term()).toBeGreaterThanOrEqual(leaderBefore.term());
    // Never two leaders in one term across the whole episode.
    const byTerm = new Map<number, Set<string>>();
    for (const { id, term } of claims) byTerm.set(term, (byTerm.get(term) ?? new Set()).add(id));
    for (const [, holders] of byTerm) expect(holders.size).toBe(1);
  });

  it('leave() hands leadership off, closes the connection, and is idempotent; an aborted signal leaves too', async () => {
    await ring.startRelay();
    const a = await ring.join({ rank: 30 });
    await waitFor(() => a.isLeader(), 'a to lead');
    const controller = new AbortController();
    const b = await ring.join({ rank: 20, signal: controller.signal });
    const c = await ring.join({ rank: 10 });
    await ring.agreement([a, b, c]);

    const handOff = c.leaders();
    await expect(handOff.next()).resolves.toMatchObject({ value: { id: a.id } });
    await Promise.all([a.leave(), a.leave()]);
    await expect(a.closed).resolves.toEqual({ reason: 'left' });
    // b took over from a by hand-off (a new term), not by noticing a vanished leader.
    await expect(handOff.next()).resolves.toMatchObject({ value: { id: b.id } });
    await waitFor(() => !ring.relay!.status().members.includes(a.id), 'a to leave the relay');
    expect(a.isLeader()).toBe(false);

    controller.abort();
    await expect(b.closed).resolves.toEqual({ reason: 'left' });
    await expect(handOff.next()).resolves.toMatchObject({ value: { id: c.id } });
    expect(await ring.agreement([c])).toBe(c);
    // Alone now (once it has heard b leave), c has nobody to hand off to: it just leaves.
    await waitFor(() => c.members().length === 1, 'c to see b leave');
    await c.leave();
    await expect(handOff.next()).resolves.toMatchObject({ done: true });
  });

  it('members that leave at once, the leader among them, are never elected while they leave; the rest agree without a warning', async () => {
    await ring.startRelay();
    const members = [];
    for (const rank of [50, 40, 30, 20, 10]) members.push(await ring.join({ rank }));
    const leader = await ring.agreement(members);
    const leaving = [leader, ...members.filter((node) => node !== leader).slice(0, 2)];
    const staying = members.filter((node) => !leaving.includes(node));
    let leadAfterLeave: string[] = [];
    const asked = new Set<RingNode>();
    for (const node of leaving) node.onStartedLeading(() => asked.has(node) && leadAfterLeave.push(node.id));
    for (const node of leaving) asked.add(node);
    await Promise.all(leaving.map((node) => node.leave()));

    expect(leadAfterLeave).toEqual([]);
    const successor = await ring.agreement(staying, 'the two that stay to agree');
    expect(staying).toContain(successor);
    const warnings = members.flatMap((node) => ring.logs.get(node) ?? []).filter((line) => line.level >= 40);
    expect(warnings.map((line) => line.msg)).toEqual([]);
    leadAfterLeave = [];
  });

  it('a wrong token is a clear, immediate error, not an endless retry', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', token: 'right', logger: silentLogger });
    ring.onCleanUp(() => relay.close());
    const { logger, lines } = capturingLogger();
    const joining = joinRing({ relay: relay.url, token: 'wrong', logger, timing: FAST });
    await expect(joining).rejects.toBeInstanceOf(RelayUnauthorizedError);
    await expect(joining).rejects.toThrow(/RING_TOKEN/);
    expect(lines.filter((line) => line.msg === 'reconnecting')).toEqual([]);

    const node = await joinRing({ relay: relay.url, token: 'right', logger: silentLogger, timing: FAST });
    ring.onCleanUp(() => node.leave());
    expect(node.id).not.toBe('');
  });

  it('rejects bad options with a clear message', async () => {
    await expect(joinRing({ relay: 'http://localhost:8080' })).rejects.toThrow(/ws:\/\/ or wss:\/\//);
    await expect(joinRing({ relay: 'ws://localhost:1', rank: -1 })).rejects.toThrow(/rank must be a non-negative integer/);
  });

  it('an aborted signal stops a join that is still waiting for the relay', async () => {
    // Nothing listens on this port (we just closed it): the node keeps retrying until aborted.
    const relay = await startRelay({ port: 0, host: '127.0.0.1', logger: silentLogger });
    const url = relay.url;
    await relay.close();
    const controller = new AbortController();
    const joining = joinRing({ relay: url, signal: controller.signal, logger: silentLogger, timing: FAST });
    setTimeout(() => controller.abort(new Error('gave up')), 300);
    await expect(joining).rejects.toThrow('gave up');
  });
});
