/**
 * The real relay connection: the node machine's invoked `relay` actor, a `fromCallback`
 * around a `ws` client. It carries frames and reports facts; every decision stays in machines/.
 *
 * - Facts to the machine: `relay.connecting` when an upgrade request goes out, every frame from
 *   the relay (parsed with the protocol module; a bad one is logged and dropped), `relay.pong`
 *   with the sequence number a pong echoes, and `relay.closed` when the socket goes away.
 * - Commands from the machine: `send` a frame (dropped while disconnected: the machine learns
 *   everything afresh from the next `welcome`), `ping` with a sequence number, `drop` a link the
 *   machine judged dead (its lease ran out), `close` for good.
 * - After a close that was not asked for, it reconnects with capped exponential backoff and
 *   jitter, asking for its old id (node/reconnect.ts).
 * - HTTP 401 at upgrade means a wrong RING_TOKEN: fatal, never retried. Before the first welcome,
 *   an answer that retrying cannot change (a server that is up but is not a WebSocket relay) is
 *   fatal too; every failed attempt is reported (`onAttemptFailed`) so the host can say, when it
 *   gives up waiting, what went wrong (node/connectFailure.ts).
 */
import { WebSocket, type RawData } from 'ws';
import { fromCallback, type AnyEventObject, type CallbackLogicFunction } from 'xstate';
import { encodeFrame, parseFrame, type WelcomeFrame } from '../machines/protocol.js';
import type { RelayCommand, RelayConnectionEvent } from '../machines/nodeMachine.js';
import { handshakeTimeoutFor } from '../machines/timing.js';
import type { Logger } from '../runtime/logger.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import {
  closedBeforeWelcome,
  connectionError,
  erroredAttempt,
  maskToken,
  redirectRefused,
  refusedAttempt,
  unwelcomedAttempt,
  type FailedAttempt,
  type RelayConnectionError,
} from './connectFailure.js';
import { joinBatch } from './joinBatch.js';
import { ReconnectState, type JoinDetails } from './reconnect.js';
import { RelayList } from './relayList.js';

export interface RelayConnectionOptions {
  /** ws:// or wss:// address of the relay, or of several relays of one store, tried in turn (node/relayList.ts). */
  url: string | readonly string[];
  /** RING_TOKEN, sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Ring, role, hostname and metadata, sent in the join URL (`/rings/<name>`, `?role=`, `?host=`, `?meta=`). */
  join?: JoinDetails;
  logger: Logger;
  /** The node's lease; an upgrade that takes longer than this (or a second) is given up. */
  heartbeatTimeoutMs: number;
  backoff?: BackoffPolicy;
  /** Fields every log line carries (clientId, rank, term), read when the line is written. */
  logFields?: () => Record<string, unknown>;
  /** Sees every `welcome` before the machine does; `resumed` tells whether the old id was kept. */
  onWelcome?: (frame: WelcomeFrame, resumed: boolean) => void;
  /** Called once when the relay refuses us for good; no reconnect follows. The host logs it, if anyone should hear. */
  onFatal?: (error: RelayConnectionError) => void;
  /** Each attempt that failed, before the retry (if any) is scheduled. */
  onAttemptFailed?: (failure: FailedAttempt) => void;
  /** Called before each fact reaches the machine: the host lets timers that fell due fire first. */
  beforeEvent?: () => void;
}

/** What the host may ask of the connection besides the machine's commands. */
export interface RelayLink {
  /** Stops for good (no reconnect) and resolves once the socket is closed. Safe to call twice. */
  close(): Promise<void>;
}

/** Largest frame accepted from the relay: a `ring` frame of the protocol's maximum membership fits. */
const MAX_INBOUND_BYTES = 16 * 1024 * 1024;
/** How long a polite close may take before the socket is cut. */
const CLOSE_GRACE_MS = 1000;
/** How much of a refusal's body is read, and for how long at most. */
const REFUSAL_BODY_BYTES = 512;
const REFUSAL_BODY_WAIT_MS = 1000;

export function createRelayConnection(options: RelayConnectionOptions) {
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const fields = () => options.logFields?.() ?? {};
  const log = options.logger;

  let socket: WebSocket | null = null;
  let stopped = false;
  let closed: Promise<void> | null = null;
  let stopSession: (() => Promise<void>) | null = null;

  const link: RelayLink = {
    close() {
      stopped = true;
      closed ??= stopSession ? stopSession() : Promise.resolve();
      return closed;
    },
  };

  const callback: CallbackLogicFunction<RelayCommand, AnyEventObject> = ({ sendBack: toMachine, receive }) => {
    const deliver = (event: RelayConnectionEvent) => {
      options.beforeEvent?.();
      toMachine(event);
    };
    // The `ring {joined}` frames of one socket read go to the machine as one `ring.joined` event
    // (node/joinBatch.ts); `ws` emits the messages of one read together, so a microtask ends it.
    const { send: sendBack, frame: toMachineFrame } = joinBatch(deliver, queueMicrotask);
    const reconnect = new ReconnectState();
    const relays = new RelayList(typeof options.url === 'string' ? [options.url] : options.url);
    let retryTimer: NodeJS.Timeout | undefined;
    let lastError: string | undefined;
    const closeWaiters: Array<() => void> = [];
    /** Never welcomed yet: a refusal that retrying cannot change ends the join. */
    const neverWelcomed = () => reconnect.resumeId === null;
    /** Sockets the machine dropped: one that had not even opened took a whole lease to (a timeout). */
    const dropped = new WeakSet<WebSocket>();

    const connect = () => {
      const relay = relays.current();
      const url = reconnect.joinUrl(relay, options.join);
      sendBack({ type: 'relay.connecting' });
      const ws = new WebSocket(url, {
        headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
        handshakeTimeout: handshakeTimeoutFor(options.heartbeatTimeoutMs),
        maxPayload: MAX_INBOUND_BYTES,
      });
      socket = ws;
      let opened = false;
      // The first thing that went wrong: a refusal's status beats the error terminate() causes.
      let failure: FailedAttempt | null = null;
      // A standby relay's 307 to the relay that serves the ring: dialled at once when this socket is gone.
      let redirected = false;

      ws.on('unexpected-response', (_request, response) => {
        const status = response.statusCode ?? 0;
        if (status === 307 || status === 308) {
          const decision = relays.redirect(response.headers.location);
          if (decision.follow) {
            redirected = true;
            log.info({ ...fields(), from: maskToken(relay), to: decision.target }, 'relay redirected this node to the relay that serves the ring');
          } else {
            failure ??= redirectRefused(status, decision.reason);
          }
          response.resume();
          ws.terminate();
          return;
        }
        // The relay says why it refuses in a one-line body (503: the ring is full); read a little of it.
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (body.length < REFUSAL_BODY_BYTES) body += chunk;
        });
        const done = () => {
          clearTimeout(slow);
          failure ??= refusedAttempt(status, body.split('\n')[0]!.trim().slice(0, REFUSAL_BODY_BYTES));
          ws.terminate();
        };
        const slow = setTimeout(done, REFUSAL_BODY_WAIT_MS);
        response.once('end', done);
        response.once('error', done);
      });
      ws.on('open', () => {
        opened = true;
        lastError = undefined;
      });
      ws.on('pong', (data) => {
        const seq = Number(data.toString());
        if (Number.isSafeInteger(seq)) sendBack({ type: 'relay.pong', seq });
      });
      ws.on('message', receiveFrame);
      ws.on('error', (error) => {
        lastError = error.message;
        if (!opened) failure ??= dropped.has(ws) ? unwelcomedAttempt(options.heartbeatTimeoutMs) : erroredAttempt(error);
      });
      ws.on('close', (code, reasonBuffer) => {
        if (socket === ws) socket = null;
        const reason = reasonBuffer.toString();
        if (opened) {
          if (!stopped) log.warn({ ...fields(), code, reason }, 'relay connection lost');
          sendBack({ type: 'relay.closed', reason: reason || `close code ${code}` });
          if (neverWelcomed() && !stopped) failure ??= closedBeforeWelcome(code, reason);
        }
        if (redirected && !stopped) {
          connect();
          return;
        }
        if (failure !== null && !stopped) {
          lastError = failure.detail;
          failure.relay = relay;
          options.onAttemptFailed?.(failure);
          // Only 401 ends a node that has joined before; until then, so does an answer retrying
          // cannot change, once every relay of the list has given one.
          if (failure.code === 'unauthorized' || (failure.final && neverWelcomed() && relays.finalAnswer())) {
            stopped = true;
            // Not logged here: the host hands it to its caller (joinRing rejects with it) and says how loud.
            options.onFatal?.(connectionError(failure, relay, { tokenGiven: Boolean(options.token) }));
          }
        }
        if (stopped) {
          closeWaiters.splice(0).forEach((resolve) => resolve());
          return;
        }
        // A link that was welcomed is dialled again on the same relay first; a failed attempt moves on.
        if (!opened || failure !== null) relays.failed();
        const delayMs = reconnect.nextDelay(backoff, Math.random());
        log.info({ ...fields(), attempt: reconnect.attempt, delayMs, ...(lastError ? { error: lastError } : {}) }, 'reconnecting');
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
        relays.welcomed();
        options.onWelcome?.(frame, reconnect.welcomed(frame));
      }
      toMachineFrame(frame);
    };

    receive((command) => {
      switch (command.type) {
        case 'send':
          if (socket?.readyState === WebSocket.OPEN) socket.send(encodeFrame(command.frame));
          else log.debug({ ...fields(), frameType: command.frame.type }, 'not connected: outgoing frame dropped');
          return;
        case 'ping':
          if (socket?.readyState === WebSocket.OPEN) socket.ping(String(command.seq));
          return;
        case 'drop':
          // The machine judged the link dead: cut it; the close handler reconnects. (A socket that
          // opened and closed before its welcome already counts as a timeout: closedBeforeWelcome.)
          if (socket !== null) dropped.add(socket);
          socket?.terminate();
          return;
        case 'close':
          void link.close();
          return;
      }
    });

    stopSession = () =>
      new Promise<void>((resolve) => {
        stopped = true;
        clearTimeout(retryTimer);
        const ws = socket;
        if (ws === null || ws.readyState === WebSocket.CLOSED) {
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
  };

  // `callback` is for a machine provided once per process (node/sharedMachine.ts); `logic` for one provided per actor.
  return { logic: fromCallback<RelayCommand>(callback), callback, link };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
