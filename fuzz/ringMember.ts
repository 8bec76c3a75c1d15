/**
 * A fuzz connection to the relay. It joins as a ring member (so it is one: a buggy member, which
 * is the point), learns what members learn, and behaves in one of four ways, drawn when it
 * connects:
 *
 * - `paced`: sends shots below the relay's rate limit, then leaves after a while (churn);
 * - `flooder`: sends as fast as its socket takes them, past the rate limit, until the relay closes
 *   it (4029) or it has sent a few bursts' worth;
 * - `silent`: reads everything and sends nothing, holding every election frame handed to it;
 * - `stalled`: stops reading altogether (pings go unanswered, frames pile up at the relay).
 *
 * Silent and stalled members send nothing and stay a few seconds; the others stop when the
 * run's budget is spent.
 */
import type { Rng } from '../sim/rng.js';
import type { Budget } from './budget.js';
import { FuzzSocket, type SocketTallies } from './fuzzSocket.js';
import { RingKnowledge } from './ringKnowledge.js';
import { isHeavy, ringShot, type RingFamily } from './ringFrames.js';
import type { Tally } from './tally.js';

export const MEMBER_BEHAVIOURS = ['paced', 'flooder', 'silent', 'stalled'] as const;
export type MemberBehaviour = (typeof MEMBER_BEHAVIOURS)[number];

export interface RingMemberTallies extends SocketTallies {
  /** `error` frames the relay sent back, by code. */
  errors: Tally;
}

export interface RingMemberOptions {
  url: string;
  rng: Rng;
  behaviour: MemberBehaviour;
  /** Frames per second a paced member sends (below the relay's limit). */
  ratePerSecond: number;
  maxPayloadBytes: number;
  /** The relay's burst allowance: a flooder sends a few bursts' worth, then leaves if still connected. */
  rateBurst: number;
  tallies: RingMemberTallies;
}

/** Frames a flooder pushes per tick: a burst's worth within a few ticks. */
const FLOOD_PER_TICK = 1000;

export class RingMember {
  readonly behaviour: MemberBehaviour;
  private readonly socket: FuzzSocket;
  private readonly knowledge = new RingKnowledge();
  private readonly rng: Rng;
  private readonly options: RingMemberOptions;
  /** Shots left before a paced member leaves; when a quiet one leaves (ms since start). */
  private shotsLeft: number;
  private readonly quietUntil: number;
  private credit = 0;
  private readonly startedAt = Date.now();

  constructor(options: RingMemberOptions) {
    this.options = options;
    this.rng = options.rng;
    this.behaviour = options.behaviour;
    this.shotsLeft = this.behaviour === 'flooder' ? this.rng.int(4, 5) * options.rateBurst : this.rng.int(20, 3000);
    this.quietUntil = this.startedAt + this.rng.int(1000, 8000);
    this.socket = new FuzzSocket(options.url, options.tallies, 'relay');
    this.socket.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      // Error frames are small; everything else teaches this member about the ring.
      if (text.startsWith('{"type":"error"')) {
        const code = /"code":"([a-z_]+)"/.exec(text)?.[1] ?? 'unreadable';
        options.tallies.errors.add(code);
        return;
      }
      this.knowledge.learn(text);
    });
    if (this.behaviour === 'stalled') this.socket.ws.once('open', () => this.socket.stall());
  }

  get closed(): Promise<number> {
    return this.socket.closed;
  }

  get isClosed(): boolean {
    return this.socket.isClosed;
  }

  /** One tick of `elapsedMs`: sends what this member's behaviour and the budget allow. */
  tick(elapsedMs: number, budget: Budget): void {
    if (this.socket.isClosed) return;
    if (this.behaviour === 'silent' || this.behaviour === 'stalled') {
      if (Date.now() >= this.quietUntil) this.socket.close();
      return;
    }
    if (!this.socket.isOpen || this.knowledge.self === null) return;
    if (budget.exhausted || this.shotsLeft <= 0) {
      this.socket.close();
      return;
    }
    let wanted: number;
    if (this.behaviour === 'flooder') wanted = Math.min(FLOOD_PER_TICK, this.shotsLeft);
    else {
      this.credit += (this.options.ratePerSecond * elapsedMs) / 1000;
      wanted = Math.min(Math.floor(this.credit), this.shotsLeft);
      this.credit -= wanted;
    }
    const granted = budget.take(wanted);
    let sent = 0;
    for (; sent < granted && this.socket.ready; sent += 1) {
      const shot = ringShot(this.rng, this.family(), {
        knowledge: this.knowledge,
        maxPayloadBytes: this.options.maxPayloadBytes,
        heavyAllowed: budget.heavyAllowed,
        // A flooder is there to be thrown out for its rate (4029), not for a bad byte.
        closingAllowed: this.behaviour !== 'flooder',
      });
      if (isHeavy(shot.kind)) budget.spendHeavy();
      this.socket.send(shot);
    }
    budget.refund(granted - sent);
    this.shotsLeft -= sent;
  }

  /** Flooders mostly throw cheap garbage; paced members a mix weighted to the frames that reach the nodes. */
  private family(): RingFamily {
    const roll = this.rng.int(0, 99);
    if (this.behaviour === 'flooder') return roll < 50 ? 'random' : roll < 90 ? 'mutated' : 'hostile';
    return roll < 30 ? 'random' : roll < 65 ? 'mutated' : 'hostile';
  }

  close(): Promise<void> {
    return this.socket.closeAndWait();
  }
}
