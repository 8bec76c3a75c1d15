/**
 * Reconnect delays: exponential, capped, with "equal jitter" (half fixed, half random) so a
 * restarted relay is not hit by every node in the same millisecond, yet no node waits much
 * less than the backoff intends.
 */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialDelayMs: number;
  /** Upper bound of any delay. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 5000 };

/** The delay before retry number `attempt` (1, 2, ...); `random` is uniform in [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
