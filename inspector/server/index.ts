/**
 * The inspector server: one HTTP port that
 * - ingests inspection streams at ws://host:port/inspect (INSPECT_URL of every node and the relay;
 *   each message is one @statelyai/inspect event as JSON, see runtime/inspection.ts),
 * - pushes the ring's picture to pages at ws://host:port/events (inspector/server/messages.ts),
 * - serves the page (GET /), its state as JSON (GET /api/state) and the controls (POST /api/control),
 * - bridges everything to the Stately inspector (GET /stately).
 * When the relay does not stream its machine, membership comes from the relay's GET /status.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Logger } from '../../runtime/logger.js';
import type { RingControl } from '../../runtime/control.js';
import { handleControl } from './controlEndpoint.js';
import { presentedToken, tokenMatches } from '../../runtime/token.js';
import { sendJson } from './http.js';
import type { ServerMessage } from './messages.js';
import { startRelayStatusPoller } from './relayStatus.js';
import { RingModel, type InspectionMessage } from './ringModel.js';
import { findWebRoot, serveStatic } from './staticFiles.js';
import { StatelyReplay, statelyBridgePage } from './statelyBridge.js';

export interface InspectorOptions {
  port: number;
  /** The relay's WebSocket URL (ws://host:8080); its /status fills in membership when the relay does not stream. */
  relayUrl: string;
  /** Present when `ringleader up` owns the processes; without it the page shows no controls. */
  control?: RingControl | undefined;
  logger: Logger;
  /** Interface to listen on (default 0.0.0.0). */
  host?: string | undefined;
  /** Admin token for controls and ingest; defaults to RING_TOKEN. Empty means none. */
  token?: string | undefined;
  /** Folder with the built page; found automatically. */
  webRoot?: string | undefined;
}

export interface RunningInspector {
  /** The page, e.g. http://127.0.0.1:8090/ */
  url: string;
  /** What INSPECT_URL should be for every process, e.g. ws://127.0.0.1:8090/inspect */
  ingestUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Largest inspection message accepted (a machine definition is ~20 KB). */
const INGEST_MAX_BYTES = 1 << 20;
const MAX_INGEST_CONNECTIONS = 1000;
/** Pages that fall this far behind are disconnected rather than buffered without bound. */
const PAGE_BACKLOG_LIMIT = 8 << 20;
const STATE_PUSH_MS = 50;

export async function startInspector(options: InspectorOptions): Promise<RunningInspector> {
  const { logger, control } = options;
  const host = options.host ?? '0.0.0.0';
  const token = options.token ?? process.env.RING_TOKEN ?? '';
  const webRoot = options.webRoot ?? findWebRoot();
  if (webRoot === null) logger.warn('inspector page is not built (run "npm run build"); serving the API only');

  const pages = new Set<WebSocket>();
  const statelyPages = new Set<WebSocket>();
  const replay = new StatelyReplay();
  let stateTimer: NodeJS.Timeout | null = null;

  const broadcast = (message: ServerMessage) => {
    const text = JSON.stringify(message);
    for (const page of pages) sendToPage(page, text);
  };
  const model = new RingModel({
    frame: (frame) => broadcast({ type: 'frame', frame }),
    log: (entry) => broadcast({ type: 'log', entry }),
    changed: () => {
      if (stateTimer !== null || pages.size === 0) return;
      stateTimer = setTimeout(() => {
        stateTimer = null;
        broadcast({ type: 'state', state: model.state() });
      }, STATE_PUSH_MS);
    },
  });

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'inspector request failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let pathname: string;
    try {
      ({ pathname } = new URL(request.url ?? '/', 'http://inspector'));
    } catch {
      return sendJson(response, 400, { error: 'unreadable request URL' });
    }
    if (pathname === '/api/state' && request.method === 'GET') return sendJson(response, 200, model.state());
    if (pathname === '/api/control') {
      return handleControl(request, response, { control, token, logger, model });
    }
    if (pathname === '/healthz') return sendJson(response, 200, { ok: true });
    if (pathname === '/stately' && request.method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(statelyBridgePage());
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendJson(response, 405, { error: 'method not allowed' });
    serveStatic(webRoot, request, response, pathname);
  }

  // ---- WebSockets: ingest, the page's push channel, the Stately bridge ----
  const ingest = new WebSocketServer({ noServer: true, maxPayload: INGEST_MAX_BYTES });
  const events = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://inspector');
    } catch {
      // e.g. `GET //`: an unreadable target must cost this socket, never the process.
      logger.warn({ target: request.url, remote: request.socket.remoteAddress }, 'upgrade refused: unreadable request URL');
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nunreadable request URL\n');
      socket.destroy();
      return;
    }
    if (url.pathname === '/inspect') {
      if (token && !tokenMatches(presentedToken(request, url), token)) {
        logger.warn({ remote: request.socket.remoteAddress }, 'inspection connection refused: missing or wrong token');
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nwrong or missing token\n');
        return;
      }
      if (ingest.clients.size >= MAX_INGEST_CONNECTIONS) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      ingest.handleUpgrade(request, socket, head, (ws) => onIngest(ws, url.searchParams.get('name') ?? 'process'));
      return;
    }
    if (url.pathname === '/events' || url.pathname === '/stately-events') {
      events.handleUpgrade(request, socket, head, (ws) => (url.pathname === '/events' ? onPage(ws) : onStatelyPage(ws)));
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  function onIngest(ws: WebSocket, name: string): void {
    const key = randomUUID();
    let rejected = 0;
    model.connect(key, name.slice(0, 64));
    logger.debug({ name }, 'inspection stream connected');
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? null : data.toString();
      let message: InspectionMessage | null = null;
      try {
        const parsed: unknown = text === null ? null : JSON.parse(text);
        if (parsed && typeof parsed === 'object' && typeof (parsed as InspectionMessage).type === 'string') message = parsed as InspectionMessage;
      } catch {
        message = null;
      }
      if (message === null || text === null) {
        rejected += 1;
        // One line per bad stream, then one every 100 messages: a broken producer cannot flood the log.
        if (rejected === 1 || rejected % 100 === 0) logger.warn({ name, rejected }, 'rejected inspection message: not a JSON inspection event');
        return;
      }
      try {
        model.ingest(key, message);
      } catch (error) {
        logger.warn({ err: error, name }, 'inspection message could not be applied');
        return;
      }
      replay.record(key, message.type, message.sessionId, text);
      for (const page of statelyPages) sendToPage(page, text);
    });
    ws.on('error', (error) => logger.debug({ err: error.message, name }, 'inspection stream error'));
    ws.on('close', () => {
      model.disconnect(key);
      replay.forget(key);
    });
  }

  function onPage(ws: WebSocket): void {
    pages.add(ws);
    ws.on('close', () => pages.delete(ws));
    ws.on('error', () => ws.terminate());
    ws.on('message', () => {}); // the page never needs to talk; controls go through POST /api/control
    const hello: ServerMessage = { type: 'hello', controls: control !== undefined, tokenRequired: token !== '', relayUrl: options.relayUrl, log: model.recentLog() };
    sendToPage(ws, JSON.stringify(hello));
    sendToPage(ws, JSON.stringify({ type: 'state', state: model.state() } satisfies ServerMessage));
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
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const poller = startRelayStatusPoller({ relayUrl: options.relayUrl, token, logger, onStatus: (status) => model.relayStatus(status) });

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
