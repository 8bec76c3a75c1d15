/**
 * `startRelay`: the relay as a value, for the CLI, tests, benchmarks and `ringleader up`.
 * One HTTP server carries both the WebSocket upgrades (checked against RING_TOKEN) and the
 * /healthz, /status, /metrics endpoints.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LevelWithSilent } from 'pino';
import { WebSocketServer } from 'ws';
import { createInspection } from '../runtime/inspection.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import { presentedToken, tokenMatches } from '../runtime/token.js';
import { DEFAULT_RING, isValidClientId, isValidHost, isValidRingName, parseMeta, type Meta } from '../machines/protocol.js';
import { redirectUpgrade, refuseUpgrade } from './auth.js';
import { ConnectionHub, type JoinRequest, type RingTerms, type RelayStatus, type RingSummary } from './connections.js';
import { createHttpHandler } from './http.js';
import { leaseFor, relayTimingFor } from '../machines/timing.js';
import { DEFAULT_LIMITS, effectiveLimits, type RefusalReason, type RelayLimits } from './limits.js';
import { RelayMetrics } from './metrics.js';
import { TermStore } from './termStore.js';
import { EtcdRelayStore } from './store/etcdRelayStore.js';
import { StoreConfigError } from './store/storeConfig.js';

export interface RelayOptions {
  /** 0 (the default here) picks a free ephemeral port; the CLI defaults to 8080. */
  port?: number;
  /** Interface to listen on (default 0.0.0.0, so containers can reach it). */
  host?: string;
  /** Shared secret; when set, upgrades without it get HTTP 401. */
  token?: string | undefined;
  /** Frozen peers leave the ring within about this long (two heartbeat intervals). */
  leaderTimeoutMs?: number;
  /** Overrides of the limits; heartbeatIntervalMs defaults to leaderTimeoutMs / 2. */
  limits?: Partial<RelayLimits>;
  /** Defaults to a pino logger with component "relay" at `logLevel`. */
  logger?: Logger;
  /** The level of that default logger (default `info`): `'warn'` keeps a healthy relay silent. */
  logLevel?: LevelWithSilent;
  inspectUrl?: string | undefined;
  /** Terms at or below this were used before this relay started; joiners are told (`welcome.term`). */
  termFloor?: number;
  /**
   * Keep each ring's highest term and reported leader in this file across restarts
   * (relay/stateFile.ts, relay/termStore.ts). A file that cannot be trusted, is locked by another
   * relay or cannot be written makes startRelay throw StateFileError. A failed write while
   * running stops the relay before it forwards the frame whose term it could not record (a later
   * relay could reuse that term): it logs fatal once, closes, and `closed` rejects with the
   * StateFileError. The file names at most `limits.maxRings` rings (more are folded into one
   * shared floor; docs/GUARANTEES.md).
   */
  stateFile?: string | undefined;
  /**
   * `etcd://host:2379[,host:2379...]`: share rings with every relay on this store and prefix
   * (relay/store/etcdRelayStore.ts). Each ring is served by one relay at a time; the others
   * answer its joins with 307 to it and take it over when it stops. Needs `advertiseUrl`; not
   * with `stateFile` (etcd keeps the terms). startRelay throws StoreConfigError (exit code 2),
   * StoreUnreachableError (4) or AdvertiseUrlInUseError (5), each with its `exitCode`.
   */
  store?: string | undefined;
  /** Where this deployment's keys live in etcd. Default `ringleader/`. */
  storePrefix?: string | undefined;
  /** How members reach this relay, `ws://host:port` (where standbys redirect joiners). */
  advertiseUrl?: string | undefined;
  /** The etcd lease's TTL in whole seconds (default 8: docs/GUARANTEES.md). */
  storeLeaseTtlSeconds?: number | undefined;
}

export interface RunningRelay {
  /** Where clients connect, e.g. ws://127.0.0.1:41234 (loopback when listening on every interface). */
  url: string;
  port: number;
  host: string;
  /** True when joins need the ring token. */
  auth: boolean;
  /** The limits in force (the defaults with `limits` and `leaderTimeoutMs` applied). */
  limits: RelayLimits;
  /** `/status` of the default ring (always there), or of a named ring (null when the relay has none by that name). */
  status(): RelayStatus;
  status(ring: string): RelayStatus | null;
  /** `/rings`: every ring the relay keeps. */
  rings(): RingSummary[];
  /** The /metrics text. */
  metrics(): string;
  /** Closes every socket with 1001 and stops listening. Safe to call more than once. */
  close(): Promise<void>;
  /**
   * Settles once the relay has closed: resolves after close(); rejects (with a StateFileError)
   * when the relay stopped itself because it could not record a term in its state file. Handle
   * it when you use a state file: left unhandled, Node ends the process, as `ringleader relay` does.
   */
  readonly closed: Promise<void>;
}

export async function startRelay(options: RelayOptions = {}): Promise<RunningRelay> {
  const host = options.host ?? '0.0.0.0';
  const timing = relayTimingFor(options.leaderTimeoutMs);
  const limits = effectiveLimits({
    ...DEFAULT_LIMITS,
    leaderTimeoutMs: timing.leaderTimeoutMs,
    heartbeatIntervalMs: timing.heartbeatMs,
    forwardTimeoutMs: timing.forwardTimeoutMs,
    ...options.limits,
  });
  const token = options.token === '' ? undefined : options.token;
  const logger = options.logger ?? createLogger({ component: 'relay', level: options.logLevel ?? 'info' });
  // Before anything is opened: an untrustworthy file stops the start with nothing to clean up.
  if (options.store !== undefined && options.stateFile !== undefined) {
    throw new StoreConfigError('--store and --state-file exclude each other: with --store, etcd keeps every ring\'s terms (leave --state-file out)');
  }
  if (options.store !== undefined && options.advertiseUrl === undefined) {
    throw new StoreConfigError('--store needs --advertise-url ws://host:port (how members reach this relay; standbys redirect joiners there)');
  }
  // The nodes' lease W on their relay link is a third of the leader timeout (machines/nodeMachine.ts):
  // the relay stops serving at least W (and the clock allowance) before etcd may hand a ring over.
  const relayStore =
    options.store === undefined
      ? undefined
      : await EtcdRelayStore.open({
          store: options.store,
          prefix: options.storePrefix,
          advertiseUrl: options.advertiseUrl!,
          nodeLeaseMs: leaseFor(timing.leaderTimeoutMs),
          logger,
          leaseTtlSeconds: options.storeLeaseTtlSeconds,
        });
  const store = options.stateFile === undefined ? undefined : await TermStore.open(options.stateFile, { maxRings: limits.maxRings });
  if (store !== undefined) logger.info({ stateFile: store.path, rings: store.size, maxRings: limits.maxRings }, 'terms kept in the state file');
  let settleClosed!: { resolve: () => void; reject: (error: Error) => void };
  const closed = new Promise<void>((resolve, reject) => {
    settleClosed = { resolve, reject };
  });
  let failure: Error | null = null;
  let closeRelay: () => Promise<void> = async () => {};
  const stopOnFailedRecord = (error: Error, ring: string, highestTerm: number) => {
    if (failure !== null) return;
    failure = error;
    logger.fatal({ err: error, ring, highestTerm, stateFile: options.stateFile }, 'could not record the term in the state file: the relay stops before forwarding it');
    void closeRelay();
  };
  const inspection = createInspection({ url: options.inspectUrl, name: 'relay', logger });
  const metrics = new RelayMetrics();
  const hub = new ConnectionHub({
    terms: store === undefined ? undefined : failStopTerms(store, stopOnFailedRecord),
    owner: relayStore,
    limits,
    logger,
    metrics,
    inspect: inspection.inspect,
    ...(options.termFloor === undefined ? {} : { termFloor: options.termFloor }),
  });

  if (relayStore !== undefined) {
    metrics.ringsServed = 0;
    relayStore.onEvent((event) => {
      if (event.type === 'serving') {
        metrics.ownershipClaimed += 1;
        hub.ringServed(event.ring);
      } else if (event.type === 'stopped') {
        metrics.ownershipStopped += 1;
        hub.stopRing(event.ring, event.reason);
      }
      metrics.ringsServed = relayStore.servedRings().length;
    });
  }

  const server = createServer(
    createHttpHandler({ status: (ring) => hub.status(ring ?? DEFAULT_RING), rings: () => hub.ringList(), metrics: () => metrics.render() }),
  );
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayloadBytes,
    clientTracking: false,
    perMessageDeflate: false,
    // With --store the hub answers pings itself, only for rings this relay still serves.
    autoPong: relayStore === undefined,
  });

  const refuse = (socket: Duplex, reason: RefusalReason, status: 400 | 401 | 409 | 503, message: string, fields: Record<string, unknown>, retryAfterSeconds?: number) => {
    metrics.refused[reason] += 1;
    if (reason === 'unauthorized') metrics.rejected.unauthorized += 1;
    logger.warn({ clientId: null, code: reason, ...fields }, `rejected join: ${message}`);
    refuseUpgrade(socket, status, message, retryAfterSeconds);
  };

  // Every path, query and header ends in an HTTP answer or an upgraded socket: an exception here
  // would reach the server's emitter and end the process (a URIError once did: issue 21).
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      upgrade(request, socket, head);
    } catch (error) {
      logger.error({ err: error, target: request.url?.slice(0, 200) }, 'upgrade handling failed');
      if (socket.writable) refuseUpgrade(socket, 500, 'internal error');
      else socket.destroy();
    }
  });

  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const remote = request.socket.remoteAddress ?? 'unknown';
    const target = request.url ?? '/';
    let url: URL;
    try {
      url = new URL(target, 'ws://relay');
    } catch {
      refuse(socket, 'bad_request', 400, 'unreadable request URL', { target: shown(target), remote });
      return;
    }
    if (token !== undefined && !tokenMatches(presentedToken(request, url), token)) {
      refuse(socket, 'unauthorized', 401, 'missing or wrong ring token: send "Authorization: Bearer <token>" or ?token=', { remote });
      return;
    }
    const join = readJoinRequest(url, target);
    if (!join.ok) {
      refuse(socket, 'bad_request', 400, join.reason, { remote, target: shown(target) });
      return;
    }
    if (relayStore === undefined) {
      admit(request, socket, head, join.request, remote);
      return;
    }
    // Every path ends in an answer: the 307, a 503, or the upgrade.
    relayStore.want(join.request.ring).then(
      (ownership) => {
        if (socket.destroyed) return;
        if (ownership.serving) {
          admit(request, socket, head, join.request, remote);
        } else if (ownership.activeRelay !== null) {
          metrics.refused.redirected += 1;
          logger.debug({ ring: join.request.ring, remote, to: ownership.activeRelay }, 'join redirected to the relay that serves the ring');
          redirectUpgrade(socket, ownership.activeRelay + (request.url ?? '/'), `ring ${join.request.ring} is served by ${ownership.activeRelay}`);
        } else {
          refuse(socket, 'no_active_relay', 503, `no relay serves ring ${join.request.ring} at this instant (one takes it over within seconds); try again`, { remote, ring: join.request.ring }, 1);
        }
      },
      (error: Error) => {
        if (socket.destroyed) return;
        refuse(socket, 'store_unavailable', 503, `this relay cannot ask its store who serves the ring: ${error.message}`, { remote, ring: join.request.ring }, 1);
      },
    ).catch((error: unknown) => {
      logger.error({ err: error }, 'answering an upgrade failed');
      socket.destroy();
    });
  };

  function admit(request: IncomingMessage, socket: Duplex, head: Buffer, join: JoinRequest, remote: string): void {
    const refusal = hub.refusal(remote, join);
    if (refusal !== null) {
      refuse(socket, refusal, refusal === 'id_taken' ? 409 : 503, REFUSALS[refusal](limits, join.id), { remote, ring: join.ring });
      return;
    }
    sockets.handleUpgrade(request, socket, head, (websocket) => {
      try {
        hub.accept(websocket, socket as Socket, join, remote);
      } catch (error) {
        // A bug in admitting one socket costs that socket, never the relay.
        logger.error({ err: error, remote, ring: join.ring }, 'could not admit an upgraded socket');
        websocket.terminate();
      }
    });
  }
  // CONNECT is no method of the relay's; with no listener Node would drop the socket unanswered.
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  // A request Node cannot parse (garbage, a bad header, a head over 16 KB) gets 400 or 431 and
  // its socket is closed, never the server.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE') {
      socket.destroy();
      return;
    }
    // As Node's own handler does: write the answer and destroy at once (a peer that sent half a
    // request and stopped reading must not keep the socket open).
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if ((socket as Socket).bytesWritten === 0) socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // Not listening: release the state file's lock and what the hub holds, then say why.
    await hub.closeAll();
    inspection.stop();
    await store?.close();
    await relayStore?.close();
    throw error;
  }
  server.on('error', (error) => logger.error({ err: error }, 'relay server error'));
  hub.startHeartbeat();
  // The default ring is always there without a store; with one, every relay stands by for it
  // from the start, so one serves it and the others take it over when that one stops.
  if (relayStore !== undefined) await relayStore.want(DEFAULT_RING);

  const port = (server.address() as AddressInfo).port;
  const url = `ws://${urlHost(host)}:${port}`;
  // At the level it was given: an embedding program learns the port from `port` and `url`.
  // (`ringleader relay` writes this line even at LOG_LEVEL=warn: other processes read it.)
  let closing: Promise<void> | null = null;
  closeRelay = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await hub.closeAll();
      // Gives the etcd lease back: standbys take the rings over at once, not a TTL later.
      await relayStore?.close();
      sockets.close();
      server.closeAllConnections();
      await stopped;
      inspection.stop();
      await store?.close();
      logger.info({ port }, 'relay stopped');
      if (failure === null) settleClosed.resolve();
      else settleClosed.reject(failure);
    })();
    return closing;
  };
  const relay: RunningRelay = {
    url,
    port,
    host,
    auth: token !== undefined,
    limits,
    status: ((ring?: string) => hub.status(ring ?? DEFAULT_RING)) as RunningRelay['status'],
    rings: () => hub.ringList(),
    metrics: () => metrics.render(),
    close: () => closeRelay(),
    closed,
  };
  logger.info(listeningFields(relay), RELAY_LISTENING);
  return relay;
}

/** The line that says where the relay listens, with its fields (relay/cli.ts writes it too). */
export const RELAY_LISTENING = 'relay listening';
export function listeningFields(relay: RunningRelay): Record<string, unknown> {
  return { port: relay.port, url: relay.url, host: relay.host, auth: relay.auth, limits: relay.limits };
}

/**
 * What an upgrade asks for: the ring (`/rings/<name>`; any other path is the default ring, as it
 * always was), the role (`?role=member|observer`), `?id=`, `?resume=`, `?host=` and `?meta=`. Anything
 * malformed is refused (HTTP 400) with the rule it broke.
 */
function readJoinRequest(url: URL, rawTarget: string): { ok: true; request: JoinRequest } | { ok: false; reason: string } {
  let ring = DEFAULT_RING;
  if (url.pathname === '/rings' || url.pathname.startsWith('/rings/')) {
    const name = decodedOrNull(url.pathname.slice('/rings/'.length));
    if (name === null || !isValidRingName(name)) return { ok: false, reason: 'ring names are 1-64 of A-Z a-z 0-9 . _ - (join ws://relay/rings/<name>)' };
    ring = name;
  }
  const role = url.searchParams.get('role') ?? 'member';
  if (role !== 'member' && role !== 'observer') return { ok: false, reason: 'role must be "member" or "observer"' };
  const id = url.searchParams.get('id');
  if (id !== null && !isValidClientId(id)) return { ok: false, reason: 'id must be 1-64 of A-Z a-z 0-9 . _ : - and not "next" or "all"' };
  const host = url.searchParams.get('host');
  if (host !== null && !isValidHost(host)) return { ok: false, reason: 'host must be a hostname: 1-253 of A-Z a-z 0-9 . _ -' };
  let meta: Meta | null = null;
  const metaText = url.searchParams.get('meta');
  if (metaText !== null) {
    const parsed = parseMeta(metaText, Buffer.byteLength(rawParameter(rawTarget, 'meta') ?? ''));
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    meta = parsed.meta;
  }
  return { ok: true, request: { ring, role, resume: url.searchParams.get('resume'), id, host, meta } };
}

/** `decodeURIComponent`, or null for a malformed escape such as `%E0%A4%A` (it throws URIError). */
function decodedOrNull(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/**
 * The first parameter named `name` as it came (still encoded), with names decoded the way the URL
 * parser decodes them: `?%6Deta=` is `meta` to `searchParams.get` and must be to the size check.
 */
function rawParameter(rawTarget: string, name: string): string | null {
  const queryAt = rawTarget.indexOf('?');
  if (queryAt === -1) return null;
  const hashAt = rawTarget.indexOf('#', queryAt);
  const query = rawTarget.slice(queryAt + 1, hashAt === -1 ? undefined : hashAt);
  for (const pair of query.split('&')) {
    const equalsAt = pair.indexOf('=');
    const rawName = equalsAt === -1 ? pair : pair.slice(0, equalsAt);
    if (rawName === '' && equalsAt === -1) continue;
    if (new URLSearchParams(`${rawName}=`).keys().next().value === name) return equalsAt === -1 ? '' : pair.slice(equalsAt + 1);
  }
  return null;
}

/** A request target as logged: a hostile one may be 16 KB. */
function shown(target: string): string {
  return target.length > 200 ? `${target.slice(0, 200)}...` : target;
}

/**
 * The store as rings use it: a record that fails stops the relay (`stop`), while the ring that
 * asked holds the frame that raised the term, so it is never forwarded. Going on would promise a
 * floor the next relay cannot know.
 */
function failStopTerms(store: RingTerms, stop: (error: Error, ring: string, highestTerm: number) => void): RingTerms {
  return {
    floor: (ring) => store.floor(ring),
    record: (ring, highestTerm, leader) =>
      store.record(ring, highestTerm, leader).catch((error: Error) => {
        stop(error, ring, highestTerm);
        throw error;
      }),
  };
}

/** What a refused upgrade is told (HTTP 503 bodies; 409 for a taken `?id=`). */
const REFUSALS: Record<'ring_full' | 'too_many_connections' | 'too_many_from_address' | 'too_many_rings' | 'id_taken', (limits: RelayLimits, id: string | null) => string> = {
  id_taken: (_limits, id) => `the id ${id} is taken: a live member of this ring holds it`,
  too_many_rings: (limits) => `too many rings: this relay keeps at most ${limits.maxRings}, and none is empty; try again later`,
  ring_full: (limits) =>
    `the ring is full: this relay admits ${limits.maxMembers} members (an election frame naming them all must fit --max-payload ${limits.maxPayloadBytes}); try again later`,
  too_many_connections: (limits) => `too many connections: this relay holds at most ${limits.maxConnections}; try again later`,
  too_many_from_address: (limits) => `too many connections from your address: at most ${limits.maxConnectionsPerAddress}; try again later`,
};

/** A host clients can dial: loopback for the wildcard addresses, brackets for IPv6. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '' ) return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
