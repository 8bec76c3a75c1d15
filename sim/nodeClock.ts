/**
 * A node's clock: xstate's SimulatedClock, told about the simulator's time.
 *
 * Each node has its own, so that a frozen node's timers can stand still while the rest of the
 * ring moves on: the simulator only advances a clock (`set(now)`, which fires every due timer in
 * due order) when the node is running. Every timer the machine sets also books a wake-up on the
 * simulator's agenda, so timers fire on time without the simulator scanning every clock.
 */
import { SimulatedClock } from 'xstate';

export class NodeClock extends SimulatedClock {
  constructor(private readonly wakeAt: (at: number) => void) {
    super();
  }

  override setTimeout(fn: (...args: any[]) => void, timeout: number): number {
    const id = super.setTimeout(fn, timeout);
    this.wakeAt(this.now() + timeout);
    return id;
  }
}
