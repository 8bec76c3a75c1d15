/**
 * The simulated network: every socket is a pair of links (node to relay, relay to node), each a
 * FIFO with a random delay per frame. Links can lose everything for a while (one-way loss), add
 * a delay spike, or break (the socket is gone: what is in flight is lost).
 */
import type { Rng } from './rng.js';
import type { Scheduler } from './scheduler.js';

export interface DelayRange {
  min: number;
  max: number;
}

export class Network {
  /** Frames lost to faults: in flight on a broken link, or sent into a lossy one. */
  lost = 0;

  constructor(
    readonly scheduler: Scheduler,
    private readonly rng: Rng,
    readonly delay: DelayRange,
  ) {}

  /** One link's delay for one frame. */
  linkDelay(): number {
    return this.rng.int(this.delay.min, this.delay.max);
  }

  link(): Link {
    return new Link(this);
  }
}

export class Link {
  /** Arrival time of the last frame sent: frames never overtake each other. */
  private tail: number;
  /** Frames sent before this time vanish (one-way loss). */
  lossUntil = Number.NEGATIVE_INFINITY;
  /** Frames sent before `until` take `extraMs` longer (a delay spike). */
  spike = { until: Number.NEGATIVE_INFINITY, extraMs: 0 };
  /** The socket is gone: nothing more arrives. */
  broken = false;

  constructor(private readonly network: Network) {
    this.tail = network.scheduler.now;
  }

  /** When a frame sent now would arrive (and books that slot). */
  arrival(): number {
    const now = this.network.scheduler.now;
    const extra = now < this.spike.until ? this.spike.extraMs : 0;
    this.tail = Math.max(this.tail, now + this.network.linkDelay() + extra);
    return this.tail;
  }

  /** Sends one frame: `arrive` runs when it gets there; `lost` runs instead if the link loses it. */
  send(arrive: () => void, lost?: () => void): void {
    if (this.broken || this.network.scheduler.now < this.lossUntil) {
      this.network.lost += 1;
      lost?.();
      return;
    }
    this.network.scheduler.at(this.arrival(), () => {
      if (this.broken) {
        this.network.lost += 1;
        lost?.();
        return;
      }
      arrive();
    });
  }
}

/** A socket between one node process and the relay. */
export interface Socket {
  readonly serial: number;
  /** Node to relay. */
  readonly up: Link;
  /** Relay to node. */
  readonly down: Link;
}
