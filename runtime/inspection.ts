/**
 * The one channel every machine's inspection events travel on. With INSPECT_URL set, a process
 * passes `inspect` to `createActor(..., { inspect })` and its actors stream, as the JSON messages
 * of @statelyai/inspect's WebSocket inspector (one `StatelyInspectionEvent` per text message), to
 * that URL: Ringleader's inspector (`ws://host:8090/inspect`) or any bridge to the Stately
 * inspector (docs/INSPECTOR.md).
 *
 * Why not `createWebSocketInspector` itself: it retries forever on a timer and a socket that keep
 * the process alive, and replays its whole backlog on every reconnect. Here the conversion is
 * still @statelyai/inspect's (`createInspector`), but the transport is ours:
 * - never blocks start-up: the library loads and the socket connects in the background;
 * - never keeps the process alive: the socket and every timer are unref'd, `stop()` closes them;
 * - bounded memory: at most QUEUE_LIMIT events wait for a connection, older ones are dropped,
 *   and events are dropped while the socket's send buffer is over SEND_BUFFER_LIMIT;
 * - a message over the inspector's own limit (INSPECTION_MESSAGE_LIMIT) is dropped here, counted
 *   and said once, rather than sent to make the inspector close the whole stream;
 * - a reconnect (the inspector restarted, or closed the stream) announces every actor again with
 *   its latest snapshot: the inspector sees each connection as a new process, and would otherwise
 *   never learn what the machines it is shown are.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { InspectionEvent, Observer } from 'xstate';
import WebSocket from 'ws';
import type { Logger } from './logger.js';

export interface Inspection {
  /** Pass to createActor's `inspect` option; undefined when inspection is off. */
  inspect: ((event: InspectionEvent) => void) | undefined;
  stop(): void;
}

export interface InspectionOptions {
  url: string | undefined;
  /** Names this process in the inspector (e.g. "relay", "node n3"). */
  name: string;
  logger: Logger;
  /** Sent as `Authorization: Bearer`; defaults to RING_TOKEN from the environment. */
  token?: string | undefined;
}

/** Events kept while not connected; older ones are dropped first. */
export const QUEUE_LIMIT = 1000;
/** The largest inspection message the inspector takes (its ingest socket's maxPayload). */
export const INSPECTION_MESSAGE_LIMIT = 1 << 20;
/** Actors whose announcement and latest snapshot are kept to replay on a reconnect... */
export const REPLAYED_ACTORS_LIMIT = 1000;
/** ...and the characters they may hold together (a relay's snapshot of a huge ring is large). */
export const REPLAYED_CHARS_LIMIT = 8 << 20;
/** Bytes waiting in the socket above which new events are dropped rather than buffered. */
export const SEND_BUFFER_LIMIT = 1 << 20;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/** The message shape @statelyai/inspect sends; only the id fields are touched here. */
interface StatelyMessage {
  type: string;
  sessionId?: string;
  rootId?: string;
  parentId?: string;
  sourceId?: string;
  [key: string]: unknown;
}

type StatelyInspector = { inspect: Observer<InspectionEvent> };

let instances = 0;

export function createInspection({ url, name, logger, token = process.env.RING_TOKEN }: InspectionOptions): Inspection {
  if (!url) return { inspect: undefined, stop() {} };
  const log = logger.child({ inspectUrl: redact(url) });
  try {
    const protocol = new URL(url).protocol;
    if (protocol !== 'ws:' && protocol !== 'wss:') throw new Error(`must use ws: or wss:, got ${protocol}`);
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'INSPECT_URL is not a WebSocket URL; inspection is off');
    return { inspect: undefined, stop() {} };
  }

  // XState session ids ("x:0") repeat in every process; the prefix makes them unique across the
  // ring, so the Stately inspector shows one actor per process instead of merging them.
  instances += 1;
  const prefix = `${name.replace(/\s+/g, '-')}@${process.pid}${instances > 1 ? `.${instances}` : ''}/`;
  const streamUrl = new URL(url);
  // Names the stream for Ringleader's inspector; a Stately bridge ignores the query.
  if (!streamUrl.searchParams.has('name')) streamUrl.searchParams.set('name', name);
  const transport = new InspectionTransport(streamUrl.toString(), token, log);
  let stopped = false;
  let inspector: StatelyInspector | null = null;
  const early: InspectionEvent[] = [];

  import('@statelyai/inspect')
    .then(({ createInspector }) => {
      if (stopped) return;
      const loaded = createInspector(
        {
          send: (event) => {
            const message = withPrefix(event as unknown as StatelyMessage, prefix);
            transport.send(JSON.stringify(message), message);
          },
        },
        { autoStart: false },
      );
      inspector = loaded;
      for (const event of early.splice(0)) loaded.inspect.next?.(event);
    })
    .catch((error: unknown) => log.warn({ err: (error as Error).message }, 'could not load @statelyai/inspect; inspection is off'));

  return {
    inspect(event) {
      if (stopped) return;
      if (inspector) {
        inspector.inspect.next?.(event);
        return;
      }
      early.push(event);
      if (early.length > QUEUE_LIMIT) early.shift();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      early.length = 0;
      transport.close();
    },
  };
}

function withPrefix(message: StatelyMessage, prefix: string): StatelyMessage {
  const out = { ...message };
  for (const field of ['sessionId', 'rootId', 'parentId', 'sourceId'] as const) {
    const value = out[field];
    if (typeof value === 'string' && value !== 'anonymous') out[field] = prefix + value;
  }
  return out;
}

/** Hides a token given in the URL's query string from logs. */
function redact(url: string): string {
  return url.replace(/([?&]token=)[^&]*/i, '$1***');
}

/** Byte length of a JSON text, computed only when it could be over `limit` (most are far under). */
function overLimit(text: string, limit: number): boolean {
  return text.length * 3 > limit && Buffer.byteLength(text) > limit;
}

/**
 * Each actor's announcement (`@xstate.actor`) and latest `@xstate.snapshot`, by session, for a
 * reconnect to replay: at most REPLAYED_ACTORS_LIMIT actors and REPLAYED_CHARS_LIMIT characters,
 * the earliest-announced forgotten first.
 */
class ActorReplay {
  private readonly actors = new Map<string, { announcement: string; snapshot: string | null }>();
  private chars = 0;

  remember(text: string, message: StatelyMessage): void {
    const session = message.sessionId;
    if (session === undefined) return;
    if (message.type === '@xstate.actor') {
      this.forget(session);
      this.actors.set(session, { announcement: text, snapshot: null });
      this.chars += text.length;
    } else if (message.type === '@xstate.snapshot') {
      const actor = this.actors.get(session);
      if (actor === undefined) return;
      this.chars += text.length - (actor.snapshot?.length ?? 0);
      actor.snapshot = text;
    } else {
      return;
    }
    while (this.actors.size > REPLAYED_ACTORS_LIMIT || (this.chars > REPLAYED_CHARS_LIMIT && this.actors.size > 1)) {
      this.forget(this.actors.keys().next().value!);
    }
  }

  /** What a new connection needs first: every actor's announcement, then its latest snapshot. */
  messages(): string[] {
    const out: string[] = [];
    for (const actor of this.actors.values()) {
      out.push(actor.announcement);
      if (actor.snapshot !== null) out.push(actor.snapshot);
    }
    return out;
  }

  private forget(session: string): void {
    const actor = this.actors.get(session);
    if (actor === undefined) return;
    this.chars -= actor.announcement.length + (actor.snapshot?.length ?? 0);
    this.actors.delete(session);
  }
}

/** A WebSocket that reconnects with backoff, drops instead of buffering, and never holds the event loop. */
class InspectionTransport {
  private socket: WebSocket | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  private queue: string[] = [];
  private readonly replay = new ActorReplay();
  private dropped = 0;
  private oversized = 0;
  private closed = false;
  private warnedUnreachable = false;

  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly log: Logger,
  ) {
    this.connect();
  }

  send(message: string, parsed: StatelyMessage): void {
    if (this.closed) return;
    if (overLimit(message, INSPECTION_MESSAGE_LIMIT)) {
      this.oversized += 1;
      if (this.oversized === 1) {
        this.log.warn(
          { bytes: Buffer.byteLength(message), limit: INSPECTION_MESSAGE_LIMIT, type: parsed.type },
          'inspection message over the inspector\'s size limit: dropped (later ones are only counted)',
        );
      }
      return;
    }
    this.replay.remember(message, parsed);
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      if (socket.bufferedAmount > SEND_BUFFER_LIMIT) {
        this.dropped += 1;
        return;
      }
      socket.send(message);
      return;
    }
    this.queue.push(message);
    if (this.queue.length > QUEUE_LIMIT) {
      this.queue.shift();
      this.dropped += 1;
    }
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.queue = [];
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.removeAllListeners();
      socket.on('error', () => {});
      // terminate, not close: a closing handshake would wait on a peer that may be gone.
      socket.terminate();
    }
    if (this.dropped > 0 || this.oversized > 0) this.log.debug({ dropped: this.dropped, oversized: this.oversized }, 'inspection stopped; some events were dropped');
  }

  private connect(): void {
    if (this.closed) return;
    const headers: Record<string, string> = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url, {
        headers,
        handshakeTimeout: 5000,
        // An unref'd socket from the first byte: a pending or open inspection connection
        // never keeps the process alive.
        createConnection: ((options: net.NetConnectOpts & tls.ConnectionOptions) => {
          const raw = this.url.startsWith('wss:') ? tls.connect(options) : net.connect({ ...options, path: undefined } as net.NetConnectOpts);
          raw.unref();
          return raw;
        }) as never,
      });
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'inspection connection failed');
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.on('open', () => {
      this.retryMs = RETRY_MIN_MS;
      this.warnedUnreachable = false;
      this.log.debug('inspection connected');
      const waiting = this.queue;
      this.queue = [];
      // Every actor again first (this connection is a new process to the inspector), except what
      // the queue is about to send anyway.
      const queued = new Set(waiting);
      for (const message of this.replay.messages()) if (!queued.has(message)) socket.send(message);
      for (const message of waiting) socket.send(message);
      if (this.dropped > 0) {
        this.log.warn({ dropped: this.dropped }, 'inspection events were dropped while the inspector was unreachable');
        this.dropped = 0;
      }
    });
    socket.on('unexpected-response', (_request, response) => {
      this.log.warn({ status: response.statusCode }, 'inspector refused the inspection connection (is the token right?)');
      socket.terminate();
    });
    socket.on('error', (error) => {
      if (!this.warnedUnreachable) {
        this.warnedUnreachable = true;
        this.log.warn({ err: error.message }, 'inspector unreachable; will keep trying in the background');
      }
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
