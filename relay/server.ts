/**
 * `startRelay`: the relay as a value, for the CLI, tests, benchmarks and `ringleader up`.
 * One HTTP server carries both the WebSocket upgrades (checked against RING_TOKEN) and the
 * /healthz, /status, /metrics endpoints.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { createInspection } from '../runtime/inspection.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import { presentedToken, tokenMatches } from '../runtime/token.js';
import { refuseUpgrade } from './auth.js';
import { ConnectionHub, type RelayStatus } from './connections.js';
import { createHttpHandler } from './http.js';
import { DEFAULT_LEADER_TIMEOUT_MS, DEFAULT_LIMITS, heartbeatIntervalFor, type RelayLimits } from './limits.js';
import { RelayMetrics } from './metrics.js';

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
  logLevel?: string;
  inspectUrl?: string | undefined;
  /** Route every frame as a relay-machine event (default: only when inspecting); see ConnectionHub. */
  machineRoutesEveryFrame?: boolean;
}

export interface RunningRelay {
  /** Where clients connect, e.g. ws://127.0.0.1:41234 (loopback when listening on every interface). */
  url: string;
  port: number;
  host: string;
  status(): RelayStatus;
  /** The /metrics text. */
  metrics(): string;
  /** Closes every socket with 1001 and stops listening. Safe to call more than once. */
  close(): Promise<void>;
}

export async function startRelay(options: RelayOptions = {}): Promise<RunningRelay> {
  const host = options.host ?? '0.0.0.0';
  const leaderTimeoutMs = options.leaderTimeoutMs ?? DEFAULT_LEADER_TIMEOUT_MS;
  const limits: RelayLimits = {
    ...DEFAULT_LIMITS,
    heartbeatIntervalMs: heartbeatIntervalFor(leaderTimeoutMs),
    ...options.limits,
  };
  const token = options.token === '' ? undefined : options.token;
  const logger = options.logger ?? createLogger({ component: 'relay', level: options.logLevel ?? 'info' });
  const inspection = createInspection({ url: options.inspectUrl, name: 'relay', logger });
  const metrics = new RelayMetrics();
  const hub = new ConnectionHub({
    limits,
    logger,
    metrics,
    inspect: inspection.inspect,
    ...(options.machineRoutesEveryFrame === undefined ? {} : { machineRoutesEveryFrame: options.machineRoutesEveryFrame }),
  });

  const server = createServer(createHttpHandler({ status: () => hub.status(), metrics: () => metrics.render() }));
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayloadBytes,
    clientTracking: false,
    perMessageDeflate: false,
  });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'ws://relay');
    } catch {
      logger.warn({ clientId: null, code: 'bad_frame', target: request.url }, 'rejected join: unreadable request URL');
      refuseUpgrade(socket, 400, 'unreadable request URL');
      return;
    }
    const remote = request.socket.remoteAddress;
    if (token !== undefined && !tokenMatches(presentedToken(request, url), token)) {
      metrics.rejected.unauthorized += 1;
      logger.warn({ clientId: null, code: 'unauthorized', remote }, 'rejected join: missing or wrong RING_TOKEN');
      refuseUpgrade(socket, 401, 'missing or wrong ring token: send "Authorization: Bearer <token>" or ?token=');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (websocket) => {
      hub.admit(websocket, url.searchParams.get('resume'), remote);
    });
  });
  // Garbage on the HTTP port (not even a request line) closes that socket, never the server.
  server.on('clientError', (_error, socket: Duplex) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'relay server error'));
  hub.startHeartbeat();

  const port = (server.address() as AddressInfo).port;
  const url = `ws://${urlHost(host)}:${port}`;
  // Other processes find the ephemeral port in this line, so it is written even at LOG_LEVEL=warn.
  const announcer = logger.isLevelEnabled('info') || logger.level === 'silent' ? logger : logger.child({}, { level: 'info' });
  announcer.info({ port, url, host, auth: token !== undefined, limits }, 'relay listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    host,
    status: () => hub.status(),
    metrics: () => metrics.render(),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await hub.closeAll();
        sockets.close();
        server.closeAllConnections();
        await stopped;
        inspection.stop();
        logger.info({ port }, 'relay stopped');
      })();
      return closing;
    },
  };
}

/** A host clients can dial: loopback for the wildcard addresses, brackets for IPv6. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '' ) return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
