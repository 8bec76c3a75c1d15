/**
 * The inspector server: one HTTP port that
 * - ingests inspection streams at ws://host:port/inspect (INSPECT_URL of every node and the relay;
 *   each message is one @statelyai/inspect event as JSON, see runtime/inspection.ts),
 * - pushes the ring's picture to pages at ws://host:port/events (inspector/server/messages.ts),
 * - serves the page (GET /), its state as JSON (GET /api/state), what it holds (GET /api/stats)
 *   and the controls (POST /api/control),
 * - bridges everything to the Stately inspector (GET /stately).
 * When the relay does not stream its machine, membership comes from the relay's GET /status. A
 * page may pick another of the relay's rings (`/events?ring=<name>`, pickedRing.ts).
 * Every request passes requestPolicy.ts (no cross-site requests), the read endpoints and /inspect
 * need RING_TOKEN when it is set, inspection input is checked by ingest.ts, and what the
 * inspector keeps is bounded (InspectorLimits).
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_RING, isValidRingName } from '../../machines/protocol.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Logger } from '../../runtime/logger.js';
import type { RingControl } from '../../runtime/control.js';
import { MAX_RING_NODES, controlEndpoint } from './controlEndpoint.js';
import { faultReporter, guarded, worthLogging } from './faults.js';
import { presentedToken, tokenMatches } from '../../runtime/token.js';
import { INSPECTION_MESSAGE_LIMIT } from '../../runtime/inspection.js';
import { sendJson } from './http.js';
import { parseInspectionMessage } from './ingest.js';
import type { RingState, RingSummaryView, ServerMessage } from './messages.js';
import { stateForRing } from './pickedRing.js';
import { startRelayStatusPoller } from './relayStatus.js';
import { RequestPolicy, type AllowedHost } from './requestPolicy.js';
import { GONE_LIMIT, RingModel, type RelayStatus } from './ringModel.js';
import { findWebRoot, serveStatic } from './staticFiles.js';
import { DEFAULT_REPLAY_LIMITS, StatelyReplay, statelyBridgePage, type ReplayLimits } from './statelyBridge.js';

export interface InspectorOptions {
  port: number;
  /** The relay's WebSocket URL (ws://host:8080), or several relays on one store; /status fills in membership when the relay does not stream. */
  relayUrl: string | readonly string[];
  /** Present when `ringleader up` owns the processes; without it the page shows no controls. */
  control?: RingControl | undefined;
  logger: Logger;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string | undefined;
  /** Host header values accepted besides the names of the interface it listens on (requestPolicy.ts). */
  allowedHosts?: readonly AllowedHost[] | undefined;
  /** Admin token for controls, ingest and the read endpoints; defaults to RING_TOKEN. Empty means none. */
  token?: string | undefined;
  /** Folder with the built page; found automatically. */
  webRoot?: string | undefined;
  /** Bounds on what the inspector holds; the defaults are documented in docs/INSPECTOR.md. */
  limits?: Partial<InspectorLimits> | undefined;
}

export interface InspectorLimits extends ReplayLimits {
  /** Ingest (/inspect) connections at once; more get 503. */
  ingestConnections: number;
  /** Page (/events, /stately-events) connections at once; more get 503. */
  pages: number;
  /** The most node processes `addNode` brings the ring to. */
  maxNodes: number;
  /** Crashed or exited nodes remembered (greyed on the page for a minute); the oldest go first. */
  goneNodes: number;
}

export const DEFAULT_LIMITS: InspectorLimits = { ...DEFAULT_REPLAY_LIMITS, ingestConnections: 1000, pages: 100, maxNodes: MAX_RING_NODES, goneNodes: GONE_LIMIT };

export interface RunningInspector {
  /** The page, e.g. http://127.0.0.1:8090/ */
  url: string;
  /** What INSPECT_URL should be for every process, e.g. ws://127.0.0.1:8090/inspect */
  ingestUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Largest inspection message accepted (a machine definition is ~20 KB); producers drop larger ones themselves. */
const INGEST_MAX_BYTES = INSPECTION_MESSAGE_LIMIT;
/** Pages that fall this far behind are disconnected rather than buffered without bound. */
const PAGE_BACKLOG_LIMIT = 8 << 20;
const STATE_PUSH_MS = 50;
/** Endpoints that show the ring: they need the token when one is set. */
const READ_PATHS = new Set(['/api/state', '/api/stats', '/events', '/stately-events']);

export async function startInspector(options: InspectorOptions): Promise<RunningInspector> {
  const { logger, control } = options;
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? process.env.RING_TOKEN ?? '';
  const limits: InspectorLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const webRoot = options.webRoot ?? findWebRoot();
  if (webRoot === null) logger.warn('inspector page is not built (run "npm run build"); serving the API only');
  const report = faultReporter(logger);

  /** Each page, with the ring it shows. */
  const pages = new Map<WebSocket, string>();
  /** Status of the rings pages picked besides the default (the model has the default's). */
  const pickedStatus = new Map<string, RelayStatus | null>();
  let rings: RingSummaryView[] | null = null;
  const statelyPages = new Set<WebSocket>();
  const replay = new StatelyReplay(limits);
  const counters = { messages: 0, invalid: 0, notApplied: 0, replayDropped: 0, refused: 0 };
  let stateTimer: NodeJS.Timeout | null = null;

  /** `defaultRingOnly`: what comes from the streams (frames), which are drawn on the default ring's view only. */
  const broadcast = (message: ServerMessage, defaultRingOnly = false) => {
    const text = JSON.stringify(message);
    for (const [page, ring] of pages) if (!defaultRingOnly || ring === DEFAULT_RING) sendToPage(page, text);
  };
  const stateOf = (ring: string, base?: RingState): RingState =>
    ring === DEFAULT_RING ? (base ?? model.state()) : stateForRing(pickedStatus.get(ring) ?? null);
  const pushState = guarded(report, 'state push', () => {
    stateTimer = null;
    const base = [...pages.values()].includes(DEFAULT_RING) ? model.state() : undefined;
    const texts = new Map<string, string>();
    for (const [page, ring] of pages) {
      let text = texts.get(ring);
      if (text === undefined) texts.set(ring, (text = JSON.stringify({ type: 'state', state: stateOf(ring, base) } satisfies ServerMessage)));
      sendToPage(page, text);
    }
  });
  const schedulePush = () => {
    if (stateTimer !== null || pages.size === 0) return;
    stateTimer = setTimeout(pushState, STATE_PUSH_MS);
  };
  const model = new RingModel(
    {
      frame: (frame) => broadcast({ type: 'frame', frame }, true),
      log: (entry) => broadcast({ type: 'log', entry }),
      changed: () => schedulePush(),
    },
    Date.now,
    limits.goneNodes,
  );
  const handleControl = controlEndpoint({ control, token, logger, model, maxNodes: limits.maxNodes });
  // Known once the server listens (port 0 picks one); nothing is served before.
  let policy!: RequestPolicy;

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      report('HTTP request', error);
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  });
  // CONNECT is no method of the inspector's; with no listener Node would drop the socket unanswered.
  server.on('connect', (_request: IncomingMessage, socket: Socket) => {
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  const authorized = (request: IncomingMessage, url: URL) => !token || tokenMatches(presentedToken(request, url), token);

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://inspector');
    } catch {
      return sendJson(response, 400, { error: 'unreadable request URL' });
    }
    const { pathname } = url;
    if (pathname === '/healthz') return sendJson(response, 200, { ok: true });
    const refusal = policy.refusal(request);
    if (refusal !== null) return refuse(request, response, 403, refusal);
    if (READ_PATHS.has(pathname) && !authorized(request, url)) return refuse(request, response, 401, 'wrong or missing token (RING_TOKEN): send "Authorization: Bearer <token>" or ?token=');
    if (pathname === '/api/state' && request.method === 'GET') {
      const ring = pickedRing(url);
      if (ring === DEFAULT_RING || pickedStatus.has(ring)) return sendJson(response, 200, stateOf(ring));
      return sendJson(response, 200, stateForRing(await poller.readStatus(ring)));
    }
    if (pathname === '/api/stats' && request.method === 'GET') return sendJson(response, 200, stats());
    if (pathname === '/api/control') return handleControl(request, response);
    if (pathname === '/stately' && request.method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(statelyBridgePage());
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendJson(response, 405, { error: 'method not allowed' });
    serveStatic(webRoot, request, response, pathname);
  }

  function refuse(request: IncomingMessage, response: ServerResponse, status: number, reason: string): void {
    counters.refused += 1;
    if (worthLogging(counters.refused)) logger.warn({ status, reason, path: request.url?.split('?')[0], remote: request.socket.remoteAddress, refused: counters.refused }, 'inspector request refused');
    sendJson(response, status, { error: reason });
  }

  function stats() {
    return {
      ingest: { connections: ingest.clients.size, ...counters },
      pages: { events: pages.size, stately: statelyPages.size },
      retained: { ...model.retained(), replay: replay.retained() },
      limits,
    };
  }

  // ---- WebSockets: ingest, the page's push channel, the Stately bridge ----
  const ingest = new WebSocketServer({ noServer: true, maxPayload: INGEST_MAX_BYTES });
  const events = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  server.on(
    'upgrade',
    guarded(report, 'WebSocket upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const refuseUpgrade = (status: string, reason: string) => {
        counters.refused += 1;
        if (worthLogging(counters.refused)) logger.warn({ status, reason, path: request.url?.split('?')[0], remote: request.socket.remoteAddress, refused: counters.refused }, 'upgrade refused');
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${reason}\n`);
        socket.destroy();
      };
      let url: URL;
      try {
        url = new URL(request.url ?? '/', 'http://inspector');
      } catch {
        // e.g. `GET //`: an unreadable target must cost this socket, never the process.
        return refuseUpgrade('400 Bad Request', 'unreadable request URL');
      }
      const ingesting = url.pathname === '/inspect';
      if (!ingesting && url.pathname !== '/events' && url.pathname !== '/stately-events') return refuseUpgrade('404 Not Found', 'no such endpoint');
      const refusal = policy.refusal(request, { checkHostWithoutOrigin: !ingesting });
      if (refusal !== null) return refuseUpgrade('403 Forbidden', refusal);
      if (!authorized(request, url)) return refuseUpgrade('401 Unauthorized', 'wrong or missing token');
      if (ingesting) {
        if (ingest.clients.size >= limits.ingestConnections) return refuseUpgrade('503 Service Unavailable', 'too many inspection streams');
        ingest.handleUpgrade(request, socket, head, guarded(report, 'inspection stream', (ws: WebSocket) => onIngest(ws, url.searchParams.get('name') ?? 'process')));
        return;
      }
      if (pages.size + statelyPages.size >= limits.pages) return refuseUpgrade('503 Service Unavailable', 'too many pages');
      events.handleUpgrade(request, socket, head, guarded(report, 'page connection', (ws: WebSocket) => (url.pathname === '/events' ? onPage(ws, pickedRing(url)) : onStatelyPage(ws))));
    }),
  );

  function onIngest(ws: WebSocket, requestedName: string): void {
    const key = randomUUID();
    const name = requestedName.slice(0, 64);
    let rejected = 0;
    let replayDropped = 0;
    model.connect(key, name);
    logger.debug({ name }, 'inspection stream connected');
    ws.on(
      'message',
      guarded(report, 'inspection message', (data: RawData, isBinary: boolean) => {
        counters.messages += 1;
        const text = isBinary ? null : data.toString();
        const result = text === null ? ({ ok: false, reason: 'binary message' } as const) : parseInspectionMessage(text);
        if (!result.ok || text === null) {
          rejected += 1;
          counters.invalid += 1;
          if (worthLogging(rejected)) logger.warn({ name, rejected, reason: result.ok ? '' : result.reason }, 'rejected inspection message');
          return;
        }
        const message = result.message;
        try {
          model.ingest(key, message);
        } catch (error) {
          counters.notApplied += 1;
          report('applying an inspection message', error);
          return;
        }
        if ((message.type === '@xstate.actor' || message.type === '@xstate.snapshot') && !replay.record(key, message.type, message.sessionId, text)) {
          replayDropped += 1;
          counters.replayDropped += 1;
          if (replayDropped === 1) logger.warn({ name, limits: { sessions: limits.sessionsPerConnection, bytes: limits.bytesPerConnection, totalBytes: limits.bytesTotal } }, 'inspection stream over its replay limits: further actors are forwarded live but not replayed to late Stately pages');
        }
        for (const page of statelyPages) sendToPage(page, text);
      }),
    );
    ws.on('error', (error) => logger.debug({ err: error.message, name }, 'inspection stream error'));
    ws.on(
      'close',
      guarded(report, 'inspection stream close', () => {
        replay.forget(key);
        model.disconnect(key);
      }),
    );
  }

  function onPage(ws: WebSocket, ring: string): void {
    pages.set(ws, ring);
    ws.on('close', () => {
      pages.delete(ws);
      if (![...pages.values()].includes(ring)) pickedStatus.delete(ring);
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', () => {}); // the page never needs to talk; controls go through POST /api/control
    const hello: ServerMessage = { type: 'hello', controls: control !== undefined, tokenRequired: token !== '', relayUrl: typeof options.relayUrl === 'string' ? options.relayUrl : options.relayUrl.join(','), ring, log: model.recentLog() };
    sendToPage(ws, JSON.stringify(hello));
    sendToPage(ws, JSON.stringify({ type: 'rings', rings } satisfies ServerMessage));
    sendToPage(ws, JSON.stringify({ type: 'state', state: stateOf(ring) } satisfies ServerMessage));
  }

  /** The ring a request asks to see (`?ring=`); anything that cannot name a ring shows the default. */
  function pickedRing(url: URL): string {
    const ring = url.searchParams.get('ring');
    return ring !== null && isValidRingName(ring) ? ring : DEFAULT_RING;
  }

  function onStatelyPage(ws: WebSocket): void {
    statelyPages.add(ws);
    ws.on('close', () => statelyPages.delete(ws));
    ws.on('error', () => ws.terminate());
    for (const message of replay.messages()) sendToPage(ws, message);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => report('HTTP server', error));
  const port = (server.address() as AddressInfo).port;
  policy = new RequestPolicy({ host, port, allowedHosts: options.allowedHosts });
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const poller = startRelayStatusPoller({
    relayUrl: options.relayUrl,
    token,
    logger,
    onStatus: guarded(report, 'relay status', (status) => model.relayStatus(status)),
    pickedRings: () => new Set(pages.values()),
    onRingStatus: guarded(report, 'relay status of a picked ring', (ring: string, status: RelayStatus | null) => {
      // A page that left while this was read takes its ring with it (page-chosen names must not pile up).
      if (![...pages.values()].includes(ring) || JSON.stringify(pickedStatus.get(ring)) === JSON.stringify(status)) return;
      pickedStatus.set(ring, status);
      schedulePush();
    }),
    onRings: guarded(report, 'relay rings', (list: RingSummaryView[] | null) => {
      if (JSON.stringify(list) === JSON.stringify(rings)) return;
      rings = list;
      broadcast({ type: 'rings', rings });
    }),
  });

  return {
    url: `http://${shownHost}:${port}/`,
    ingestUrl: `ws://${shownHost}:${port}/inspect`,
    port,
    async close() {
      poller.stop();
      if (stateTimer) clearTimeout(stateTimer);
      stateTimer = null;
      for (const ws of [...ingest.clients, ...events.clients]) ws.terminate();
      ingest.close();
      events.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function sendToPage(ws: WebSocket, text: string): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount > PAGE_BACKLOG_LIMIT) {
    ws.terminate();
    return;
  }
  ws.send(text);
}
