/**
 * End to end, with real processes: a frozen leader (SIGSTOP: socket open, no progress) is
 * replaced within about the leader timeout and steps down when it wakes; a relay crash and
 * restart leaves the ring with one agreed leader again. Never two leaders in one term.
 * (`npm run build` first: the processes run dist/cli/ringleader.js.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nodeJoined } from '../cli/logRecords.js';
import type { SupervisedChild } from '../cli/supervisor.js';
import { DEADLINE_MS, TIMING, closingVerdicts, describeViews, doubleClaims, recordsWithMessage, startRing, stopRings, waitForAgreement } from './e2eHarness.js';
import { waitFor } from '../runtime/waitFor.js';

afterEach(stopRings);

describe('ringleader relay + node processes under failures', () => {
  it('SIGSTOP of the leader: the others elect a new one; SIGCONT: it learns the new term and steps down', async () => {
    const ring = await startRing({ ranks: [50, 40, 30, 20, 10] });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 5);
    const frozen = ring.node(before.leader.id)!;
    expect(frozen.rank).toBe(50);

    const frozenAt = Date.now();
    await ring.freeze(frozen.clientId!);
    const during = await waitForAgreement(ring, (a) => a.leader.term > before.leader.term && a.nodes.length === 4, 'a leader among the unfrozen');
    const failoverMs = Date.now() - frozenAt;
    expect(during.leader.rank).toBe(40);
    console.info(`SIGSTOP failover with 5 processes, LEADER_TIMEOUT_MS=${TIMING.leaderTimeoutMs}: ${failoverMs} ms`);

    await ring.unfreeze(frozen.clientId!);
    // Woken, it follows the leader of the newer term and has said it lost leadership.
    await ring.waitFor(() => frozen.leader !== null && frozen.leader.term >= during.leader.term && frozen.leader.id !== frozen.clientId, {
      timeoutMs: DEADLINE_MS,
      what: `the woken node to follow the new leader (${describeViews(ring)})`,
    });
    await ring.waitFor(() => recordsWithMessage(frozen, 'leadership lost').length > 0, { timeoutMs: DEADLINE_MS, what: 'the woken node to log "leadership lost"' });
    const after = await waitForAgreement(ring, (a) => a.nodes.length === 5, 'all five, the woken one included');
    expect(after.leader.id).not.toBe(frozen.clientId);
    expect(after.leader.term).toBeGreaterThanOrEqual(during.leader.term);
    expect(doubleClaims(ring)).toEqual([]);
  });

  it('kill and restart the relay: the nodes reconnect and agree on one leader again', async () => {
    const ring = await startRing({ ranks: [50, 40, 30, 20, 10] });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 5);
    const joins = (node: SupervisedChild) => node.records.filter((record) => nodeJoined(record) !== null).length;
    const joinsBefore = ring.nodes.map(joins);

    await ring.restartRelay();

    // Each node joins the new relay (its "node rejoined" line) and the ring agrees.
    await ring.waitFor(() => ring.nodes.every((node, index) => joins(node) > joinsBefore[index]!), {
      timeoutMs: DEADLINE_MS,
      what: 'every node to rejoin the restarted relay',
    });
    const after = await waitForAgreement(ring, (a) => a.nodes.length === 5);
    expect(after.leader.term).toBeGreaterThanOrEqual(before.leader.term);
    // Whoever leads now was the highest of the election that chose it (the first node back on
    // the new relay may find itself alone and elect itself: stability, not a demotion). A new
    // term was chosen by a lap some node here closed, so its verdict must be on record.
    const verdicts = closingVerdicts(ring, after.leader.term);
    if (after.leader.term > before.leader.term) expect(verdicts, describeViews(ring)).not.toEqual([]);
    expect(verdicts).not.toContain(false);
    // The new relay process sees all five members again.
    const status = await waitFor(
      async () => {
        const view = await ring.relayStatus();
        return view.members.length === 5 ? view : undefined;
      },
      'the relay to list the five nodes',
      DEADLINE_MS,
    );
    expect([...status.members].sort()).toEqual(ring.nodes.map((node) => node.clientId).sort());
    expect(doubleClaims(ring)).toEqual([]);
  });
});
