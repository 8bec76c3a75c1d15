/**
 * A per-connection token bucket: `rate` frames per second on average, `burst` at once.
 *
 * Rejected frames still cost a token, so the balance of a client that keeps sending above the
 * rate sinks below zero; once it is a whole burst in debt the client is a persistent flooder
 * and the relay closes it. A client that backs off refills and is served again.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  static perSecond(rate: number, burst: number, now: number): TokenBucket {
    return new TokenBucket(rate / 1000, burst, now);
  }

  /** Spends one token; true when the frame is within the limit. */
  take(now: number): boolean {
    const refilled = this.tokens + (now - this.last) * this.ratePerMs;
    this.tokens = (refilled > this.burst ? this.burst : refilled) - 1;
    this.last = now;
    return this.tokens >= 0;
  }

  /** True once the client has sent a whole burst more than it was allowed without backing off. */
  get exhausted(): boolean {
    return this.tokens < -this.burst;
  }
}
