/**
 * When this node's lease ends, as a time on this process's monotonic clock (`performance.now()`),
 * for a guard outside the process that must act when it ends (`ringleader run`'s watchdog).
 *
 * The machine decides everything about the lease (machines/lease.ts): it arms a timer of one
 * lease (`heartbeatTimeoutMs`) for each ping, numbered `pingSeq`, and a pong moves
 * `confirmedSeq`. This only notes when each of those timers started (the snapshot after the step
 * that armed it, microseconds later) so that the end of the confirmed ping's timer can be read:
 * the moment the machine will step a leader down unless a later round trip is confirmed first.
 */
export class LeaseEnd {
  /** performance.now() when the timer of each ping not yet retired started, by sequence number. */
  private readonly startedAt = new Map<number, number>();
  private lastPingSeq = 0;
  private lastConfirmedSeq = 0;

  constructor(private readonly leaseMs: number) {}

  /**
   * Takes in the machine's lease counters after a step; true when that step confirmed a later
   * round trip (the lease end moved on).
   */
  observe(pingSeq: number, confirmedSeq: number, now: number): boolean {
    if (pingSeq < this.lastPingSeq) {
      // A fresh machine's counters: nothing noted before applies.
      this.startedAt.clear();
      this.lastPingSeq = 0;
      this.lastConfirmedSeq = 0;
    }
    for (let seq = this.lastPingSeq + 1; seq <= pingSeq; seq += 1) this.startedAt.set(seq, now);
    this.lastPingSeq = pingSeq;
    const moved = confirmedSeq > this.lastConfirmedSeq;
    this.lastConfirmedSeq = confirmedSeq;
    if (moved) for (const seq of this.startedAt.keys()) if (seq < confirmedSeq) this.startedAt.delete(seq);
    return moved;
  }

  /** performance.now() at which the confirmed ping's timer fires; null before any round trip was confirmed. */
  endsAt(): number | null {
    const started = this.startedAt.get(this.lastConfirmedSeq);
    return started === undefined ? null : started + this.leaseMs;
  }
}
