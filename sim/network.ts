/**
 * The simulated network: every socket is a pair of links (node to relay, relay to node), each a
 * FIFO with a random delay per frame. Links fail as TCP connections do: one can stall for a while
 * (the path loses packets: TCP retransmits, so the frames are held and then delivered, in order,
 * none lost), add a delay spike, or break (the socket is gone: what is in flight is lost, and both
 * ends find out: sim/nodeHost.ts). A live link never loses one frame and delivers a later one.
 */
import type { Rng } from './rng.js';
import type { Scheduler } from './scheduler.js';

export interface DelayRange {
  min: number;
  max: number;
}

export class Network {
  /** Frames lost to faults: in flight on a broken link (sent on one, or held by one that broke). */
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

/** A frame on its way: what happens when it arrives, or when a fault loses it. */
interface InFlight {
  arrive: () => void;
  lost: (() => void) | undefined;
}

/**
 * One direction of a socket.
 *
 * Frames that reach the far end at the same instant are one read there: they arrive in one step
 * of the scheduler, in the order sent, with nothing from another link in between. That is what
 * lets the node host hand the joins of one read to its machine as one event, as
 * node/relayConnection.ts does with what one socket read brings (sim/nodeHost.ts). Frames share
 * an instant the way bytes share a receive buffer: a frame is never delivered before the one
 * sent ahead of it, so those queued behind a slow one arrive with it.
 */
export class Link {
  /** Arrival time of the last frame sent: frames never overtake each other. */
  private tail: number;
  /** The read booked at `tail` that has not happened yet: a frame due then joins it. */
  private read: InFlight[] | null = null;
  /** While stalled: when the stall ends, and the frames sent meanwhile, held in order until then. */
  private stall: { until: number; held: InFlight[] } | null = null;
  /** Frames sent before `until` take `extraMs` longer (a delay spike). */
  spike = { until: Number.NEGATIVE_INFINITY, extraMs: 0 };
  /** The socket is gone: nothing more arrives (`cut()`). */
  private broken = false;

  constructor(private readonly network: Network) {
    this.tail = network.scheduler.now;
  }

  /** When a frame sent now would arrive (and books that slot). */
  private arrival(): number {
    const now = this.network.scheduler.now;
    const extra = now < this.spike.until ? this.spike.extraMs : 0;
    this.tail = Math.max(this.tail, now + this.network.linkDelay() + extra);
    return this.tail;
  }

  /**
   * The path loses everything for `durationMs` (it heals on its own then, or at `release()`):
   * frames sent meanwhile are held and set out, in order, when it heals, as TCP retransmits
   * them. Frames already on their way arrive as booked (they got through before it stalled).
   */
  stallFor(durationMs: number): void {
    const until = this.network.scheduler.now + durationMs;
    if (this.stall !== null) {
      this.stall.until = Math.max(this.stall.until, until);
      return;
    }
    const stall = { until, held: [] as InFlight[] };
    this.stall = stall;
    const heal = () => {
      if (this.stall !== stall) return;
      if (this.network.scheduler.now < stall.until) this.network.scheduler.at(stall.until, heal);
      else this.release();
    };
    this.network.scheduler.at(until, heal);
  }

  /** The socket is gone: frames on their way and held ones are lost, and nothing sent later arrives. */
  cut(): void {
    this.broken = true;
    this.release();
  }

  /** Whether the socket is gone. */
  get isBroken(): boolean {
    return this.broken;
  }

  /** Whether frames sent now are held. */
  get stalled(): boolean {
    return this.stall !== null;
  }

  /** The stall ends now: what it held sets out, in the order sent, each with a link delay. */
  release(): void {
    const stall = this.stall;
    if (stall === null) return;
    this.stall = null;
    for (const frame of stall.held) this.send(frame.arrive, frame.lost);
  }

  /** Sends one frame: `arrive` runs when it gets there; `lost` runs instead if the link breaks first. */
  send(arrive: () => void, lost?: () => void): void {
    if (this.broken) {
      this.network.lost += 1;
      lost?.();
      return;
    }
    if (this.stall !== null) {
      this.stall.held.push({ arrive, lost });
      return;
    }
    const booked = this.tail;
    const at = this.arrival();
    if (this.read !== null && at === booked) {
      this.read.push({ arrive, lost });
      return;
    }
    const read: InFlight[] = [{ arrive, lost }];
    this.read = read;
    this.network.scheduler.at(at, () => {
      if (this.read === read) this.read = null;
      for (const frame of read) {
        if (this.broken) {
          this.network.lost += 1;
          frame.lost?.();
        } else frame.arrive();
      }
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
