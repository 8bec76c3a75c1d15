/**
 * The lease end a node reports to `ringleader run`'s watchdog (`leaseOf`, node/leaseEnd.ts) is the
 * moment the node itself steps down when no later round trip is confirmed: the watchdog kills
 * the command then, so a later time would let it outlive the lease, an earlier one kill it while
 * the node still leads.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { leaseOf } from '../node/joinRing.js';
import { TestRing, waitFor } from './nodeKit.js';

/** Holds the event loop until `time` (performance.now()): no pong can be read meanwhile, as in a freeze. */
function holdUntil(time: number): void {
  while (performance.now() < time) {
    // busy: the point is that nothing else runs
  }
}

describe('leaseOf', () => {
  const ring = new TestRing();
  afterEach(() => ring.cleanUp());

  it('reports, while the node leads, the end of its lease: it leads until just before, not after; null once it does not lead', async () => {
    await ring.startRelay();
    const node = await ring.join();
    await node.campaign();
    const lease = leaseOf(node);
    // A renewal, so that the end is one counted from a heartbeat's ping.
    await new Promise<void>((resolve) => {
      const off = lease.onConfirmed(() => {
        off();
        resolve();
      });
    });
    const end = lease.endsAt()!;
    expect(end).toBeGreaterThan(performance.now());
    expect(end).toBeLessThanOrEqual(performance.now() + lease.lengthMs);

    holdUntil(end - 50);
    expect(node.isLeader(), 'before the end it reported, the node still leads').toBe(true);
    holdUntil(end + 1);
    expect(node.isLeader(), 'past it, the node has stepped down').toBe(false);
    expect(lease.endsAt()).toBeNull();
    // It comes back and leads again, with a lease end of its own.
    await waitFor(() => node.isLeader() && lease.endsAt() !== null, 'the node to lead again');
  });
});
