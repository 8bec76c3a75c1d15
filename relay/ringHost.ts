/**
 * One ring on the relay: its relay machine, the members' connections by id, and what the
 * machine's decisions mean for sockets, logs and metrics. A relay serves many rings
 * (`/rings/<name>`); each has its own machine, so ids, members, terms, leaders and limits never
 * mix, and a frame can never cross rings: it only ever reaches the machine of its sender's ring.
 */
import { performance } from 'node:perf_hooks';
import { createActor, type InspectionEvent } from 'xstate';
import { encodeFrame, type ClientFrame, type ClientId, type ErrorCode, type LeaderInfo, type Meta, type OutgoingFrame, type Role } from '../machines/protocol.js';
import { hasRoom, relayMachine, type MemberProfile, type RelayActor, type RelayEmitted, type Recipients } from '../machines/relayMachine.js';
import type { Logger } from '../runtime/logger.js';
import type { LineBudget } from './lineBudget.js';
import type { RelayLimits } from './limits.js';
import type { RelayMetrics, RingMetrics } from './metrics.js';
import { forwardedMessage, type Received } from './forwardedMessage.js';
import { textMessage } from './outbox.js';
import { WelcomeEncoder } from './welcomeMessage.js';

/** What a ring needs of a connection: where its messages go, and how it leaves. */
export interface RingConnection {
  readonly serial: number;
  id: ClientId | null;
  readonly remote: string;
  /** The info lines this member's frames may still cause. */
  readonly lines: LineBudget;
}

/** What the relay does for a ring: write to a connection, refuse it, close one the ring turned away. */
export interface Carrier<C extends RingConnection> {
  write(connection: C, message: Buffer): void;
  reject(connection: C, code: ErrorCode, detail: string): void;
  turnAway(connection: C, reason: string): void;
  /** The `leave` log line's details for a connection that left (its reason, close code, unlogged count). */
  leaveFields(connection: C): Record<string, unknown>;
}

export interface MemberDetails extends MemberProfile {
  id: ClientId;
  /** False while the relay routes election frames around this member (it sat on one). */
  forwarding: boolean;
}

export interface RingStatus {
  protocol: 1;
  ring: string;
  /** Members in ring order. */
  members: ClientId[];
  /** The same members with what the relay knows of each. */
  memberDetails: MemberDetails[];
  /** Observers (`?role=observer`), with what they told the relay. */
  observers: Array<MemberProfile & { id: ClientId }>;
  /** The leader the relay reports: the last one announced to all, while it is a member; else null. */
  leader: LeaderInfo | null;
  /** The highest term the relay has let through (what `welcome.term` tells joiners). */
  highestTerm: number;
}

export class RingHost<C extends RingConnection> {
  private readonly actor: RelayActor;
  private readonly byId = new Map<ClientId, C>();
  private readonly bySerial = new Map<number, C>();
  /** When the reported leader left (performance.now()), until the machine says the failover ended. */
  private leaderLostAt: number | null = null;
  readonly metrics: RingMetrics;
  private readonly recordTerms: ((highestTerm: number, leader: LeaderInfo | null) => Promise<void>) | undefined;
  /**
   * What members are sent after a `termsChanged` whose record is not durable yet (the frame that
   * raised the term first), in order: sent only once every record before it resolved. Other
   * rings are not held.
   */
  private readonly held: Array<(() => void) | PendingRecord> = [];
  /** A record failed: the relay is stopping, and this ring carries out nothing more. */
  private halted = false;
  /** The frame the machine is deciding on and the text it came in, so its delivery can reuse that text. */
  private inbound: Received | null = null;
  private readonly welcomes = new WelcomeEncoder();

  constructor(
    readonly name: string,
    limits: RelayLimits,
    private readonly carrier: Carrier<C>,
    private readonly log: Logger,
    private readonly relayMetrics: RelayMetrics,
    options: {
      termFloor?: number;
      inspect?: ((event: InspectionEvent) => void) | undefined;
      /**
       * Keeps the ring's highest term and reported leader across restarts (the state file).
       * Everything the machine decides after the change (the frame that raised the term first)
       * is held until the promise resolves; if it rejects, none of it is carried out and the ring
       * halts (the relay stops: failStopTerms in relay/server.ts). Other rings go on meanwhile.
       */
      recordTerms?: ((highestTerm: number, leader: LeaderInfo | null) => Promise<void>) | undefined;
    } = {},
  ) {
    this.recordTerms = options.recordTerms;
    this.metrics = relayMetrics.ring(name);
    this.actor = createActor(relayMachine, {
      input: {
        maxMembers: limits.maxMembers,
        forwardTimeoutMs: limits.forwardTimeoutMs,
        ...(options.termFloor === undefined ? {} : { termFloor: options.termFloor }),
      },
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    this.actor.on('*', (event) => this.carryOut(event as RelayEmitted));
    this.actor.subscribe({ error: (error) => this.log.fatal({ err: error, ring: name }, 'relay machine failed') });
    this.actor.start();
  }

  get context() {
    return this.actor.getSnapshot().context;
  }

  /** No members and no observers: the ring can be forgotten (its term floor goes with it, unless a state file keeps it). */
  get empty(): boolean {
    return this.context.members.length === 0 && this.context.observers.length === 0;
  }

  hasRoom(role: Role): boolean {
    return hasRoom(this.context, role);
  }

  connect(connection: C, request: { resume: string | null; host: string | null; role: Role; meta: Meta | null }): void {
    this.bySerial.set(connection.serial, connection);
    this.actor.send({ type: 'connect', connection: connection.serial, ...request });
  }

  /** A member's frame, parsed and checked, with the text and bytes it came in (when the host has them). */
  frame(connection: C, frame: ClientFrame, received?: { text: string; data: Buffer }): void {
    if (connection.id === null) return;
    this.inbound = received === undefined ? null : { frame, text: received.text, data: received.data };
    try {
      this.actor.send({ type: 'frame', from: connection.id, frame });
    } finally {
      this.inbound = null;
    }
  }

  disconnect(connection: C): void {
    this.bySerial.delete(connection.serial);
    if (connection.id !== null) this.actor.send({ type: 'disconnect', id: connection.id });
  }

  status(): RingStatus {
    const { members, observers, profiles, bypassed, leader, highestTerm } = this.context;
    const ids = members.toArray();
    return {
      protocol: 1,
      ring: this.name,
      members: ids,
      memberDetails: ids.map((id) => ({ id, ...profiles.get(id), forwarding: !bypassed.includes(id) })),
      observers: [...observers].map((id) => ({ id, ...profiles.get(id) })),
      leader,
      highestTerm,
    };
  }

  stop(): void {
    this.halted = true;
    this.held.length = 0;
    this.actor.stop();
  }

  /** Frames and rejections held behind records not yet durable, and the records (0: not waiting on the state file). */
  get heldDecisions(): number {
    return this.held.length;
  }

  // ---- what the machine decided ----

  private carryOut(event: RelayEmitted): void {
    if (this.halted) return;
    if (event.type === 'termsChanged' && this.recordTerms !== undefined) {
      let recorded: Promise<void>;
      try {
        recorded = this.recordTerms(event.highestTerm, event.leader);
      } catch (error) {
        // A store that throws instead of rejecting fails the same way: nothing after it goes out.
        recorded = Promise.reject(error);
      }
      this.hold(recorded);
      return;
    }
    // Only what members receive waits (frames and rejections, in order); who is a member is
    // bookkept at once, as the machine already decided it (a member admitted meanwhile can leave).
    if (this.held.length === 0 || (event.type !== 'deliver' && event.type !== 'rejected')) {
      this.attempt(event.type, () => this.apply(event));
    } else if (event.type === 'deliver') {
      const { to, frame } = event;
      // Framed now: the text it came in is only at hand while the machine decides on it.
      const message = this.message(frame);
      this.held.push(() => this.send(to, frame, message));
    } else {
      this.held.push(() => this.apply(event));
    }
  }

  private attempt(type: string, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.log.error({ err: error, type, ring: this.name }, 'carrying out a relay decision failed');
    }
  }

  /** Holds what follows until `recorded` resolves; never carries it out if it rejects. */
  private hold(recorded: Promise<void>): void {
    const pending: PendingRecord = { durable: false };
    this.held.push(pending);
    recorded.then(
      () => {
        pending.durable = true;
        this.release();
      },
      () => {
        // The relay reports it once (failStopTerms); here, only: nothing after it goes out.
        this.halted = true;
        this.held.length = 0;
      },
    );
  }

  /** Carries out held decisions in order, up to the first record that is not durable yet. */
  private release(): void {
    while (this.held.length > 0 && !this.halted) {
      const next = this.held[0]!;
      if (typeof next !== 'function') {
        if (!next.durable) return;
        this.held.shift();
        continue;
      }
      this.held.shift();
      this.attempt('held', next);
    }
  }

  private apply(event: RelayEmitted): void {
    const ring = this.name;
    switch (event.type) {
      case 'deliver':
        this.deliver(event.to, event.frame);
        return;
      case 'rejected': {
        const connection = this.byId.get(event.to);
        if (connection !== undefined) this.carrier.reject(connection, event.code, event.detail);
        return;
      }
      case 'admitted': {
        const connection = this.bySerial.get(event.connection);
        if (connection === undefined) return;
        connection.id = event.id;
        this.byId.set(event.id, connection);
        this.metrics.joins += 1;
        this.countMembers();
        const { host } = this.context.profiles.get(event.id) ?? {};
        this.log.info(
          { clientId: event.id, ring, role: event.role, resumed: event.resumed, remote: connection.remote, host, members: event.members },
          event.role === 'observer' ? 'observer joined' : 'join',
        );
        return;
      }
      case 'refused': {
        const connection = this.bySerial.get(event.connection);
        if (connection === undefined) return;
        this.bySerial.delete(event.connection);
        this.relayMetrics.refused.ring_full += 1;
        this.log.warn({ clientId: null, ring, remote: connection.remote, reason: event.reason }, 'rejected join: the ring is full');
        this.carrier.turnAway(connection, event.reason);
        return;
      }
      case 'departed': {
        const connection = this.byId.get(event.id);
        this.countMembers();
        const suppressed = connection === undefined || connection.lines.suppressed === 0 ? {} : { linesSuppressed: connection.lines.suppressed };
        this.log.info(
          { clientId: event.id, ring, members: event.members, ...(connection === undefined ? {} : this.carrier.leaveFields(connection)), ...suppressed },
          event.role === 'observer' ? 'observer left' : 'leave',
        );
        this.byId.delete(event.id);
        return;
      }
      case 'electionStarted':
        this.metrics.electionsStarted += 1;
        if (this.withinLineBudget(event.by, event.term)) this.log.info({ clientId: event.by, ring, initiator: event.initiator, term: event.term }, 'election started');
        return;
      case 'leaderLost':
        this.leaderLostAt = performance.now();
        this.log.info({ ring, leaderId: event.leader.id, term: event.leader.term }, 'leader left the ring');
        return;
      case 'leaderChanged': {
        this.metrics.leaderChanges += 1;
        let failoverMs: number | undefined;
        if (event.endsFailover && this.leaderLostAt !== null) {
          failoverMs = performance.now() - this.leaderLostAt;
          this.metrics.failover.observe(failoverMs / 1000);
        }
        if (event.endsFailover) this.leaderLostAt = null;
        const { leader } = event;
        if (this.withinLineBudget(event.announcedBy, leader.term)) this.log.info(
          { ring, leaderId: leader.id, rank: leader.rank, term: leader.term, clientId: event.announcedBy, previous: event.previous, failoverMs },
          'leader announced',
        );
        return;
      }
      case 'bypassed':
        this.metrics.bypasses += 1;
        this.metrics.bypassed = this.context.bypassed.length;
        this.log.warn(
          { clientId: event.id, ring, term: event.term, passedTo: event.passedTo, forwardTimeoutMs: this.context.forwardTimeoutMs },
          'member held the election frame without passing it on: routing around it',
        );
        return;
      case 'restored':
        this.metrics.bypassed = this.context.bypassed.length;
        this.log.info({ clientId: event.id, ring }, 'member is passing frames on again');
        return;
      case 'termsChanged':
        // Without a state file there is nothing to record (with one, carryOut holds behind it).
        return;
    }
  }

  /** Whether a line caused by `by`'s frame may be written (lineBudget.ts); says so once when it may not. */
  private withinLineBudget(by: ClientId, term: number): boolean {
    const connection = this.byId.get(by);
    if (connection === undefined) return true;
    const spent = connection.lines.spend();
    if (spent === 'write') return true;
    this.relayMetrics.linesSuppressed += 1;
    if (spent === 'announce-quiet') {
      this.log.warn({ clientId: by, ring: this.name, term }, 'member causes elections or announcements faster than the log takes them: counting, not logging, its next ones');
    }
    return false;
  }

  private countMembers(): void {
    this.metrics.members = this.context.members.length;
    this.metrics.observers = this.context.observers.length;
  }

  /**
   * One encoding and framing per frame, shared by all its recipients. A member's frame passed on
   * as it came, with only `from` stamped, is not encoded again: its bytes are reused (forwardedMessage.ts);
   * a `welcome`'s member list is the last one's text plus the joiner (welcomeMessage.ts).
   */
  private deliver(to: Recipients, frame: OutgoingFrame): void {
    this.send(to, frame, this.message(frame));
  }

  /** The frame's bytes, framed once for all its recipients. */
  private message(frame: OutgoingFrame): Buffer {
    const { inbound } = this;
    return frame.type === 'welcome'
      ? this.welcomes.message(frame)
      : ((inbound === null ? null : forwardedMessage(inbound, frame)) ?? textMessage(encodeFrame(frame)));
  }

  private send(to: Recipients, frame: OutgoingFrame, message: Buffer): void {
    if (frame.type === 'welcome' || frame.type === 'ring' || frame.type === 'error') this.relayMetrics.relayFramesSent[frame.type] += to.length;
    else this.relayMetrics.forwarded[frame.type] += 1;
    for (const id of to) {
      const connection = this.byId.get(id);
      if (connection !== undefined) this.carrier.write(connection, message);
    }
  }
}

/** A record the ring waits on before carrying out what the machine decided after it. */
interface PendingRecord {
  durable: boolean;
}
