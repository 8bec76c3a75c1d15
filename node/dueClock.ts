/**
 * The node machine's clock: real timers, plus `runDue()`, which fires at once every timer whose
 * time has come but whose callback has not run yet (the event loop was busy).
 *
 * `isLeader()` runs it before it reads the machine, so that after a long synchronous stretch of
 * user code a lease that has run out has already ended when the answer is given: the machine
 * decides, and it decides on time.
 */
import { performance } from 'node:perf_hooks';

interface Pending {
  fn: () => void;
  dueAt: number;
  handle: NodeJS.Timeout;
}

export class DueClock {
  private readonly pending = new Map<number, Pending>();
  private counter = 0;

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id = ++this.counter;
    const handle = setTimeout(() => {
      this.pending.delete(id);
      fn();
    }, timeout);
    this.pending.set(id, { fn, dueAt: performance.now() + timeout, handle });
    return id;
  }

  clearTimeout(id: unknown): void {
    const timer = this.pending.get(id as number);
    if (timer === undefined) return;
    clearTimeout(timer.handle);
    this.pending.delete(id as number);
  }

  /** Fires every overdue timer now, in the order they fell due. */
  runDue(): void {
    // Called before every fact from the relay: nothing is allocated unless a timer is overdue.
    if (this.pending.size === 0) return;
    const now = performance.now();
    let due: Array<[number, Pending]> | null = null;
    for (const entry of this.pending) if (entry[1].dueAt <= now) (due ??= []).push(entry);
    if (due === null) return;
    due.sort((a, b) => a[1].dueAt - b[1].dueAt);
    for (const [id, timer] of due) {
      if (!this.pending.delete(id)) continue;
      clearTimeout(timer.handle);
      timer.fn();
    }
  }
}
