/**
 * The relay's lease on the rings it serves when several relays share an etcd store (issue 23), as
 * plain arithmetic. A relay holds one etcd lease; the key that says it serves a ring is attached
 * to it, so etcd deletes the key (and another relay may claim the ring) once the lease expires on
 * etcd's clock. The relay cannot read that clock, so it judges the lease on its own monotonic
 * clock, pessimistically: a keep-alive *sent* at `s` and confirmed proves the lease runs until at
 * least `s + TTL` on etcd's clock (etcd restarts the TTL when it receives the keep-alive, later
 * than `s`), and the relay serves only until `s + TTL - margin`. The margin covers two things:
 *
 * - clock rates: the relay's and etcd's monotonic clocks may run at rates that differ by up to
 *   `CLOCK_RATE_ALLOWANCE` over a TTL (both directions: `2 * rate * TTL`);
 * - the nodes' lease on the relay link, `W`: a pong the relay sent just before it stopped gives
 *   its node up to `W` (on the node's clock, which may run slow by the same allowance) of
 *   leadership. With `margin >= W * (1 + rate) + 2 * rate * TTL`, every lease the old relay
 *   granted has ended before etcd can hand the ring to another relay, so no successor can be
 *   elected through the new relay while the old leader may still believe it leads.
 *
 * What is left of the TTL, the renewal window, must outlast what keep-alives can run into on a
 * healthy cluster: an etcd leader election (etcd's election timeout is 1 s, randomised up to 2 s,
 * then a vote; 1.6-2.5 s measured on a loaded 2-core machine) after a keep-alive interval in
 * which the last confirmed one may have been sent, so that losing one etcd member of three never
 * makes a relay stop serving.
 */

/** etcd 3.4's smallest lease TTL on default settings (1.5 x its 1 s election timeout, rounded up to whole seconds): a shorter one is granted longer. */
export const ETCD_MIN_LEASE_TTL_MS = 2000;

/** How far the relay's, etcd's and the nodes' monotonic clocks may differ in rate over a few seconds (10%: far above real drift, which is parts per million). */
export const CLOCK_RATE_ALLOWANCE = 0.1;

/** An etcd leader election may take this long (election timeout 1 s, randomised up to 2x, then a vote); keep-alives are not answered meanwhile. */
export const ETCD_ELECTION_ALLOWANCE_MS = 3000;

/** The shortest renewal window accepted: below it, keep-alives every quarter of it leave no room for a slow round trip. */
export const MIN_RENEWAL_WINDOW_MS = 1000;

/**
 * How long after a relay's lease expired in etcd (or it died) a standby serves the ring: etcd
 * checks for expired leases every 500 ms, then the standby hears the delete on its watch, claims
 * the ring and reads its terms (a few round trips).
 */
export const TAKEOVER_SLACK_MS = 1000;

/** Default TTL of a relay's etcd lease, in seconds (etcd grants whole seconds). docs/GUARANTEES.md says why 8. */
export const DEFAULT_RELAY_LEASE_TTL_S = 8;

/** Keep-alives per renewal window: three may go unanswered (or one etcd election pass) before the relay stops. */
export const KEEP_ALIVES_PER_WINDOW = 4;

export interface RelayLeaseTiming {
  /** The TTL etcd granted (it may raise a requested one to its minimum). */
  ttlMs: number;
  /** The relay stops serving this long before etcd may expire its lease. */
  marginMs: number;
  /** `ttlMs - marginMs`: how long a confirmed keep-alive lets the relay serve, from when it was sent. */
  renewalWindowMs: number;
  /** One keep-alive every quarter of the window. */
  keepAliveIntervalMs: number;
  /** A standby serves a ring this long after its relay died or froze, at the latest (TTL + slack). */
  takeoverWithinMs: number;
  /** Whether the window, less one keep-alive interval, outlasts an etcd leader election (losing one etcd member of three never stops a relay). */
  survivesEtcdElection: boolean;
}

export type RelayLeaseResult = { ok: true; timing: RelayLeaseTiming } | { ok: false; problem: string };

/** The margin for a lease of `ttlMs` when nodes hold leases of `nodeLeaseMs` (W) on their relay link. */
export function relayLeaseMargin(ttlMs: number, nodeLeaseMs: number): number {
  return Math.ceil(nodeLeaseMs * (1 + CLOCK_RATE_ALLOWANCE) + 2 * CLOCK_RATE_ALLOWANCE * ttlMs);
}

/**
 * The timing of a relay lease of `ttlMs` (as granted) for nodes whose link lease is `nodeLeaseMs`
 * (W = L / 3), or why it cannot keep the rule: shorter than etcd grants, or too short to leave
 * a renewal window once the margin is taken.
 */
export function relayLeaseTiming(ttlMs: number, nodeLeaseMs: number): RelayLeaseResult {
  if (!Number.isFinite(ttlMs) || ttlMs < ETCD_MIN_LEASE_TTL_MS) {
    return { ok: false, problem: `a relay lease TTL of ${ttlMs} ms is below etcd's minimum of ${ETCD_MIN_LEASE_TTL_MS} ms` };
  }
  if (!Number.isFinite(nodeLeaseMs) || nodeLeaseMs <= 0) return { ok: false, problem: `the node lease W (${nodeLeaseMs} ms) must be a positive number` };
  const marginMs = relayLeaseMargin(ttlMs, nodeLeaseMs);
  const renewalWindowMs = ttlMs - marginMs;
  if (renewalWindowMs < MIN_RENEWAL_WINDOW_MS) {
    const shortest = Math.ceil((MIN_RENEWAL_WINDOW_MS + nodeLeaseMs * (1 + CLOCK_RATE_ALLOWANCE)) / (1 - 2 * CLOCK_RATE_ALLOWANCE) / 1000);
    return {
      ok: false,
      problem:
        `a relay lease TTL of ${ttlMs} ms leaves ${renewalWindowMs} ms to renew it once the margin of ${marginMs} ms is taken ` +
        `(the nodes' lease W is ${nodeLeaseMs} ms); it needs at least ${MIN_RENEWAL_WINDOW_MS} ms: use a TTL of ${shortest} s or more, or a shorter LEADER_TIMEOUT_MS`,
    };
  }
  const keepAliveIntervalMs = Math.floor(renewalWindowMs / KEEP_ALIVES_PER_WINDOW);
  return {
    ok: true,
    timing: {
      ttlMs,
      marginMs,
      renewalWindowMs,
      keepAliveIntervalMs,
      takeoverWithinMs: ttlMs + TAKEOVER_SLACK_MS,
      survivesEtcdElection: renewalWindowMs - keepAliveIntervalMs >= ETCD_ELECTION_ALLOWANCE_MS,
    },
  };
}

/**
 * Until when (on the relay's monotonic clock) a keep-alive sent at `sentAtMs` and confirmed lets
 * the relay serve. Confirmations may come in any order: the latest end wins, never an earlier one.
 */
export function servesUntil(current: number, sentAtMs: number, timing: Pick<RelayLeaseTiming, 'renewalWindowMs'>): number {
  return Math.max(current, sentAtMs + timing.renewalWindowMs);
}

/** Whether the relay may still serve at `nowMs`: strictly before the end (at the end, it has stopped). */
export function stillServing(nowMs: number, until: number): boolean {
  return nowMs < until;
}
