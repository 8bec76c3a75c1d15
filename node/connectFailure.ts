/**
 * Why a node could not get into the ring: the error `joinRing()` rejects with (and `node.closed`
 * carries when the relay refuses a reconnect for good), with a machine-readable `code`, and the
 * rule that turns one failed connection attempt into such a reason.
 *
 * Before its first welcome a node gives up on answers that retrying cannot change (401, a server
 * that is up but is not a WebSocket relay) and, after `connectTimeoutMs`, on everything else.
 * Once it has joined, only 401 is final: anything else may be a relay restarting.
 */

/**
 * - `bad-url`: `relay` is not a ws:// or wss:// URL;
 * - `unreachable`: no connection (refused, unknown host, network or TLS error);
 * - `unauthorized`: HTTP 401, the ring token (RING_TOKEN) is missing or wrong;
 * - `not-websocket`: something answered, but not with a WebSocket upgrade (a web server on that
 *   port, say; `status` has its HTTP status);
 * - `refused`: the relay is there but turned this node away for now (HTTP 503: the ring is full,
 *   or too many connections; or a redirect the node does not follow: not ws:// or wss://, from
 *   wss:// to ws://, or more than 3 in a row); the message carries the reason; retried until the deadline;
 * - `timeout`: no welcome from the relay within `connectTimeoutMs` for another reason (the
 *   handshake hung, or the server upgraded but never spoke the relay's protocol);
 * - `id_taken`: the id asked for (`joinRing({ id })`, `?id=`) is held by a live member of the ring
 *   (HTTP 409): never a silently different id. Final before the first welcome; once joined, retried
 *   (the relay may not yet have noticed that this node's previous connection is gone).
 * - `timing`: the relay welcomed this node, but its heartbeat (`welcome.timing`) is not longer
 *   than the lease this node was given (`timing.heartbeatTimeoutMs`): a cut-off leader could lead
 *   on after the relay dropped it, so the node leaves instead (docs/GUARANTEES.md, The numbers).
 */
export type RelayConnectionErrorCode = 'bad-url' | 'unreachable' | 'unauthorized' | 'not-websocket' | 'refused' | 'timeout' | 'id_taken' | 'timing';

export interface RelayConnectionErrorDetails {
  /** The relay's address as given (a `token` in its query masked). */
  relay: string;
  /** The HTTP status of the answer, for `unauthorized` and `not-websocket`. */
  status?: number | undefined;
  /** The underlying error (its `code` is e.g. ECONNREFUSED or ENOTFOUND), when there was one. */
  cause?: unknown;
}

/** `joinRing()` could not get this node into the ring; `code` says why. */
export class RelayConnectionError extends Error {
  override name = 'RelayConnectionError';
  readonly code: RelayConnectionErrorCode;
  readonly relay: string;
  readonly status: number | undefined;

  constructor(code: RelayConnectionErrorCode, message: string, details: RelayConnectionErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.relay = details.relay;
    this.status = details.status;
  }
}

/** The relay refused this node's credentials (HTTP 401 at upgrade): retrying cannot help. */
export class RelayUnauthorizedError extends RelayConnectionError {
  override name = 'RelayUnauthorizedError';
  declare readonly code: 'unauthorized';

  constructor(message: string, details: RelayConnectionErrorDetails) {
    super('unauthorized', message, details);
  }
}

/** The close code of a join refused for its `?id=` after the upgrade (relay/limits.ts CLOSE_CODES.idTaken). */
const ID_TAKEN_CLOSE_CODE = 4409;

/** One connection attempt that did not end in an open socket. */
export interface FailedAttempt {
  code: Exclude<RelayConnectionErrorCode, 'bad-url' | 'timing'>;
  /** What happened, for people (and the `reconnecting` log line): "connect ECONNREFUSED 127.0.0.1:1". */
  detail: string;
  status?: number;
  /** Retrying cannot change the answer (as long as the node has never been welcomed). */
  final: boolean;
  cause?: Error;
  /** The relay of the list this attempt dialled (set by the connection). */
  relay?: string;
}

/** The server answered the upgrade request with a plain HTTP response (`body`: its first line, if any). */
export function refusedAttempt(status: number, body = ''): FailedAttempt {
  if (status === 401) return { code: 'unauthorized', detail: 'the relay answered HTTP 401 (ring token missing or wrong)', status, final: true };
  if (status === 409) return { code: 'id_taken', detail: `${body === '' ? 'the id is taken' : body} (HTTP 409)`, status, final: true };
  if (status === 503 && body !== '') return { code: 'refused', detail: `the relay turned this node away (HTTP 503): ${body}`, status, final: false };
  // A proxy in front of a relay that is (re)starting, or a busy server: worth another try.
  const passing = status >= 500 || status === 408 || status === 429;
  return { code: 'not-websocket', detail: `the server answered HTTP ${status} instead of upgrading to a WebSocket`, status, final: !passing };
}

/** A relay redirected this node (307/308) somewhere it does not follow: not ws:// or wss://, or in a loop. */
export function redirectRefused(status: number, reason: string): FailedAttempt {
  return { code: 'refused', detail: `the relay answered HTTP ${status} with ${reason}`, status, final: false };
}

/** The attempt failed with an error from `ws` (network, TLS, a non-HTTP answer, a bad handshake). */
export function erroredAttempt(error: Error & { code?: string }): FailedAttempt {
  const code = error.code ?? '';
  if (code.startsWith('HPE_')) {
    return { code: 'not-websocket', detail: `the server does not speak HTTP (${error.message})`, final: true, cause: error };
  }
  // ws's own handshake checks: a 101 answer without a valid WebSocket accept.
  if (/^Invalid Sec-WebSocket|^Invalid Upgrade header|^Server sent/.test(error.message)) {
    return { code: 'not-websocket', detail: error.message, final: true, cause: error };
  }
  if (/handshake has timed out/i.test(error.message)) return { code: 'timeout', detail: error.message, final: false, cause: error };
  return { code: 'unreachable', detail: error.message, final: false, cause: error };
}

/** The node's machine dropped the attempt: no welcome within one lease of the upgrade request. */
export function unwelcomedAttempt(leaseMs: number): FailedAttempt {
  return { code: 'timeout', detail: `no welcome within the lease (${leaseMs} ms) of the upgrade request; dialling again`, final: false };
}

/** The socket opened and closed again before the relay welcomed this node. */
export function closedBeforeWelcome(code: number, reason: string): FailedAttempt {
  // 4409: the id was taken between the upgrade and the join (the relay normally answers 409 first).
  if (code === ID_TAKEN_CLOSE_CODE) return { code: 'id_taken', detail: `${reason || 'the id is taken'} (close ${code})`, final: true };
  return { code: 'timeout', detail: `the relay closed the connection before welcoming this node (${code}${reason ? `: ${reason}` : ''})`, final: false };
}

/** The error for a failed attempt; `waited` is set when it is the last one before the deadline. */
export function connectionError(
  failure: FailedAttempt,
  relayUrl: string,
  context: { tokenGiven: boolean; waited?: { ms: number; attempts: number } },
): RelayConnectionError {
  const relay = maskToken(relayUrl);
  const details: RelayConnectionErrorDetails = { relay, status: failure.status, cause: failure.cause };
  const tried = context.waited ? ` (tried for ${context.waited.ms} ms, ${plural(context.waited.attempts, 'attempt')})` : '';
  switch (failure.code) {
    case 'unauthorized': {
      const why = context.tokenGiven ? 'RING_TOKEN is wrong' : 'RING_TOKEN is missing: this relay requires one';
      return new RelayUnauthorizedError(`the relay at ${relay} refused this node (HTTP 401): ${why}`, details);
    }
    case 'not-websocket':
      return new RelayConnectionError(
        'not-websocket',
        `${relay} is not a WebSocket relay: ${failure.status === undefined ? failure.detail : `it answered HTTP ${failure.status} instead of upgrading the connection`}${tried}`,
        details,
      );
    case 'refused':
      return new RelayConnectionError('refused', `${failure.detail}${tried}`, details);
    case 'unreachable':
      return new RelayConnectionError('unreachable', `cannot reach the relay at ${relay}: ${failure.detail}${tried}`, details);
    case 'id_taken':
      return new RelayConnectionError('id_taken', `cannot join the ring at ${relay} under the id asked for: ${failure.detail}`, details);
    case 'timeout':
      return new RelayConnectionError('timeout', `no welcome from the relay at ${relay}: ${failure.detail}${tried}`, details);
  }
}

/** The deadline passed while an attempt was still under way and none had failed yet. */
export function noWelcomeYet(relayUrl: string, waitedMs: number): RelayConnectionError {
  const relay = maskToken(relayUrl);
  return new RelayConnectionError(
    'timeout',
    `no welcome from the relay at ${relay} within ${waitedMs} ms (is a Ringleader relay listening there?)`,
    { relay },
  );
}

/** The `relay` option is not a usable URL; checked before any connection is tried. */
export function badRelayUrl(relay: unknown): RelayConnectionError {
  const shown = typeof relay === 'string' ? JSON.stringify(maskToken(relay)) : Array.isArray(relay) ? maskToken(JSON.stringify(relay)) : String(relay);
  return new RelayConnectionError('bad-url', `joinRing: relay must be a ws:// or wss:// URL, or a non-empty list of them, got ${shown}`, {
    relay: typeof relay === 'string' ? maskToken(relay) : '',
  });
}

/** The relay also takes the token as `?token=`: never put it in a message or a log line. */
export function maskToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/g, '$1***');
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
