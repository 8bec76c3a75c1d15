/**
 * The relay's limits and close codes, in one place so the server, its tests and
 * docs/PROTOCOL.md agree on the numbers.
 */
import { memberCapacity } from '../machines/protocol.js';
import { DEFAULT_RELAY_TIMING } from '../machines/timing.js';

// The timing is machines/timing.ts's; these names stay for the relay's callers and tests.
export { DEFAULT_LEADER_TIMEOUT_MS, heartbeatIntervalFor } from '../machines/timing.js';

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
  /**
   * The ring's leader timeout `L` that the heartbeat and forward timeout derive from
   * (machines/timing.ts). Told to every member in `welcome.timing`, with the heartbeat and the
   * forward timeout in force, so a node runs the lease that fits them.
   */
  leaderTimeoutMs: number;
  /**
   * The most members the ring admits. Never more than an election frame naming every member can
   * carry within `maxPayloadBytes` (`memberCapacity`): every ring the relay admits can elect.
   */
  maxMembers: number;
  /** Open WebSocket connections at most, members or not; more are refused with HTTP 503. */
  maxConnections: number;
  /** Open connections from one remote address at most; more are refused with HTTP 503. */
  maxConnectionsPerAddress: number;
  /** Rings the relay keeps at once (`/rings/<name>`); a new one past this replaces an empty one, or is refused. */
  maxRings: number;
  /**
   * How long a member may hold the ring's election frame without passing anything on before the
   * relay hands the frame to the member after it and routes around it (until it sends again).
   * One heartbeat interval: a leader cut off from the relay has stepped down (its lease is a
   * third of the leader timeout) before a lap can complete without it (docs/GUARANTEES.md).
   */
  forwardTimeoutMs: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxPayloadBytes: 1024 * 1024,
  rateLimitPerSecond: 1000,
  rateBurst: 2000,
  maxBacklogBytes: 4 * 1024 * 1024,
  heartbeatIntervalMs: DEFAULT_RELAY_TIMING.heartbeatMs,
  leaderTimeoutMs: DEFAULT_RELAY_TIMING.leaderTimeoutMs,
  maxMembers: 10_000,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  maxRings: 1_000,
  forwardTimeoutMs: DEFAULT_RELAY_TIMING.forwardTimeoutMs,
};

/** The limits in force: the ring never admits more members than an election frame can name. */
export function effectiveLimits(limits: RelayLimits): RelayLimits {
  return { ...limits, maxMembers: Math.min(limits.maxMembers, memberCapacity(limits.maxPayloadBytes)) };
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
  /** The ring filled up between the upgrade and the join (normally refused earlier, with HTTP 503). */
  tryAgainLater: 1013,
  /** The `?id=` asked for was taken between the upgrade and the join (normally refused earlier, with HTTP 409). */
  idTaken: 4409,
  /** With --store: this relay no longer serves the ring (its etcd lease could have run out, or another relay owns it); reconnect to another relay of the list. */
  ringMoved: 4010,
} as const;

/** Why an upgrade (or a join right after it) was refused, as counted in /metrics. */
export const REFUSAL_REASONS = ['ring_full', 'too_many_connections', 'too_many_from_address', 'too_many_rings', 'bad_request', 'unauthorized', 'id_taken', 'redirected', 'no_active_relay', 'store_unavailable'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Why a member left the ring, as logged and counted in /metrics. */
export const LEAVE_REASONS = ['close', 'heartbeat', 'rate_limited', 'backlog', 'too_large', 'protocol_error'] as const;
export type LeaveReason = (typeof LEAVE_REASONS)[number];
