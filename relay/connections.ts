/**
 * The relay's connections around the relay machine. This module guards the door (parsing,
 * limits, the rate of frames) and carries out what the machine emits; it decides nothing about
 * the ring. Every frame a member sends goes to the machine as one `frame` event, and the machine's
 * `deliver` events are the only way frames reach members, so what an inspector shows is what
 * production does.
 *
 * Per frame: one parse, one machine event, one encoding and framing per `deliver` (shared by all
 * its recipients), and no logging at info level. Rejections are logged once per connection and
 * code and counted every time: a member that mixes valid frames with bad ones cannot make the
 * relay write a line per frame.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createActor, type InspectionEvent } from 'xstate';
import type { WebSocket } from 'ws';
import { encodeFrame, parseClientFrame, type ClientId, type ErrorCode, type LeaderInfo, type ServerFrame } from '../machines/protocol.js';
import { hasRoom, relayMachine, type MemberProfile, type RelayActor, type RelayEmitted } from '../machines/relayMachine.js';
import type { Logger } from '../runtime/logger.js';
import { CLOSE_CODES, type LeaveReason, type RefusalReason, type RelayLimits } from './limits.js';
import type { RelayMetrics } from './metrics.js';
import { backlogOf, createOutbox, OutboxWriter, textMessage, type Outbox } from './outbox.js';
import { TokenBucket } from './rateLimiter.js';

interface Connection {
  /** The host's handle, until the machine names the member. */
  readonly serial: number;
  id: ClientId | null;
  readonly socket: WebSocket;
  readonly outbox: Outbox;
  readonly remote: string;
  /** Answered the last ping (or just joined). */
  alive: boolean;
  readonly bucket: TokenBucket | null;
  /** Inside a run of rate-limited frames: the client was told once and is not told again. */
  limited: boolean;
  /** Error codes this connection was already logged for; later rejections with them are only counted. */
  readonly loggedCodes: Set<ErrorCode>;
  /** Rejections counted but not logged, reported when the member leaves. */
  unlogged: number;
  /** Left the ring (or was refused) already; later socket events are ignored. */
  gone: boolean;
  leaveReason: LeaveReason;
  closeCode: number | undefined;
}

export interface MemberDetails extends MemberProfile {
  id: ClientId;
  /** False while the relay routes election frames around this member (it sat on one). */
  forwarding: boolean;
}

export interface RelayStatus {
  protocol: 1;
  /** Members in ring order. */
  members: ClientId[];
  /** The same members with what the relay knows of each. */
  memberDetails: MemberDetails[];
  /** The leader the relay reports: the last one announced to all, while it is a member; else null. */
  leader: LeaderInfo | null;
  /** The highest term the relay has let through (what `welcome.term` tells joiners). */
  highestTerm: number;
  uptimeSeconds: number;
  limits: RelayLimits;
}

export interface ConnectionHubOptions {
  limits: RelayLimits;
  logger: Logger;
  metrics: RelayMetrics;
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /** Terms at or below this were used before (a state file's floor). */
  termFloor?: number;
}

/** How long a peer we closed gets to finish the closing handshake before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

export class ConnectionHub {
  private readonly bySerial = new Map<number, Connection>();
  private readonly byId = new Map<ClientId, Connection>();
  private readonly perAddress = new Map<string, number>();
  private readonly actor: RelayActor;
  private readonly limits: RelayLimits;
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly debug: boolean;
  private readonly writer = new OutboxWriter();
  private heartbeat: NodeJS.Timeout | null = null;
  private serial = 0;
  /** When the reported leader left (performance.now()), until the machine says the failover ended. */
  private leaderLostAt: number | null = null;

  constructor({ limits, logger, metrics, inspect, termFloor }: ConnectionHubOptions) {
    this.limits = limits;
    this.log = logger;
    this.metrics = metrics;
    this.debug = logger.isLevelEnabled('debug');
    this.actor = createActor(relayMachine, {
      input: { maxMembers: limits.maxMembers, forwardTimeoutMs: limits.forwardTimeoutMs, ...(termFloor === undefined ? {} : { termFloor }) },
      ...(inspect ? { inspect } : {}),
    });
    this.actor.on('*', (event) => this.carryOut(event as RelayEmitted));
    this.actor.subscribe({ error: (error) => this.log.fatal({ err: error }, 'relay machine failed') });
    this.actor.start();
  }

  startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => this.pingAll(), this.limits.heartbeatIntervalMs);
  }

  /** Why an upgrade from `remote` must be refused now, or null to go ahead. */
  refusal(remote: string): Extract<RefusalReason, 'ring_full' | 'too_many_connections' | 'too_many_from_address'> | null {
    if (this.bySerial.size >= this.limits.maxConnections) return 'too_many_connections';
    if ((this.perAddress.get(remote) ?? 0) >= this.limits.maxConnectionsPerAddress) return 'too_many_from_address';
    if (!hasRoom(this.actor.getSnapshot().context)) return 'ring_full';
    return null;
  }

  /** Takes over a freshly upgraded socket and asks the machine to admit it. */
  accept(socket: WebSocket, tcp: Socket, resume: string | null, host: string | null, remote: string): void {
    const serial = ++this.serial;
    const connection: Connection = {
      serial,
      id: null,
      socket,
      outbox: createOutbox(tcp, () => socket.readyState === socket.OPEN),
      remote,
      alive: true,
      bucket:
        this.limits.rateLimitPerSecond > 0
          ? TokenBucket.perSecond(this.limits.rateLimitPerSecond, this.limits.rateBurst, performance.now())
          : null,
      limited: false,
      loggedCodes: new Set(),
      unlogged: 0,
      gone: false,
      leaveReason: 'close',
      closeCode: undefined,
    };
    this.bySerial.set(serial, connection);
    this.perAddress.set(remote, (this.perAddress.get(remote) ?? 0) + 1);
    this.metrics.connections = this.bySerial.size;
    socket.on('message', (data: Buffer, isBinary: boolean) => this.receive(connection, data, isBinary));
    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('error', (error: Error & { code?: string }) => this.socketError(connection, error));
    socket.on('close', (code: number) => this.leave(connection, 'close', code));
    this.actor.send({ type: 'connect', connection: serial, resume, host });
  }

  status(): RelayStatus {
    const { members, profiles, bypassed, leader, highestTerm } = this.actor.getSnapshot().context;
    return {
      protocol: 1,
      members,
      memberDetails: members.map((id) => ({ id, ...profiles[id], forwarding: !bypassed.includes(id) })),
      leader,
      highestTerm,
      uptimeSeconds: this.metrics.uptimeSeconds,
      limits: this.limits,
    };
  }

  /** Closes every socket with 1001 without telling the ring (everyone is going), then stops the machine. */
  async closeAll(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.writer.flush();
    const closing = [...this.bySerial.values()].map(
      (connection) =>
        new Promise<void>((resolve) => {
          connection.gone = true;
          const { socket } = connection;
          if (socket.readyState === socket.CLOSED) return resolve();
          const timer = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close(CLOSE_CODES.goingAway, 'relay shutting down');
        }),
    );
    this.bySerial.clear();
    this.byId.clear();
    await Promise.all(closing);
    this.actor.stop();
  }

  // ---- inbound ----

  private receive(connection: Connection, data: Buffer, isBinary: boolean): void {
    try {
      this.handle(connection, data, isBinary);
    } catch (error) {
      // A bug here must cost one frame, never the relay (the socket's emitter would rethrow it).
      this.log.error({ err: error, clientId: connection.id }, 'frame handling failed');
    }
  }

  private handle(connection: Connection, data: Buffer, isBinary: boolean): void {
    if (connection.gone || connection.id === null) return;
    if (connection.bucket !== null && !connection.bucket.take(performance.now())) {
      this.flooded(connection);
      return;
    }
    connection.limited = false;
    if (isBinary) {
      this.reject(connection, 'bad_frame', 'frames must be JSON text, not binary');
      return;
    }
    const parsed = parseClientFrame(data.toString());
    if (!parsed.ok) {
      this.reject(connection, parsed.code, parsed.detail);
      return;
    }
    const frame = parsed.frame;
    if (frame.from !== undefined && frame.from !== connection.id) {
      this.reject(connection, 'bad_frame', 'from is stamped by the relay: leave it out or use your own id');
      return;
    }
    if (this.debug) this.log.debug({ clientId: connection.id, type: frame.type, to: frame.to }, 'frame');
    this.actor.send({ type: 'frame', from: connection.id, frame });
  }

  private flooded(connection: Connection): void {
    if (!connection.limited) {
      connection.limited = true;
      this.reject(connection, 'rate_limited', `over ${this.limits.rateLimitPerSecond} frames/s; frames are dropped until you slow down`);
    } else {
      this.metrics.rejected.rate_limited += 1;
      this.metrics.rejectionsUnlogged += 1;
      connection.unlogged += 1;
    }
    if (connection.bucket?.exhausted) {
      this.leave(connection, 'rate_limited', undefined, { code: CLOSE_CODES.rateLimited, reason: 'rate limit exceeded' });
    }
  }

  /** Counts a rejection, logs it if it is the connection's first with that code, and answers with an error frame. */
  private reject(connection: Connection, code: ErrorCode, detail: string): void {
    this.metrics.rejected[code] += 1;
    if (connection.loggedCodes.has(code)) {
      this.metrics.rejectionsUnlogged += 1;
      connection.unlogged += 1;
    } else {
      connection.loggedCodes.add(code);
      this.log.warn({ clientId: connection.id, code, detail }, 'rejected frame');
    }
    this.send(connection, { type: 'error', code, detail });
  }

  private socketError(connection: Connection, error: Error & { code?: string }): void {
    // ws reports protocol violations here (WS_ERR_*) and closes the socket itself: 1009 for a
    // frame over maxPayload, 1007 for bad UTF-8, 1002 for a broken frame. Anything else is the
    // network (ECONNRESET...): not the client's fault, and its close event follows.
    if (!error.code?.startsWith('WS_ERR_')) {
      this.log.debug({ clientId: connection.id, err: error }, 'socket error');
      return;
    }
    const tooLarge = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
    const code: ErrorCode = tooLarge ? 'too_large' : 'bad_frame';
    this.metrics.rejected[code] += 1;
    this.log.warn({ clientId: connection.id, code, detail: error.message, wsError: error.code }, 'rejected frame');
    this.leave(connection, tooLarge ? 'too_large' : 'protocol_error');
  }

  // ---- what the machine decided ----

  private carryOut(event: RelayEmitted): void {
    try {
      this.apply(event);
    } catch (error) {
      this.log.error({ err: error, type: event.type }, 'carrying out a relay decision failed');
    }
  }

  private apply(event: RelayEmitted): void {
    switch (event.type) {
      case 'deliver':
        this.deliver(event.to, event.frame);
        return;
      case 'rejected': {
        const connection = this.byId.get(event.to);
        if (connection !== undefined) this.reject(connection, event.code, event.detail);
        return;
      }
      case 'admitted': {
        const connection = this.bySerial.get(event.connection);
        if (connection === undefined) return;
        connection.id = event.id;
        this.byId.set(event.id, connection);
        this.metrics.joins += 1;
        this.metrics.members = event.members;
        const host = this.actor.getSnapshot().context.profiles[event.id]?.host;
        this.log.info({ clientId: event.id, resumed: event.resumed, remote: connection.remote, host, members: event.members }, 'join');
        return;
      }
      case 'refused': {
        const connection = this.bySerial.get(event.connection);
        if (connection === undefined) return;
        this.metrics.refused.ring_full += 1;
        this.log.warn({ clientId: null, remote: connection.remote, reason: event.reason }, 'rejected join: the ring is full');
        this.drop(connection, { code: CLOSE_CODES.tryAgainLater, reason: event.reason.slice(0, 120) });
        return;
      }
      case 'departed': {
        const connection = this.byId.get(event.id);
        this.metrics.members = event.members;
        this.log.info(
          {
            clientId: event.id,
            reason: connection?.leaveReason ?? 'close',
            closeCode: connection?.closeCode,
            members: event.members,
            ...(connection !== undefined && connection.unlogged > 0 ? { rejectedUnlogged: connection.unlogged } : {}),
          },
          'leave',
        );
        if (connection !== undefined) this.byId.delete(event.id);
        return;
      }
      case 'electionStarted':
        this.metrics.electionsStarted += 1;
        this.log.info({ clientId: event.by, initiator: event.initiator, term: event.term }, 'election started');
        return;
      case 'leaderLost':
        this.leaderLostAt = performance.now();
        this.log.info({ leaderId: event.leader.id, term: event.leader.term }, 'leader left the ring');
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
        this.log.info(
          { leaderId: leader.id, rank: leader.rank, term: leader.term, clientId: event.announcedBy, previous: event.previous, failoverMs },
          'leader announced',
        );
        return;
      }
      case 'bypassed':
        this.metrics.bypasses += 1;
        this.metrics.bypassed = this.actor.getSnapshot().context.bypassed.length;
        this.log.warn(
          { clientId: event.id, term: event.term, passedTo: event.passedTo, forwardTimeoutMs: this.limits.forwardTimeoutMs },
          'member held the election frame without passing it on: routing around it',
        );
        return;
      case 'restored':
        this.metrics.bypassed = this.actor.getSnapshot().context.bypassed.length;
        this.log.info({ clientId: event.id }, 'member is passing frames on again');
        return;
    }
  }

  // ---- outbound ----

  private deliver(to: readonly ClientId[], frame: ServerFrame): void {
    const message = textMessage(Buffer.from(encodeFrame(frame)));
    this.countSent(frame, to.length);
    for (let index = 0; index < to.length; index += 1) {
      const connection = this.byId.get(to[index]!);
      if (connection !== undefined) this.write(connection, message);
    }
  }

  private countSent(frame: ServerFrame, recipients: number): void {
    if (frame.type === 'welcome' || frame.type === 'ring' || frame.type === 'error') {
      this.metrics.relayFramesSent[frame.type] += recipients;
    } else {
      this.metrics.forwarded[frame.type] += 1;
    }
  }

  private send(connection: Connection, frame: ServerFrame): void {
    this.countSent(frame, 1);
    this.write(connection, textMessage(Buffer.from(encodeFrame(frame))));
  }

  private write(connection: Connection, message: Buffer): void {
    if (connection.gone) return;
    if (backlogOf(connection.outbox) + message.length > this.limits.maxBacklogBytes) {
      this.leave(connection, 'backlog', undefined, { code: CLOSE_CODES.backlogFull, reason: 'backlog full: not reading' });
      return;
    }
    this.writer.push(connection.outbox, message);
  }

  // ---- leaving ----

  private pingAll(): void {
    for (const connection of this.bySerial.values()) {
      if (!connection.alive) {
        this.leave(connection, 'heartbeat');
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      try {
        connection.socket.ping();
      } catch {
        // The socket is closing; its close event removes it.
      }
    }
  }

  /** Takes a connection out once, whatever noticed first; optionally closes its socket. */
  private leave(connection: Connection, reason: LeaveReason, closeCode?: number, close?: { code: number; reason: string }): void {
    if (connection.gone) return;
    connection.leaveReason = reason;
    connection.closeCode = closeCode;
    this.drop(connection, close);
    if (connection.id !== null) {
      this.metrics.leaves[reason] += 1;
      this.actor.send({ type: 'disconnect', id: connection.id });
    }
  }

  /** Forgets a connection's socket side: counts, outbox, and (when asked) closes it. */
  private drop(connection: Connection, close?: { code: number; reason: string }): void {
    connection.gone = true;
    // A peer the relay closes still gets what was meant for it (its error frame says why).
    if (close) this.writer.write(connection.outbox);
    else this.writer.discard(connection.outbox);
    if (this.bySerial.delete(connection.serial)) {
      const left = (this.perAddress.get(connection.remote) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(connection.remote);
      else this.perAddress.set(connection.remote, left);
      this.metrics.connections = this.bySerial.size;
    }
    if (close) {
      const { socket } = connection;
      socket.close(close.code, close.reason);
      setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
    }
  }
}
