/**
 * The simulated relay process: the real relay machine on a simulated clock, with the host's
 * duties done the way relay/ does them. It takes connections, feeds their frames to the machine
 * (refusing frames over the payload limit with a close, as `ws` does), carries out `deliver`
 * over the links, and pings every member each heartbeat interval (relay/limits.ts), dropping one
 * that did not answer the previous ping, as relay/connections.ts does.
 *
 * Every frame is encoded and parsed once on its way, as on the wire: a node's by the node host as
 * it sends it, the relay's here as it delivers it (once for all its recipients).
 */
import { createActor } from 'xstate';
import { ANSWERED_AT_JOIN, judgeHeartbeat } from '../machines/liveness.js';
import { encodeFrame, parseFrame, type ClientFrame, type ClientId, type OutgoingFrame, type ServerFrame } from '../machines/protocol.js';
import { hasRoom, relayMachine, type RelayActor, type RelayEmitted, type Recipients } from '../machines/relayMachine.js';
import { heartbeatIntervalFor } from '../machines/timing.js';
import { effectiveLimits, DEFAULT_LIMITS } from '../relay/limits.js';
import type { Socket } from './network.js';
import { ProcessClock } from './nodeClock.js';
import type { Scheduler } from './scheduler.js';

/** What the relay side of a socket knows about it. */
export interface RelaySide {
  readonly socket: Socket;
  id: ClientId | null;
  /** Answered the last ping (or just joined). */
  alive: boolean;
  open: boolean;
}

/** What the relay host tells the rest of the simulation. */
export interface RelayHostEvents {
  /** The member's socket is closed on the relay's side (the node hears of it over the down link). */
  closed(side: RelaySide, why: string): void;
  /** A frame for a node, after the down link's delay. */
  frameFor(side: RelaySide, frame: ServerFrame): void;
  /** A ping for a node's "ws library" to answer. */
  pingFor(side: RelaySide): void;
  /** The machine admitted a connection under `id`. */
  admitted(side: RelaySide, id: ClientId): void;
  delivered(frame: ServerFrame, recipients: number): void;
  /** An election frame set out (+1) or was lost on the way (-1). */
  electionInFlight(change: 1 | -1): void;
  /** The relay records a raised term in its state file (before the frame that raised it goes out). */
  termsChanged(highestTerm: number): void;
  /** Something a well-behaved ring never causes. */
  broken(message: string): void;
  trace(line: string): void;
}

export interface RelayHostOptions {
  leaderTimeoutMs: number;
  maxPayloadBytes: number;
  forwardTimeoutMs: number;
  /** The highest term in the relay's state file, when it has one (relay/stateFile.ts). */
  termFloor: number;
}

export class SimRelay {
  private readonly actor: RelayActor;
  private readonly clock: ProcessClock;
  private readonly sides = new Map<number, RelaySide>();
  private readonly members = new Map<ClientId, RelaySide>();
  private readonly heartbeatMs: number;
  private stopped = false;
  private readonly maxPayloadBytes: number;

  constructor(
    private readonly scheduler: Scheduler,
    options: RelayHostOptions,
    private readonly events: RelayHostEvents,
  ) {
    const limits = effectiveLimits({ ...DEFAULT_LIMITS, maxPayloadBytes: options.maxPayloadBytes, forwardTimeoutMs: options.forwardTimeoutMs });
    this.maxPayloadBytes = limits.maxPayloadBytes;
    this.heartbeatMs = heartbeatIntervalFor(options.leaderTimeoutMs);
    this.clock = new ProcessClock(scheduler, 1, (at) => scheduler.at(at, () => this.run(() => undefined)));
    this.actor = createActor(relayMachine, {
      clock: this.clock,
      input: {
        maxMembers: limits.maxMembers,
        forwardTimeoutMs: limits.forwardTimeoutMs,
        termFloor: options.termFloor,
        timing: { leaderTimeoutMs: options.leaderTimeoutMs, heartbeatMs: this.heartbeatMs },
      },
    });
    this.actor.on('*', (event) => this.carryOut(event as RelayEmitted));
    this.actor.subscribe({ error: (error) => events.broken(`the relay machine threw: ${String(error)}`) });
    this.actor.start();
    this.scheduleHeartbeat();
  }

  get memberCount(): number {
    return this.members.size;
  }

  get context() {
    return this.actor.getSnapshot().context;
  }

  /** A socket's upgrade reached the relay: admit it (or refuse it when the ring is full). */
  connect(socket: Socket, resume: ClientId | null): RelaySide | null {
    if (this.stopped) return null;
    this.clock.sync();
    if (!hasRoom(this.context)) return null;
    const side: RelaySide = { socket, id: null, alive: ANSWERED_AT_JOIN, open: true };
    this.sides.set(socket.serial, side);
    this.run(() => this.actor.send({ type: 'connect', connection: socket.serial, resume, host: null }));
    return side.id === null ? null : side;
  }

  /**
   * A frame from a node arrived: its text as sent, and what parsing that text gave (the node host
   * parsed it once as it went out, sim/nodeHost.ts; parsing is a pure function of the text, so the
   * relay's own parse would give the same frame).
   */
  receive(side: RelaySide, text: string, frame: ClientFrame): void {
    if (!side.open || side.id === null) return;
    if (Buffer.byteLength(text) > this.maxPayloadBytes) {
      this.events.broken(`${side.id} sent a ${Buffer.byteLength(text)}-byte frame, over the relay's limit of ${this.maxPayloadBytes}`);
      this.drop(side, 'too_large');
      return;
    }
    const from = side.id;
    this.run(() => this.actor.send({ type: 'frame', from, frame }));
  }

  /** A pong came back over the up link. */
  pong(side: RelaySide): void {
    side.alive = true;
  }

  /** The node's side closed (crash, drop, leave): the relay hears it after the up link's delay. */
  nodeClosed(side: RelaySide): void {
    if (side.open) this.drop(side, 'close');
  }

  /** Takes a member out of the ring: its socket is closed on the relay's side. */
  drop(side: RelaySide, why: string): void {
    if (!side.open || this.stopped) return;
    // Timers that fell due before this moment fire first, with the member still in the ring.
    this.clock.sync();
    side.open = false;
    this.sides.delete(side.socket.serial);
    if (side.id !== null && this.members.get(side.id) === side) {
      this.members.delete(side.id);
      this.events.trace(`relay: ${side.id} leaves (${why})`);
      const id = side.id;
      this.run(() => this.actor.send({ type: 'disconnect', id }));
    }
    this.events.closed(side, why);
  }

  /** The relay process dies: every socket breaks, nothing in flight arrives. */
  stop(): RelaySide[] {
    this.stopped = true;
    this.actor.stop();
    const sides = [...this.sides.values()];
    for (const side of sides) {
      side.open = false;
      side.socket.up.cut();
      side.socket.down.cut();
    }
    this.sides.clear();
    this.members.clear();
    return sides;
  }

  private run(work: () => void): void {
    if (this.stopped) return;
    this.clock.sync();
    work();
  }

  private carryOut(event: RelayEmitted): void {
    switch (event.type) {
      case 'admitted': {
        const side = this.sides.get(event.connection);
        if (side === undefined) return;
        side.id = event.id;
        this.members.set(event.id, side);
        this.events.admitted(side, event.id);
        return;
      }
      case 'deliver':
        this.deliver(event.to, event.frame);
        return;
      case 'rejected':
        // Our nodes never send what the relay must refuse; a rejection is a bug somewhere.
        if (event.code !== 'unknown_target') this.events.broken(`the relay rejected a frame of ${event.to}: ${event.code}: ${event.detail}`);
        this.deliver([event.to], { type: 'error', code: event.code, detail: event.detail });
        return;
      case 'bypassed':
        this.events.trace(`relay: routes around ${event.id} (held term ${event.term}), passed to ${event.passedTo}`);
        return;
      case 'leaderChanged':
        this.events.trace(`relay: reports leader ${event.leader.id} term ${event.leader.term}`);
        return;
      case 'termsChanged':
        this.events.termsChanged(event.highestTerm);
        return;
      default:
        return;
    }
  }

  private deliver(to: Recipients, frame: OutgoingFrame): void {
    const parsed = parseFrame(encodeFrame(frame));
    if (!parsed.ok) {
      this.events.broken(`the relay produced a frame the protocol rejects (${parsed.code}: ${parsed.detail})`);
      return;
    }
    const received = parsed.frame;
    this.events.delivered(received, to.length);
    const election = frame.type === 'election';
    const lost = election ? () => this.events.electionInFlight(-1) : undefined;
    for (const id of to) {
      const side = this.members.get(id);
      if (side === undefined) {
        this.events.broken(`the relay machine delivered to ${id}, which has no socket`);
        continue;
      }
      if (election) this.events.electionInFlight(1);
      side.socket.down.send(() => this.events.frameFor(side, received), lost);
    }
  }

  private scheduleHeartbeat(): void {
    this.scheduler.after(this.heartbeatMs, () => {
      if (this.stopped) return;
      for (const side of [...this.sides.values()]) {
        const verdict = judgeHeartbeat(side.alive);
        if (verdict.kind === 'drop') {
          this.events.trace(`relay: heartbeat drops ${side.id}`);
          this.drop(side, 'heartbeat');
          continue;
        }
        side.alive = verdict.answered;
        side.socket.down.send(() => this.events.pingFor(side));
      }
      this.scheduleHeartbeat();
    });
  }
}
