/**
 * How many info lines one member's frames may make the relay write. `election started` and
 * `leader announced` are one line each by design, and an honest member causes a handful per
 * failover; a member that sends valid election or announcement frames as fast as the rate limit
 * lets it would otherwise write a line per frame. Past the budget the lines are counted
 * (`ringleader_relay_log_lines_suppressed_total`, `linesSuppressed` on the member's `leave` line),
 * not written; the ring's metrics still count every election and leader change.
 */
import { performance } from 'node:perf_hooks';
import { TokenBucket } from './rateLimiter.js';

/** Lines a member may cause at once: a ring's worth of failovers in a burst. */
export const LINE_BURST = 30;
/** Lines a member may cause per second on average once the burst is spent. */
export const LINES_PER_SECOND = 1;

export class LineBudget {
  private readonly bucket = TokenBucket.perSecond(LINES_PER_SECOND, LINE_BURST, performance.now());
  /** Lines counted instead of written. */
  suppressed = 0;
  /** Inside a run of suppressed lines: the one line saying so was written. */
  private quiet = false;

  /**
   * Spends one line: `write` when within the budget, `announce-quiet` for the first line over it
   * (write one warning saying so instead), `count` after that, until the budget refills.
   */
  spend(): 'write' | 'announce-quiet' | 'count' {
    if (this.bucket.take(performance.now())) {
      this.quiet = false;
      return 'write';
    }
    this.suppressed += 1;
    if (this.quiet) return 'count';
    this.quiet = true;
    return 'announce-quiet';
  }
}
