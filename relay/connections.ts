/**
 * The relay's connections around its rings' machines. This module guards the door (parsing,
 * limits, the rate of frames), keeps the sockets (heartbeat, outboxes, backlog), and hands each
 * connection's frames to its ring (relay/ringHost.ts), which carries out what the ring's machine
 * decides. Every frame a member sends goes to its ring's machine as one `frame` event, and the
 * machine's `deliver` events are the only way frames reach members, so what an inspector shows is
 * what production does.
 *
 * Per frame: one parse, one machine event, one framing per `deliver` (shared by all its
 * recipients) and at most one encoding (none when the frame goes on as it came but for `from`:
 * relay/forwardedMessage.ts), and no logging at info level. Rejections are logged once per
 * connection and code and counted every time: a member that mixes valid frames with bad ones cannot make the
 * relay write a line per frame.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { InspectionEvent } from 'xstate';
import type { WebSocket } from 'ws';
import { DEFAULT_RING, encodeFrame, isValidRingName, parseClientFrame, type ClientId, type ErrorCode, type LeaderInfo, type Meta, type Role, type ServerFrame } from '../machines/protocol.js';
import { ANSWERED_AT_JOIN, judgeHeartbeat } from '../machines/liveness.js';
import type { Logger } from '../runtime/logger.js';
import { CLOSE_CODES, type LeaveReason, type RefusalReason, type RelayLimits } from './limits.js';
import type { RelayMetrics } from './metrics.js';
import { backlogOf, createOutbox, OutboxWriter, textMessage, type Outbox } from './outbox.js';
import { LineBudget } from './lineBudget.js';
import { TokenBucket } from './rateLimiter.js';
import { RingHost, type Carrier, type RingStatus } from './ringHost.js';

interface Connection {
  /** The host's handle, until the ring's machine names the member. */
  readonly serial: number;
  id: ClientId | null;
  readonly ring: RingHost<Connection>;
  readonly role: Role;
  readonly socket: WebSocket;
  readonly outbox: Outbox;
  readonly remote: string;
  readonly lines: LineBudget;
  /** Answered the last ping (or just joined). */
  alive: boolean;
  readonly bucket: TokenBucket | null;
  /** Inside a run of rate-limited frames: the client was told once and is not told again. */
  limited: boolean;
  /** Error codes this connection was already logged for; later rejections with them are only counted. */
  readonly loggedCodes: Set<ErrorCode>;
  /** Rejections counted but not logged, reported when the member leaves. */
  unlogged: number;
  /** Left its ring (or was turned away) already; later socket events are ignored. */
  gone: boolean;
  leaveReason: LeaveReason;
  closeCode: number | undefined;
}

export type { MemberDetails } from './ringHost.js';

/** `/status` of one ring: its members, observers, leader and term, plus the relay's uptime and limits. */
export interface RelayStatus extends RingStatus {
  uptimeSeconds: number;
  limits: RelayLimits;
  /** Only with --store: whether this relay serves the ring now (a standby answers with no members). */
  serving?: boolean;
  /** Only with --store: the advertise URL of the relay that serves the ring (this one's when serving), null while none is known to. */
  activeRelay?: string | null;
}

/** One line of `/rings`. */
export interface RingSummary {
  name: string;
  members: number;
  observers: number;
  leader: RingStatus['leader'];
  highestTerm: number;
}

/** What a connection asks for at the upgrade. */
export interface JoinRequest {
  ring: string;
  role: Role;
  resume: string | null;
  /** `?id=`: the id this connection must have (refused with HTTP 409 while a live one holds it). */
  id: string | null;
  host: string | null;
  meta: Meta | null;
}

export interface ConnectionHubOptions {
  limits: RelayLimits;
  logger: Logger;
  metrics: RelayMetrics;
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /** Terms at or below this were used before, for every ring. */
  termFloor?: number;
  /** The state file: each ring's own floor, and where rings record what they reach (relay/stateFile.ts). */
  terms?: RingTerms | undefined;
  /**
   * The etcd store (--store): which rings this relay serves. A ring is hosted only while it is
   * served; its floor and records go to the owner (and `terms` is not used). A record the owner
   * refuses stops that ring here (the relay goes on): another relay owns it.
   */
  owner?: RingOwner | undefined;
}

/** What the hub needs of a store that decides which relay serves each ring (relay/store/etcdRelayStore.ts). */
export interface RingOwner extends RingTerms {
  /** Judged at every call on the relay's monotonic clock: false as soon as its lease may have run out. */
  serving(ring: string): boolean;
  ownership(ring: string): { serving: boolean; activeRelay: string | null };
}

/**
 * Where rings keep their terms across restarts (the state file, relay/termStore.ts; any store of
 * the same shape). A ring holds what its machine decided after a term change (the frame that
 * raised it first) until `record` resolves; other rings go on meanwhile.
 */
export interface RingTerms {
  floor(ring: string): number;
  /** Resolves once recorded durably; rejects when it cannot (the relay then stops before forwarding). */
  record(ring: string, highestTerm: number, leader: LeaderInfo | null): Promise<void>;
}

/** How long a peer we closed gets to finish the closing handshake before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

export class ConnectionHub implements Carrier<Connection> {
  private readonly bySerial = new Map<number, Connection>();
  private readonly perAddress = new Map<string, number>();
  private readonly rings = new Map<string, RingHost<Connection>>();
  private readonly limits: RelayLimits;
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly debug: boolean;
  private readonly inspect: ((event: InspectionEvent) => void) | undefined;
  private readonly termFloor: number | undefined;
  private readonly terms: RingTerms | undefined;
  private readonly owner: RingOwner | undefined;
  private readonly writer = new OutboxWriter();
  private heartbeat: NodeJS.Timeout | null = null;
  private serial = 0;

  constructor({ limits, logger, metrics, inspect, termFloor, terms, owner }: ConnectionHubOptions) {
    this.limits = limits;
    this.log = logger;
    this.metrics = metrics;
    this.debug = logger.isLevelEnabled('debug');
    this.inspect = inspect;
    this.termFloor = termFloor;
    this.owner = owner;
    this.terms = owner ?? terms;
    if (owner === undefined) this.ring(DEFAULT_RING, true);
  }

  /**
   * This relay no longer serves `ring` (--store): close its sockets with 4010 so members go to
   * the relay that serves it now, and forget its machine: nothing more is delivered for it here,
   * and a later claim starts from etcd's record. Safe to call for a ring not hosted.
   */
  stopRing(name: string, reason: string): void {
    const ring = this.rings.get(name);
    if (ring === undefined) return;
    this.rings.delete(name);
    this.metrics.rings.delete(name);
    ring.stop();
    let closed = 0;
    for (const connection of [...this.bySerial.values()]) {
      if (connection.ring !== ring) continue;
      connection.leaveReason = 'close';
      connection.closeCode = CLOSE_CODES.ringMoved;
      this.drop(connection, { code: CLOSE_CODES.ringMoved, reason: 'ring moved to another relay' });
      closed += 1;
    }
    this.log.warn({ ring: name, reason, closed }, 'ring no longer served by this relay: its sockets closed (4010)');
  }

  /** This relay serves `ring` now (--store): its machine starts at the next join, from the floor etcd held. */
  ringServed(name: string): void {
    // A host left from an earlier period would carry terms older than the record just read.
    if (this.rings.has(name)) this.stopRing(name, 'claimed again');
  }

  /** Whether `ring` may be carried on here now; stops it at once when the owner says not (a frame or ping that came before the 'stopped' event). */
  private served(ring: RingHost<Connection>): boolean {
    if (this.owner === undefined || this.owner.serving(ring.name)) return this.rings.get(ring.name) === ring;
    this.stopRing(ring.name, 'this relay can no longer be sure it owns the ring');
    return false;
  }

  startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => this.pingAll(), this.limits.heartbeatIntervalMs);
  }

  /** Why an upgrade from `remote` for `request` must be refused now, or null to go ahead. */
  refusal(
    remote: string,
    request: Pick<JoinRequest, 'ring' | 'role' | 'id'>,
  ): Extract<RefusalReason, 'ring_full' | 'too_many_connections' | 'too_many_from_address' | 'too_many_rings' | 'id_taken'> | null {
    if (this.bySerial.size >= this.limits.maxConnections) return 'too_many_connections';
    if ((this.perAddress.get(remote) ?? 0) >= this.limits.maxConnectionsPerAddress) return 'too_many_from_address';
    const ring = this.rings.get(request.ring);
    if (ring === undefined) return this.rings.size >= this.limits.maxRings && !this.makeRoomFor(request.role) ? 'too_many_rings' : null;
    if (request.id !== null && ring.idTaken(request.id)) return 'id_taken';
    return ring.hasRoom(request.role) ? null : 'ring_full';
  }

  /** Takes over a freshly upgraded socket and asks its ring's machine to admit it. */
  accept(socket: WebSocket, tcp: Socket, request: JoinRequest, remote: string): void {
    if (this.owner !== undefined && !this.owner.serving(request.ring)) {
      // The ring moved between the upgrade's check and now.
      socket.close(CLOSE_CODES.ringMoved, 'ring moved to another relay');
      setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
      return;
    }
    const serial = ++this.serial;
    const ring = this.ring(request.ring, true);
    const connection: Connection = {
      serial,
      id: null,
      ring,
      role: request.role,
      socket,
      outbox: createOutbox(tcp, () => socket.readyState === socket.OPEN),
      remote,
      lines: new LineBudget(),
      alive: ANSWERED_AT_JOIN,
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
    // With --store, members' lease pings are answered here (autoPong is off): a relay that may
    // have lost the ring renews no member's lease on it, even for a ping read before its lease
    // timer fired (waking from a freeze).
    if (this.owner !== undefined) {
      socket.on('ping', (data: Buffer) => {
        if (connection.gone || !this.served(ring)) return;
        try {
          socket.pong(data);
        } catch {
          // Closing; its close event removes it.
        }
      });
    }
    socket.on('error', (error: Error & { code?: string }) => this.socketError(connection, error));
    socket.on('close', (code: number) => this.leave(connection, 'close', code));
    ring.connect(connection, { resume: request.resume, id: request.id, host: request.host, role: request.role, meta: request.meta });
  }

  /** `/status` of a ring, or null when the relay has no ring of that name. */
  status(ringName: string = DEFAULT_RING): RelayStatus | null {
    const { owner } = this;
    if (owner !== undefined) {
      if (!isValidRingName(ringName)) return null;
      const ownership = owner.ownership(ringName);
      const ring = ownership.serving ? this.rings.get(ringName) : undefined;
      // A standby (or a served ring nobody joined yet): no members, the floor this relay knows.
      const base: RingStatus =
        ring?.status() ?? { protocol: 1, ring: ringName, members: [], memberDetails: [], observers: [], leader: null, highestTerm: owner.floor(ringName) };
      return { ...base, uptimeSeconds: this.metrics.uptimeSeconds, limits: this.limits, serving: ownership.serving, activeRelay: ownership.activeRelay };
    }
    const ring = this.rings.get(ringName);
    if (ring === undefined) return null;
    return { ...ring.status(), uptimeSeconds: this.metrics.uptimeSeconds, limits: this.limits };
  }

  /** `/rings`: every ring the relay keeps, the default first. */
  ringList(): RingSummary[] {
    const { owner } = this;
    return [...this.rings.values()].filter((ring) => owner === undefined || owner.serving(ring.name)).map((ring) => {
      const { members, observers, leader, highestTerm } = ring.context;
      return { name: ring.name, members: members.length, observers: observers.length, leader, highestTerm };
    });
  }

  /** Closes every socket with 1001 without telling the rings (everyone is going), then stops the machines. */
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
    await Promise.all(closing);
    for (const ring of this.rings.values()) ring.stop();
    if (this.owner !== undefined) this.rings.clear();
  }

  // ---- rings ----

  private ring(name: string, create: boolean): RingHost<Connection> {
    let ring = this.rings.get(name);
    if (ring === undefined && create) {
      const { terms, owner } = this;
      const floor = Math.max(this.termFloor ?? 0, terms?.floor(name) ?? 0);
      const host: RingHost<Connection> = new RingHost<Connection>(name, this.limits, this, this.log, this.metrics, {
        ...(floor === 0 ? {} : { termFloor: floor }),
        inspect: this.inspect,
        recordTerms:
          terms === undefined
            ? undefined
            : owner === undefined
              ? (highestTerm, leader) => terms.record(name, highestTerm, leader)
              : (highestTerm, leader) =>
                  // etcd refused (another relay owns the ring) or could not say: this ring stops here, the relay goes on.
                  owner.record(name, highestTerm, leader).catch((error: Error) => {
                    if (this.rings.get(name) === host) this.stopRing(name, `could not record term ${highestTerm}: ${error.message}`);
                    throw error;
                  }),
      });
      ring = host;
      this.rings.set(name, ring);
      if (name !== DEFAULT_RING) this.log.info({ ring: name, rings: this.rings.size }, 'ring opened');
    }
    return ring!;
  }

  /**
   * Makes room for a new ring when the relay holds --max-rings: the oldest empty ring is
   * forgotten; failing that, a member (never an observer) may close the oldest ring that only
   * observers hold. Watching a ring does not keep a slot from a ring that would elect: 47 idle
   * observers once filled --max-rings 50 (issue 21). The default ring is never closed.
   */
  private makeRoomFor(role: Role): boolean {
    return this.evictEmptyRing() || (role === 'member' && this.closeObserverOnlyRing());
  }

  /** Closes the oldest ring with observers and no members: its observers get 1013 (try again later). */
  private closeObserverOnlyRing(): boolean {
    for (const [name, ring] of this.rings) {
      if (name === DEFAULT_RING || !ring.memberless) continue;
      const watching = ring.connections();
      for (const connection of watching) {
        this.drop(connection, { code: CLOSE_CODES.tryAgainLater, reason: 'ring closed to make room for a ring with members' });
      }
      ring.stop();
      this.rings.delete(name);
      this.metrics.rings.delete(name);
      this.log.info({ ring: name, observers: watching.length }, 'ring with no members closed to make room for a ring with members');
      return true;
    }
    return false;
  }

  /** Makes room for a new ring by forgetting the oldest empty one (never the default). */
  private evictEmptyRing(): boolean {
    for (const [name, ring] of this.rings) {
      if (name === DEFAULT_RING || !ring.empty) continue;
      ring.stop();
      this.rings.delete(name);
      this.metrics.rings.delete(name);
      this.log.info({ ring: name }, 'empty ring forgotten to make room');
      return true;
    }
    return false;
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
    if (this.owner !== undefined && !this.served(connection.ring)) return;
    if (connection.bucket !== null && !connection.bucket.take(performance.now())) {
      this.flooded(connection);
      return;
    }
    connection.limited = false;
    if (isBinary) {
      this.reject(connection, 'bad_frame', 'frames must be JSON text, not binary');
      return;
    }
    const text = data.toString();
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      this.reject(connection, parsed.code, parsed.detail);
      return;
    }
    const frame = parsed.frame;
    if (frame.from !== undefined && frame.from !== connection.id) {
      this.reject(connection, 'bad_frame', 'from is stamped by the relay: leave it out or use your own id');
      return;
    }
    if (this.debug) this.log.debug({ clientId: connection.id, ring: connection.ring.name, type: frame.type, to: frame.to }, 'frame');
    connection.ring.frame(connection, frame, { text, data });
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
  reject(connection: Connection, code: ErrorCode, detail: string): void {
    this.metrics.rejected[code] += 1;
    if (connection.loggedCodes.has(code)) {
      this.metrics.rejectionsUnlogged += 1;
      connection.unlogged += 1;
    } else {
      connection.loggedCodes.add(code);
      this.log.warn({ clientId: connection.id, ring: connection.ring.name, code, detail }, 'rejected frame');
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
    this.log.warn({ clientId: connection.id, ring: connection.ring.name, code, detail: error.message, wsError: error.code }, 'rejected frame');
    this.leave(connection, tooLarge ? 'too_large' : 'protocol_error');
  }

  // ---- outbound (Carrier) ----

  private send(connection: Connection, frame: ServerFrame): void {
    this.metrics.relayFramesSent.error += frame.type === 'error' ? 1 : 0;
    this.write(connection, textMessage(encodeFrame(frame)));
  }

  write(connection: Connection, message: Buffer): void {
    if (connection.gone) return;
    if (backlogOf(connection.outbox) + message.length > this.limits.maxBacklogBytes) {
      this.leave(connection, 'backlog', undefined, { code: CLOSE_CODES.backlogFull, reason: 'backlog full: not reading' });
      return;
    }
    this.writer.push(connection.outbox, message);
  }

  turnAway(connection: Connection, reason: string, code: 'ring_full' | 'id_taken'): void {
    this.drop(connection, { code: code === 'id_taken' ? CLOSE_CODES.idTaken : CLOSE_CODES.tryAgainLater, reason: reason.slice(0, 120) });
  }

  leaveFields(connection: Connection): Record<string, unknown> {
    return {
      reason: connection.leaveReason,
      closeCode: connection.closeCode,
      ...(connection.unlogged > 0 ? { rejectedUnlogged: connection.unlogged } : {}),
    };
  }

  // ---- leaving ----

  private pingAll(): void {
    for (const connection of this.bySerial.values()) {
      const verdict = judgeHeartbeat(connection.alive);
      if (verdict.kind === 'drop') {
        this.leave(connection, 'heartbeat');
        connection.socket.terminate();
        continue;
      }
      connection.alive = verdict.answered;
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
    if (connection.id !== null && connection.role === 'member') connection.ring.metrics.leaves[reason] += 1;
    connection.ring.disconnect(connection);
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
