/**
 * The ring's timing, and the only place it is derived. One number sets it: `L`, the leader
 * timeout (`LEADER_TIMEOUT_MS`, default 5000 ms). Everything else follows from it
 * (docs/GUARANTEES.md, "The numbers"):
 *
 * - the node's lease `W = L/3`, and its ping to the relay every `W/3`;
 * - the relay's heartbeat `H = L/2`: a member that has not answered the previous ping by the next
 *   one is dropped, so a silent member leaves within `2H = L`;
 * - the relay's forward timeout `F = H`;
 * - the upgrade's handshake timeout: one lease (at least a second).
 *
 * Safety needs `W < H` (a cut-off leader steps down before the relay can drop it and a successor
 * be elected) and `F >= W`. The relay tells every member its timing in `welcome.timing`; a node
 * follows the relay's `L` and refuses a relay whose heartbeat its own fixed lease would outlive
 * (`timingAfterWelcome`). Pure: no clock, no I/O.
 */

/** `LEADER_TIMEOUT_MS` when nobody sets it. */
export const DEFAULT_LEADER_TIMEOUT_MS = 5000;

/** The shortest relay heartbeat (and forward timeout): a tiny `L` must not make the relay ping in a loop. */
const MIN_RELAY_HEARTBEAT_MS = 25;
/** The shortest node ping interval. */
const MIN_NODE_PING_MS = 10;
/** The shortest handshake timeout: an upgrade on a busy machine can take longer than a short lease. */
const MIN_HANDSHAKE_TIMEOUT_MS = 1000;

export interface NodeTiming {
  /** How often a follower asks the leader whether it is alive (CHECK_INTERVAL_MS). */
  checkIntervalMs: number;
  /** How long a follower waits for `answerLeader` before it starts an election (LEADER_TIMEOUT_MS). */
  leaderTimeoutMs: number;
  /** How long a lap may take before the node starts a fresh one (ELECTION_TIMEOUT_MS), on top of `electionHopMs` per member. */
  electionTimeoutMs: number;
  /**
   * Time allowed per ring member on top of `electionTimeoutMs`: a lap visits every member, so a
   * fixed timeout that suits 5 nodes would restart (and so never finish) every lap of 1000.
   */
  electionHopMs: number;
  /**
   * The lease: with no round trip to the relay confirmed for this long the link is dead, and a
   * leader steps down. Pings go out three times per lease. Default: a third of `leaderTimeoutMs`,
   * so a cut-off leader steps down before a follower's leader timeout can fire and before the
   * relay (pinging every half leader timeout) can drop it.
   */
  heartbeatTimeoutMs: number;
  /** Spread of the check and election timers, as a fraction of their base (0.2 = ±20%). */
  jitter: number;
}

/** What the relay runs with, and tells every member in `welcome.timing`. */
export interface RelayTiming {
  /** `L`: the ring's leader timeout. */
  leaderTimeoutMs: number;
  /** `H`: how often the relay pings every member; one that missed the previous ping is dropped. */
  heartbeatMs: number;
  /** `F`: how long a member may hold the lap's frame before the relay routes around it. */
  forwardTimeoutMs: number;
}

/** The node's lease for a leader timeout: `W = L/3`. */
export function leaseFor(leaderTimeoutMs: number): number {
  return Math.round(leaderTimeoutMs / 3);
}

/** The relay's heartbeat for a leader timeout: `H = L/2`, so two of them make one leader timeout. */
export function heartbeatIntervalFor(leaderTimeoutMs: number): number {
  return Math.max(MIN_RELAY_HEARTBEAT_MS, Math.floor(leaderTimeoutMs / 2));
}

/** The relay's forward timeout: `F = H` (never shorter than the lease; docs/GUARANTEES.md). */
export function forwardTimeoutFor(leaderTimeoutMs: number): number {
  return heartbeatIntervalFor(leaderTimeoutMs);
}

/** The relay's timing for a leader timeout, with the forward timeout overridden if given. */
export function relayTimingFor(leaderTimeoutMs: number = DEFAULT_LEADER_TIMEOUT_MS, forwardTimeoutMs?: number): RelayTiming {
  return {
    leaderTimeoutMs,
    heartbeatMs: heartbeatIntervalFor(leaderTimeoutMs),
    forwardTimeoutMs: forwardTimeoutMs ?? forwardTimeoutFor(leaderTimeoutMs),
  };
}

export const DEFAULT_RELAY_TIMING: RelayTiming = relayTimingFor(DEFAULT_LEADER_TIMEOUT_MS);

export const DEFAULT_TIMING: NodeTiming = {
  checkIntervalMs: 1000,
  leaderTimeoutMs: DEFAULT_LEADER_TIMEOUT_MS,
  electionTimeoutMs: 3000,
  electionHopMs: 20,
  heartbeatTimeoutMs: leaseFor(DEFAULT_LEADER_TIMEOUT_MS),
  jitter: 0.2,
};

/** The timing a node runs with: defaults, the caller's overrides, and a lease derived from the leader timeout unless given. */
export function resolveTiming(timing: Partial<NodeTiming> = {}): NodeTiming {
  const merged = { ...DEFAULT_TIMING, ...timing };
  if (timing.heartbeatTimeoutMs === undefined) merged.heartbeatTimeoutMs = leaseFor(merged.leaderTimeoutMs);
  return merged;
}

/** How long a node waits for a lap over `members` members to finish, before jitter. */
export function electionTimeoutFor(timing: NodeTiming, members: number): number {
  return timing.electionTimeoutMs + timing.electionHopMs * Math.max(1, members);
}

/** How often a node pings the relay: three pings per lease, so one lost pong does not end it. */
export function heartbeatIntervalOf(timing: Pick<NodeTiming, 'heartbeatTimeoutMs'>): number {
  return Math.max(MIN_NODE_PING_MS, Math.floor(timing.heartbeatTimeoutMs / 3));
}

/** How long a leaving leader waits for its hand-off lap before it leaves anyway. */
export function handOffTimeoutFor(timing: NodeTiming, members: number): number {
  return 2 * electionTimeoutFor(timing, members);
}

/** How long the WebSocket upgrade may take before the attempt is given up: one lease, at least a second. */
export function handshakeTimeoutFor(leaseMs: number): number {
  return Math.max(leaseMs, MIN_HANDSHAKE_TIMEOUT_MS);
}

/**
 * Whether a lease is safe against a relay heartbeat: strictly shorter, so a cut-off leader has
 * stepped down before the relay can have dropped it (and before a lap routed around it, `F = H`,
 * can complete). The margin for clock rates and delay is `H - W` (docs/GUARANTEES.md).
 */
export function leaseFitsHeartbeat(leaseMs: number, relayHeartbeatMs: number): boolean {
  return leaseMs < relayHeartbeatMs;
}

/** What a node does with the relay's timing from `welcome`. */
export type TimingVerdict =
  /** Run with `timing` (the same object when nothing changed). */
  | { kind: 'follow'; timing: NodeTiming }
  /** The node's own lease would outlive the relay's heartbeat: it must not join. */
  | { kind: 'refuse'; detail: string };

/**
 * The node's timing after a `welcome`. A relay that says nothing (an older relay) changes nothing.
 * Otherwise the node follows the relay's `L`: its leader timeout becomes the relay's, and so does
 * its lease when the lease was derived from `L` (`fixedLeaseMs` null). A lease the host fixed
 * (`joinRing({ timing: { heartbeatTimeoutMs } })`, the checker's configurations) is kept if it is
 * shorter than the relay's heartbeat, and refused otherwise: there is no safe way to run it.
 */
export function timingAfterWelcome(timing: NodeTiming, fixedLeaseMs: number | null, told: RelayTiming | undefined): TimingVerdict {
  if (told === undefined) return { kind: 'follow', timing };
  const lease = fixedLeaseMs ?? leaseFor(told.leaderTimeoutMs);
  if (!leaseFitsHeartbeat(lease, told.heartbeatMs)) {
    return {
      kind: 'refuse',
      detail:
        `this node's lease (${lease} ms) is not shorter than the relay's heartbeat (${told.heartbeatMs} ms, leader timeout ${told.leaderTimeoutMs} ms): ` +
        'a cut-off leader could outlive its drop; shorten the lease (heartbeatTimeoutMs) or leave it to the relay',
    };
  }
  if (timing.leaderTimeoutMs === told.leaderTimeoutMs && timing.heartbeatTimeoutMs === lease) return { kind: 'follow', timing };
  return { kind: 'follow', timing: { ...timing, leaderTimeoutMs: told.leaderTimeoutMs, heartbeatTimeoutMs: lease } };
}
