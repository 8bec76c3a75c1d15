/**
 * The relay's limits and close codes, in one place so the server, its tests and
 * docs/PROTOCOL.md agree on the numbers.
 */

export interface RelayLimits {
  /** Largest frame a client may send, in bytes (ws `maxPayload`); larger ones close the socket with 1009. */
  maxPayloadBytes: number;
  /** Frames per second a connection may send on average; 0 turns rate limiting off. */
  rateLimitPerSecond: number;
  /** How many frames a connection may send at once above the average rate. */
  rateBurst: number;
  /** Bytes the relay may hold for a peer that is not reading before it drops that peer. */
  maxBacklogBytes: number;
  /**
   * How often the relay pings every peer. A peer that has not answered the previous ping by the
   * next one is dropped, so a frozen peer is gone within two intervals (one leader timeout).
   */
  heartbeatIntervalMs: number;
}

export const DEFAULT_LEADER_TIMEOUT_MS = 5000;

export const DEFAULT_LIMITS: RelayLimits = {
  maxPayloadBytes: 64 * 1024,
  rateLimitPerSecond: 1000,
  rateBurst: 2000,
  maxBacklogBytes: 1024 * 1024,
  heartbeatIntervalMs: heartbeatIntervalFor(DEFAULT_LEADER_TIMEOUT_MS),
};

/** Two heartbeat intervals make one leader timeout: the longest a frozen peer can stay in the ring. */
export function heartbeatIntervalFor(leaderTimeoutMs: number): number {
  return Math.max(25, Math.floor(leaderTimeoutMs / 2));
}

/** WebSocket close codes the relay uses (docs/PROTOCOL.md, "Close codes"). */
export const CLOSE_CODES = {
  /** The relay is shutting down; reconnect (with backoff) to the next one. */
  goingAway: 1001,
  /** A text frame was not valid UTF-8 (sent by ws itself). */
  invalidPayload: 1007,
  /** A frame was larger than maxPayloadBytes (sent by ws itself). */
  tooLarge: 1009,
  /** The peer kept sending above its rate limit after `error rate_limited`. */
  rateLimited: 4029,
  /** The peer stopped reading and its unsent backlog passed maxBacklogBytes. */
  backlogFull: 4009,
} as const;

/** Why a member left the ring, as logged and counted in /metrics. */
export const LEAVE_REASONS = ['close', 'heartbeat', 'rate_limited', 'backlog', 'too_large', 'protocol_error'] as const;
export type LeaveReason = (typeof LEAVE_REASONS)[number];
