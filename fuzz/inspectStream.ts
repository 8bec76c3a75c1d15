/**
 * A fuzz connection to the inspector's ingest channel (`/inspect`): it poses as some process (a
 * node, the relay, or nothing in particular), announces a root actor, then sends inspection
 * messages at a steady rate until its share is done, and leaves (so streams come and go).
 */
import type { Rng } from '../sim/rng.js';
import type { Budget } from './budget.js';
import { FuzzSocket, type SocketTallies } from './fuzzSocket.js';
import { inspectionShot, makePersona, rootActor, type InspectionContext } from './inspectionMessages.js';

/** The inspector's largest ingest message (inspector/server/index.ts); larger ones close the stream. */
export const INGEST_MAX_BYTES = 1 << 20;

export interface InspectStreamOptions {
  ingestUrl: string;
  rng: Rng;
  ratePerSecond: number;
  /** Ids of the real members, so a stream can claim to be one of them. */
  members: readonly string[];
  tallies: SocketTallies;
}

export class InspectStream {
  private readonly socket: FuzzSocket;
  private readonly context: InspectionContext;
  private readonly rng: Rng;
  private readonly ratePerSecond: number;
  private announced = false;
  private shotsLeft: number;
  private credit = 0;

  constructor(options: InspectStreamOptions) {
    this.rng = options.rng;
    this.ratePerSecond = options.ratePerSecond;
    this.shotsLeft = this.rng.int(20, 2000);
    const persona = makePersona(this.rng, options.members);
    this.context = { persona, maxBytes: INGEST_MAX_BYTES, heavyAllowed: false, actorSerial: 0 };
    const url = new URL(options.ingestUrl);
    url.searchParams.set('name', persona.name);
    this.socket = new FuzzSocket(url.toString(), options.tallies, 'inspector');
  }

  get closed(): Promise<number> {
    return this.socket.closed;
  }

  get isClosed(): boolean {
    return this.socket.isClosed;
  }

  tick(elapsedMs: number, budget: Budget): void {
    if (this.socket.isClosed || !this.socket.isOpen) return;
    if (budget.exhausted || this.shotsLeft <= 0) {
      this.socket.close();
      return;
    }
    this.credit += (this.ratePerSecond * elapsedMs) / 1000;
    const granted = budget.take(Math.min(Math.floor(this.credit), this.shotsLeft));
    this.credit -= granted;
    let sent = 0;
    for (; sent < granted && this.socket.ready; sent += 1) {
      this.context.heavyAllowed = budget.heavyAllowed;
      const shot = this.announced ? inspectionShot(this.rng, this.context) : rootActor(this.rng, this.context);
      this.announced = true;
      if (shot.kind === 'inspect:oversized') budget.spendHeavy();
      this.socket.send(shot);
    }
    budget.refund(granted - sent);
    this.shotsLeft -= sent;
  }

  close(): Promise<void> {
    return this.socket.closeAndWait();
  }
}
