/**
 * End to end, with real processes: a ring of nodes agrees on one leader, the highest of the
 * election that chose it; a crashed leader is replaced by the next highest as soon as the relay
 * sees its socket close; a higher-ranked joiner does not depose a healthy leader.
 * (`npm run build` first: the processes run dist/cli/ringleader.js.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEADLINE_MS, TIMING, describeViews, doubleClaims, leaderNode, recordsWithMessage, startRing, stopRings, waitForAgreement } from './e2eHarness.js';
import { waitFor } from '../runtime/waitFor.js';

afterEach(stopRings);

describe('ringleader relay + node processes', () => {
  it('five nodes agree on one leader, the highest rank of the election that chose it', async () => {
    // Join order is not rank order: the first node elects itself while alone, and later,
    // higher-ranked joiners keep it (stability) until an election that includes them all.
    // (Which node leads before that depends on how start-up went; it is not asserted here.)
    const ring = await startRing({ ranks: [30, 50, 10, 40, 20] });
    const first = await waitForAgreement(ring, (a) => a.nodes.length === 5);

    // Ask the lowest-ranked node to start an election: the lap visits all five.
    const lowest = ring.nodes.find((node) => node.rank === 10)!;
    await ring.startElection(lowest.clientId!);
    const agreed = await waitForAgreement(ring, (a) => a.leader.term > first.leader.term && a.nodes.length === 5, 'a new term');

    const highest = ring.nodes.find((node) => node.rank === 50)!;
    expect(agreed.leader).toMatchObject({ id: highest.clientId, rank: 50 });
    // Every node's own log names the same leader and term.
    for (const node of ring.nodes) expect(node.leader).toEqual(agreed.leader);
    // The relay agrees, and lists all five in its ring.
    const relayView = await waitFor(
      async () => {
        const view = await ring.relayStatus();
        return view.leader?.term === agreed.leader.term ? view : undefined;
      },
      'the relay to report the agreed leader',
      DEADLINE_MS,
    );
    expect(relayView.leader).toEqual(agreed.leader);
    expect([...relayView.members].sort()).toEqual(ring.nodes.map((node) => node.clientId).sort());
    // The node that closed the lap saw every rank in it and says the winner topped them all.
    const closing = ring.nodes.flatMap((node) => recordsWithMessage(node, 'leader changed')).filter((r) => r.term === agreed.leader.term && r.highestOfElection !== undefined);
    expect(closing.length).toBeGreaterThan(0);
    for (const record of closing) expect(record).toMatchObject({ highestOfElection: true, eligibleCount: 5 });
    expect(doubleClaims(ring)).toEqual([]);
  });

  it('SIGKILL of the leader: the others agree on the next highest, detected by the relay, not by a timeout', async () => {
    // A leader timeout far beyond the deadline: only the relay seeing the socket close can
    // explain a failover within it.
    const ring = await startRing({ ranks: [50, 40, 30, 20, 10], env: { LEADER_TIMEOUT_MS: '120000' } });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 5);
    expect(before.leader.rank).toBe(50);

    const killedAt = Date.now();
    await ring.crash(before.leader.id);
    const after = await waitForAgreement(ring, (a) => a.leader.term > before.leader.term && a.nodes.length === 4, 'the next leader');
    const failoverMs = Date.now() - killedAt;

    expect(after.leader.rank).toBe(40);
    expect(failoverMs).toBeLessThan(DEADLINE_MS);
    const reasons = ring.nodes.flatMap((node) => recordsWithMessage(node, 'election started')).filter((r) => r.term === after.leader.term);
    expect(reasons.map((r) => r.reason)).toContain('leaderLeft');
    expect(reasons.map((r) => r.reason)).not.toContain('leaderTimeout');
    expect(doubleClaims(ring)).toEqual([]);
    console.info(`SIGKILL failover with 5 processes: ${failoverMs} ms`);
  });

  it('a higher-ranked node that joins does not depose a healthy leader', async () => {
    const ring = await startRing({ ranks: [30, 20, 10] });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 3);

    const joiner = await ring.startNode({ rank: 99 });
    const withJoiner = await waitForAgreement(ring, (a) => a.nodes.length === 4, 'the joiner to learn the leader');
    expect(withJoiner.leader).toEqual(before.leader);
    expect(joiner.leader).toEqual(before.leader);

    // Many check rounds and two leader timeouts later, still the same leader and term.
    const checkRoundsMs = 2 * (TIMING.checkIntervalMs + TIMING.leaderTimeoutMs);
    await new Promise((resolve) => setTimeout(resolve, checkRoundsMs));
    expect(ring.agreement()?.leader, describeViews(ring)).toEqual(before.leader);
    expect(recordsWithMessage(joiner, 'election started')).toEqual([]);
    expect(recordsWithMessage(leaderNode(ring, before.leader), 'leadership lost')).toEqual([]);
  });
});
