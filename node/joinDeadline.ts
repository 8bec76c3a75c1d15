/**
 * The first join's deadline (`connectTimeoutMs`), for members and observers alike: it remembers
 * what the failed attempts ran into, so that when it gives up the error says what went wrong.
 */
import { connectionError, noWelcomeYet, type FailedAttempt, type RelayConnectionError } from './connectFailure.js';

/** How long `joinRing()` and `observeRing()` wait for the relay's welcome, by default, before they give up. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export class JoinDeadline {
  private lastFailure: FailedAttempt | null = null;
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly relay: string,
    private readonly tokenGiven: boolean,
  ) {}

  /** Starts the clock (0 or Infinity: no deadline); `giveUp` gets the error that says why. */
  start(waitMs: number, giveUp: (error: RelayConnectionError) => void): void {
    if (!(waitMs > 0 && Number.isFinite(waitMs))) return;
    this.timer = setTimeout(() => {
      if (this.done) return;
      this.done = true;
      giveUp(this.error(waitMs));
    }, waitMs);
  }

  /** One attempt failed (ignored once welcomed). */
  attemptFailed(failure: FailedAttempt): void {
    if (this.done) return;
    this.lastFailure = failure;
    this.attempts += 1;
  }

  /** Welcomed, or gone: the deadline no longer applies. */
  settle(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  private error(waitedMs: number): RelayConnectionError {
    return this.lastFailure
      ? connectionError(this.lastFailure, this.lastFailure.relay ?? this.relay, { tokenGiven: this.tokenGiven, waited: { ms: waitedMs, attempts: this.attempts } })
      : noWelcomeYet(this.relay, waitedMs);
  }
}
