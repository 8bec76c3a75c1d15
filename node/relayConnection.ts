/**
 * The real relay connection: the node machine's invoked `relay` actor, a `fromCallback`
 * around a `ws` client. It only carries frames; every decision stays in machines/.
 *
 * - Frames from the relay are parsed with the protocol module; a bad one is logged and dropped.
 * - `{type:'send', frame}` commands go out encoded; while disconnected they are dropped (the
 *   machine is in `disconnected` and learns everything afresh from the next `welcome`).
 * - When the socket goes away the machine hears `relay.closed` (so a leader steps down), and the
 *   connection retries with capped exponential backoff and jitter, asking for its old id.
 * - Dead links are noticed locally, as a lease: the client pings the relay, and each pong proves
 *   the link worked both ways at the moment that ping was sent. When no round trip has been
 *   confirmed for `heartbeatTimeoutMs`, the link is dead: the node drops it (and a leader steps
 *   down). Frames and relay pings alone do not count: they prove only the relay-to-node half,
 *   and a leader whose answers are lost must step down too. That bound is what lets a cut-off
 *   leader step down before the others could elect a successor (see docs/GUARANTEES.md).
 * - HTTP 401 at upgrade means a wrong RING_TOKEN: fatal, never retried. Before the first welcome,
 *   an answer that retrying cannot change (a server that is up but is not a WebSocket relay) is
 *   fatal too; every failed attempt is reported (`onAttemptFailed`) so the host can say, when it
 *   gives up waiting, what went wrong (node/connectFailure.ts).
 */
import { performance } from 'node:perf_hooks';
import { WebSocket, type RawData } from 'ws';
import { fromCallback } from 'xstate';
import { encodeFrame, parseFrame, type WelcomeFrame } from '../machines/protocol.js';
import type { RelayCommand, RelayConnectionEvent } from '../machines/nodeMachine.js';
import type { Logger } from '../runtime/logger.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import {
  closedBeforeWelcome,
  connectionError,
  erroredAttempt,
  maskToken,
  refusedAttempt,
  type FailedAttempt,
} from './connectFailure.js';

export interface RelayConnectionOptions {
  /** ws:// or wss:// address of the relay. */
  url: string;
  /** RING_TOKEN, sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  logger: Logger;
  /** A link with no confirmed round trip (ping answered by pong) for this long is dead. */
  heartbeatTimeoutMs: number;
  backoff?: BackoffPolicy;
  /** Fields every log line carries (clientId, rank, term), read when the line is written. */
  logFields?: () => Record<string, unknown>;
  /** Sees every `welcome` before the machine does; `resumed` tells whether the old id was kept. */
  onWelcome?: (frame: WelcomeFrame, resumed: boolean) => void;
  /** Called once when the relay refuses us for good; no reconnect follows. */
  onFatal?: (error: Error) => void;
  /** Each attempt that failed, before the retry (if any) is scheduled. */
  onAttemptFailed?: (failure: FailedAttempt) => void;
}

/** What the host may ask of the connection besides the machine's commands. */
export interface RelayLink {
  /** True while the socket is open and a round trip sent within the heartbeat window was confirmed. */
  isFresh(): boolean;
  /** Stops for good (no reconnect) and resolves once the socket is closed. Safe to call twice. */
  close(): Promise<void>;
}

/** Largest frame accepted from the relay: a `ring` frame of the protocol's maximum membership fits. */
const MAX_INBOUND_BYTES = 16 * 1024 * 1024;
/** How long a polite close may take before the socket is cut. */
const CLOSE_GRACE_MS = 1000;

export function createRelayConnection(options: RelayConnectionOptions) {
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const fields = () => options.logFields?.() ?? {};
  const log = options.logger;

  let socket: WebSocket | null = null;
  /** When the latest round trip the relay confirmed was sent (performance.now()). */
  let confirmedAt = Number.NEGATIVE_INFINITY;
  let stopped = false;
  let closed: Promise<void> | null = null;
  let stopSession: (() => Promise<void>) | null = null;

  const link: RelayLink = {
    isFresh: () =>
      socket !== null &&
      socket.readyState === WebSocket.OPEN &&
      performance.now() - confirmedAt < options.heartbeatTimeoutMs,
    close() {
      stopped = true;
      closed ??= stopSession ? stopSession() : Promise.resolve();
      return closed;
    },
  };

  const logic = fromCallback<RelayCommand>(({ sendBack, receive }) => {
    let clientId: string | null = null;
    let attempt = 0;
    let retryTimer: NodeJS.Timeout | undefined;
    let pingTimer: NodeJS.Timeout | undefined;
    let silenceTimer: NodeJS.Timeout | undefined;
    let lastError: string | undefined;
    const closeWaiters: Array<() => void> = [];

    const stopHeartbeat = () => {
      clearInterval(pingTimer);
      clearTimeout(silenceTimer);
    };

    /**
     * Three pings per window, each numbered; the pong echoes the number, so the node knows when
     * the ping it answers was sent. `openedFrom` is when the upgrade request went out: the
     * handshake itself is the first confirmed round trip.
     */
    const startHeartbeat = (ws: WebSocket, openedFrom: number) => {
      confirmedAt = openedFrom;
      const sentAt = new Map<number, number>();
      let sequence = 0;
      ws.on('pong', (data) => {
        const number = Number(data.toString());
        const sent = sentAt.get(number);
        if (sent === undefined) return;
        confirmedAt = Math.max(confirmedAt, sent);
        for (const key of sentAt.keys()) if (key <= number) sentAt.delete(key);
      });
      pingTimer = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        sequence += 1;
        sentAt.set(sequence, performance.now());
        ws.ping(String(sequence));
      }, Math.max(10, Math.floor(options.heartbeatTimeoutMs / 3)));
      const watch = () => {
        const unconfirmedMs = performance.now() - confirmedAt;
        if (unconfirmedMs >= options.heartbeatTimeoutMs) {
          log.warn({ ...fields(), unconfirmedMs: Math.round(unconfirmedMs) }, 'relay silent, dropping the connection');
          ws.terminate();
          return;
        }
        silenceTimer = setTimeout(watch, options.heartbeatTimeoutMs - unconfirmedMs);
      };
      silenceTimer = setTimeout(watch, options.heartbeatTimeoutMs);
    };

    const connect = () => {
      const url = new URL(options.url);
      if (clientId !== null) url.searchParams.set('resume', clientId);
      const requestedAt = performance.now();
      const ws = new WebSocket(url, {
        headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
        handshakeTimeout: Math.max(options.heartbeatTimeoutMs, 1000),
        maxPayload: MAX_INBOUND_BYTES,
      });
      socket = ws;
      let opened = false;
      // The first thing that went wrong: a refusal's status beats the error terminate() causes.
      let failure: FailedAttempt | null = null;

      ws.on('unexpected-response', (_request, response) => {
        failure ??= refusedAttempt(response.statusCode ?? 0);
        response.resume();
        ws.terminate();
      });
      ws.on('open', () => {
        opened = true;
        lastError = undefined;
        startHeartbeat(ws, requestedAt);
      });
      ws.on('message', receiveFrame);
      ws.on('error', (error) => {
        lastError = error.message;
        if (!opened) failure ??= erroredAttempt(error);
      });
      ws.on('close', (code, reasonBuffer) => {
        stopHeartbeat();
        if (socket === ws) socket = null;
        const reason = reasonBuffer.toString();
        if (opened) {
          if (!stopped) log.warn({ ...fields(), code, reason }, 'relay connection lost');
          sendBack({ type: 'relay.closed', reason: reason || `close code ${code}` } satisfies RelayConnectionEvent);
          if (clientId === null && !stopped) failure ??= closedBeforeWelcome(code, reason);
        }
        if (failure !== null && !stopped) {
          lastError = failure.detail;
          options.onAttemptFailed?.(failure);
          // Only 401 ends a node that has joined before; until then, so does any final answer.
          if (failure.code === 'unauthorized' || (failure.final && clientId === null)) {
            stopped = true;
            const error = connectionError(failure, options.url, { tokenGiven: Boolean(options.token) });
            log.fatal({ ...fields(), relay: maskToken(options.url), code: error.code, status: failure.status }, error.message);
            options.onFatal?.(error);
          }
        }
        if (stopped) {
          closeWaiters.splice(0).forEach((resolve) => resolve());
          return;
        }
        attempt += 1;
        const delayMs = backoffDelay(attempt, backoff, Math.random());
        log.info({ ...fields(), attempt, delayMs, ...(lastError ? { error: lastError } : {}) }, 'reconnecting');
        retryTimer = setTimeout(connect, delayMs);
      });
    };

    const receiveFrame = (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        log.warn({ ...fields(), code: 'bad_frame' }, 'dropped bad frame from relay: binary frames are not part of the protocol');
        return;
      }
      const parsed = parseFrame(rawText(data));
      if (!parsed.ok) {
        log.warn({ ...fields(), code: parsed.code, detail: parsed.detail }, 'dropped bad frame from relay');
        return;
      }
      const frame = parsed.frame;
      if (frame.type === 'welcome') {
        const resumed = clientId === frame.clientId;
        clientId = frame.clientId;
        attempt = 0;
        options.onWelcome?.(frame, resumed);
      }
      sendBack(frame);
    };

    receive((command) => {
      if (command.type !== 'send') return;
      if (socket?.readyState === WebSocket.OPEN) {
        socket.send(encodeFrame(command.frame));
      } else {
        log.debug({ ...fields(), frameType: command.frame.type }, 'not connected: outgoing frame dropped');
      }
    });

    stopSession = () =>
      new Promise<void>((resolve) => {
        stopped = true;
        clearTimeout(retryTimer);
        const ws = socket;
        if (ws === null || ws.readyState === WebSocket.CLOSED) {
          stopHeartbeat();
          resolve();
          return;
        }
        closeWaiters.push(resolve);
        const cut = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
        ws.once('close', () => clearTimeout(cut));
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000, 'leaving');
      });

    connect();
    return () => {
      void link.close();
    };
  });

  return { logic, link };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
