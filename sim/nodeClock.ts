/**
 * A process's clock: xstate's SimulatedClock, told about the simulator's time.
 *
 * Each process has its own, so that a frozen node's timers can stand still while the rest of the
 * ring moves on: the simulator only brings a clock up to date (`sync`, which fires every due
 * timer in due order) when the process runs. A clock may run at its own `rate` (1.01 = 1% fast):
 * a timer of `d` ms fires after `d / rate` ms of simulated time, which is how the simulator
 * checks what clock-rate differences the lease tolerates. Every timer the machine sets also books
 * a wake-up on the simulator's agenda, so timers fire on time without the simulator scanning
 * every clock.
 */
import { SimulatedClock } from 'xstate';
import type { Scheduler } from './scheduler.js';

export class ProcessClock extends SimulatedClock {
  private readonly startedAt: number;
  /** The timers set and not yet fired or cleared, as SimulatedClock judges them due. */
  private readonly timers = new Map<number, { start: number; timeout: number }>();
  /** A reading not yet handed to SimulatedClock: nothing was due by it, so its flush was skipped. */
  private ahead = 0;

  constructor(
    private readonly scheduler: Scheduler,
    readonly rate: number,
    private readonly wake: (at: number) => void,
  ) {
    super();
    this.startedAt = scheduler.now;
    this.set(this.localAt(scheduler.now));
  }

  /** This clock's reading at simulated time `at`. */
  localAt(at: number): number {
    return this.startedAt + (at - this.startedAt) * this.rate;
  }

  override now(): number {
    return Math.max(super.now(), this.ahead);
  }

  /**
   * Brings the clock up to the simulator's time, firing every timer that fell due meanwhile.
   * It runs before everything a process does; SimulatedClock sorts all its timers on every
   * `set`, so a reading by which no timer is due is only noted (`now()` returns it).
   */
  sync(): void {
    const local = this.localAt(this.scheduler.now);
    if (local <= this.now()) return;
    for (const timer of this.timers.values()) {
      if (local - timer.start >= timer.timeout) {
        this.set(local);
        return;
      }
    }
    this.ahead = local;
  }

  override setTimeout(fn: (...args: any[]) => void, timeout: number): number {
    const start = this.now();
    const id = super.setTimeout((...args: unknown[]) => {
      this.timers.delete(id);
      fn(...args);
    }, timeout);
    this.timers.set(id, { start, timeout });
    // When this clock reaches the timer's due time, plus a nanosecond so rounding never wakes it short.
    const due = start + timeout;
    this.wake(this.startedAt + (due - this.startedAt) / this.rate + 1e-6);
    return id;
  }

  override clearTimeout(id: number): void {
    this.timers.delete(id);
    super.clearTimeout(id);
  }
}
