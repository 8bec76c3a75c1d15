/**
 * The relay's connections around the relay machine: admits sockets as members, feeds their
 * frames to the machine, carries out the machine's `deliver` events, and drops peers that
 * close, stop answering pings, flood, or stop reading.
 *
 * The machine decides membership, routing and the last leader; this module only guards the
 * door (parsing, limits) and carries frames. Per frame: one parse, one machine event, one
 * encoding per `deliver`, and no logging at info level.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createActor, type InspectionEvent } from 'xstate';
import type { WebSocket } from 'ws';
import {
  encodeFrame,
  parseClientFrame,
  type ClientFrame,
  type ClientId,
  type ErrorCode,
  type LeaderInfo,
  type ServerFrame,
} from '../machines/protocol.js';
import { opensElection } from '../machines/election.js';
import { nextClientId, recipients, relayMachine, type RelayActor, type RelayEmitted } from '../machines/relayMachine.js';
import type { Logger } from '../runtime/logger.js';
import { CLOSE_CODES, type LeaveReason, type RelayLimits } from './limits.js';
import type { RelayMetrics } from './metrics.js';
import { TokenBucket } from './rateLimiter.js';

interface Connection {
  readonly id: ClientId;
  readonly socket: WebSocket;
  /** Answered the last ping (or just joined). */
  alive: boolean;
  readonly bucket: TokenBucket | null;
  /** Inside a run of rate-limited frames: the client was told once and is not told again. */
  limited: boolean;
  /** Left the ring already; later socket events are ignored. */
  gone: boolean;
  /** The TCP socket under the WebSocket, corked while a burst of sends to it is collected. */
  readonly tcp: Socket | null;
  corked: boolean;
}

export interface RelayStatus {
  protocol: 1;
  members: ClientId[];
  /** The last announced leader while it is still a member, else null. */
  leader: LeaderInfo | null;
  /** The last announced leader even if it has left since (what `welcome` tells joiners). */
  lastAnnouncedLeader: LeaderInfo | null;
  uptimeSeconds: number;
  limits: RelayLimits;
}

export interface ConnectionHubOptions {
  limits: RelayLimits;
  logger: Logger;
  metrics: RelayMetrics;
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /**
   * Send every routed frame through the relay machine as an event, so an inspector sees each
   * one. Otherwise (the default without an inspector) checkLeader, answerLeader and election
   * frames are routed by the machine's pure `recipients` over the machine's member list without
   * an actor step, which roughly halves the relay's CPU per frame; joins, leaves, newLeader and
   * unknown targets always go through the machine.
   */
  machineRoutesEveryFrame?: boolean;
}

/** ws.send options for a pre-encoded frame: a text frame, not compressed. */
const TEXT_FRAME = { binary: false, compress: false } as const;
/** How long a peer we closed gets to finish the closing handshake before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

export class ConnectionHub {
  private readonly connections = new Map<ClientId, Connection>();
  private readonly actor: RelayActor;
  private readonly limits: RelayLimits;
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly debug: boolean;
  private readonly machineRoutesEveryFrame: boolean;
  private heartbeat: NodeJS.Timeout | null = null;
  /** When the announced leader left (performance.now()), until the next leader is announced. */
  private leaderLeftAt: number | null = null;
  /** Sockets corked in this tick; uncorked together once the current input is handled. */
  private readonly corked: Connection[] = [];
  private flushScheduled = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const connection of this.corked) {
      connection.corked = false;
      connection.tcp?.uncork();
    }
    this.corked.length = 0;
  };

  constructor({ limits, logger, metrics, inspect, machineRoutesEveryFrame }: ConnectionHubOptions) {
    this.limits = limits;
    this.machineRoutesEveryFrame = machineRoutesEveryFrame ?? inspect !== undefined;
    this.log = logger;
    this.metrics = metrics;
    this.debug = logger.isLevelEnabled('debug');
    this.actor = createActor(relayMachine, inspect ? { inspect } : {});
    this.actor.on('deliver', (event) => this.deliver(event));
    this.actor.subscribe({
      error: (error) => this.log.fatal({ err: error }, 'relay machine failed'),
    });
    this.actor.start();
  }

  startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => this.pingAll(), this.limits.heartbeatIntervalMs);
  }

  /** Makes a freshly upgraded socket a member: picks its id, wires its events, sends `welcome`. */
  admit(socket: WebSocket, resume: string | null, remote: string | undefined): ClientId {
    const id = nextClientId(this.actor.getSnapshot().context, resume);
    const connection: Connection = {
      id,
      socket,
      alive: true,
      bucket:
        this.limits.rateLimitPerSecond > 0
          ? TokenBucket.perSecond(this.limits.rateLimitPerSecond, this.limits.rateBurst, performance.now())
          : null,
      limited: false,
      gone: false,
      tcp: tcpSocketOf(socket),
      corked: false,
    };
    this.connections.set(id, connection);
    socket.on('message', (data: Buffer, isBinary: boolean) => this.receive(connection, data, isBinary));
    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('error', (error: Error & { code?: string }) => this.socketError(connection, error));
    socket.on('close', (code: number) => this.leave(connection, 'close', code));

    this.actor.send({ type: 'join', id });
    this.metrics.joins += 1;
    this.metrics.members = this.connections.size;
    this.log.info(
      { clientId: id, resumed: resume !== null && id === resume, remote, members: this.connections.size },
      'join',
    );
    return id;
  }

  status(): RelayStatus {
    const { members, leader } = this.actor.getSnapshot().context;
    return {
      protocol: 1,
      members,
      leader: leader !== null && members.includes(leader.id) ? leader : null,
      lastAnnouncedLeader: leader,
      uptimeSeconds: this.metrics.uptimeSeconds,
      limits: this.limits,
    };
  }

  /** Closes every socket with 1001 without telling the ring (everyone is going), then stops the machine. */
  async closeAll(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const closing = [...this.connections.values()].map(
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
    this.connections.clear();
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
    if (connection.gone) return;
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
    if (frame.type === 'newLeader') {
      this.routeAnnouncement(connection, frame);
      return;
    }
    if (frame.type === 'election' && opensElection(connection.id, frame)) {
      this.metrics.electionsStarted += 1;
      this.log.info({ clientId: connection.id, initiator: frame.initiator, term: frame.term }, 'election started');
    }
    if (this.debug) this.log.debug({ clientId: connection.id, type: frame.type, to: frame.to }, 'frame');
    if (!this.machineRoutesEveryFrame) {
      // Fast path: the machine's own routing function over the machine's own member list. A frame
      // it cannot route (unknown target) still goes to the machine, which answers the error.
      const to = recipients(this.actor.getSnapshot().context.members, connection.id, frame.to);
      if (to !== null) {
        this.deliver({ type: 'deliver', to, frame: { ...frame, from: connection.id } });
        return;
      }
    }
    this.actor.send({ type: 'frame', from: connection.id, frame });
  }

  /** newLeader frames are rare and may change the relay's leader: log and time the change. */
  private routeAnnouncement(connection: Connection, frame: ClientFrame): void {
    const before = this.actor.getSnapshot().context.leader;
    this.actor.send({ type: 'frame', from: connection.id, frame });
    const after = this.actor.getSnapshot().context.leader;
    if (after === before || after === null) return;
    this.metrics.leaderChanges += 1;
    let failoverMs: number | undefined;
    if (this.leaderLeftAt !== null) {
      failoverMs = performance.now() - this.leaderLeftAt;
      this.metrics.failover.observe(failoverMs / 1000);
      this.leaderLeftAt = null;
    }
    this.log.info(
      { leaderId: after.id, rank: after.rank, term: after.term, clientId: connection.id, previous: before, failoverMs },
      'leader announced',
    );
  }

  private flooded(connection: Connection): void {
    this.metrics.rejected.rate_limited += 1;
    if (!connection.limited) {
      connection.limited = true;
      this.log.warn({ clientId: connection.id, code: 'rate_limited' }, 'rejected frame');
      this.sendError(connection, 'rate_limited', `over ${this.limits.rateLimitPerSecond} frames/s; frames are dropped until you slow down`);
    }
    if (connection.bucket?.exhausted) {
      this.leave(connection, 'rate_limited', undefined, { code: CLOSE_CODES.rateLimited, reason: 'rate limit exceeded' });
    }
  }

  private reject(connection: Connection, code: ErrorCode, detail: string): void {
    this.metrics.rejected[code] += 1;
    this.log.warn({ clientId: connection.id, code, detail }, 'rejected frame');
    this.sendError(connection, code, detail);
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

  // ---- outbound ----

  private deliver({ to, frame }: RelayEmitted): void {
    try {
      const payload = Buffer.from(encodeFrame(frame));
      if (frame.type === 'error') {
        // The machine only originates unknown_target; the host's own errors go through sendError.
        this.metrics.rejected[frame.code] += 1;
        this.log.warn({ clientId: to[0], code: frame.code, detail: frame.detail }, 'rejected frame');
      }
      this.countSent(frame, to.length);
      for (let index = 0; index < to.length; index += 1) {
        const connection = this.connections.get(to[index]!);
        if (connection !== undefined) this.write(connection, payload);
      }
    } catch (error) {
      this.log.error({ err: error, type: frame.type }, 'deliver failed');
    }
  }

  private countSent(frame: ServerFrame, recipients: number): void {
    if (frame.type === 'welcome' || frame.type === 'ring' || frame.type === 'error') {
      this.metrics.relayFramesSent[frame.type] += recipients;
    } else {
      this.metrics.forwarded[frame.type] += 1;
    }
  }

  private sendError(connection: Connection, code: ErrorCode, detail: string): void {
    this.metrics.relayFramesSent.error += 1;
    this.write(connection, Buffer.from(encodeFrame({ type: 'error', code, detail })));
  }

  private write(connection: Connection, payload: Buffer): void {
    const { socket } = connection;
    if (connection.gone || socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > this.limits.maxBacklogBytes) {
      this.leave(connection, 'backlog', undefined, { code: CLOSE_CODES.backlogFull, reason: 'backlog full: not reading' });
      return;
    }
    this.cork(connection);
    socket.send(payload, TEXT_FRAME);
  }

  /**
   * Frames for one peer produced while handling one chunk of input leave in one write instead
   * of one system call each (the way uWebSockets corks); writes are flushed on the next tick.
   */
  private cork(connection: Connection): void {
    if (connection.corked || connection.tcp === null) return;
    connection.corked = true;
    connection.tcp.cork();
    this.corked.push(connection);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  // ---- leaving ----

  private pingAll(): void {
    for (const connection of this.connections.values()) {
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

  /** Takes a member out of the ring once, whatever noticed first; optionally closes its socket. */
  private leave(connection: Connection, reason: LeaveReason, closeCode?: number, close?: { code: number; reason: string }): void {
    if (connection.gone) return;
    connection.gone = true;
    this.connections.delete(connection.id);
    if (this.actor.getSnapshot().context.leader?.id === connection.id) this.leaderLeftAt = performance.now();
    this.actor.send({ type: 'leave', id: connection.id });
    this.metrics.leaves[reason] += 1;
    this.metrics.members = this.connections.size;
    this.log.info({ clientId: connection.id, reason, closeCode, members: this.connections.size }, 'leave');
    if (close) {
      const { socket } = connection;
      socket.close(close.code, close.reason);
      setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
    }
  }
}

/** ws keeps the TCP socket in a private field; without it (another ws version) sends are simply not corked. */
function tcpSocketOf(socket: WebSocket): Socket | null {
  const tcp = (socket as unknown as { _socket?: unknown })._socket;
  return tcp !== null && typeof tcp === 'object' && typeof (tcp as Socket).cork === 'function' ? (tcp as Socket) : null;
}
