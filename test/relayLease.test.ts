import { describe, expect, it } from 'vitest';
import {
  CLOCK_RATE_ALLOWANCE,
  DEFAULT_RELAY_LEASE_TTL_S,
  ETCD_MIN_LEASE_TTL_MS,
  relayLeaseTiming,
  servesUntil,
  stillServing,
  type RelayLeaseTiming,
} from '../machines/relayLease.js';

const W = Math.round(5000 / 3); // the nodes' lease at the default LEADER_TIMEOUT_MS

function timing(ttlMs: number, nodeLeaseMs = W): RelayLeaseTiming {
  const result = relayLeaseTiming(ttlMs, nodeLeaseMs);
  if (!result.ok) throw new Error(result.problem);
  return result.timing;
}

describe('the relay lease rule (machines/relayLease.ts)', () => {
  it('at the defaults, the relay stops serving long enough before etcd can expire its lease for every node lease it granted to end', () => {
    const t = timing(DEFAULT_RELAY_LEASE_TTL_S * 1000);
    // A pong sent just before the relay stops gives its node W on a clock that may run slow.
    expect(t.marginMs).toBeGreaterThanOrEqual(W * (1 + CLOCK_RATE_ALLOWANCE));
    // Plus the relay's own clock running slow (or etcd's fast) by the allowance over the TTL.
    expect(t.marginMs - W * (1 + CLOCK_RATE_ALLOWANCE)).toBeGreaterThanOrEqual(2 * CLOCK_RATE_ALLOWANCE * t.ttlMs);
    expect(t).toEqual({ ttlMs: 8000, marginMs: 3434, renewalWindowMs: 4566, keepAliveIntervalMs: 1141, takeoverWithinMs: 9000, survivesEtcdElection: true });
  });

  it('at the defaults, a keep-alive interval plus an etcd leader election (3 s) fit in the window; at 5 s they do not', () => {
    const t = timing(DEFAULT_RELAY_LEASE_TTL_S * 1000);
    expect(t.renewalWindowMs - t.keepAliveIntervalMs).toBeGreaterThanOrEqual(3000);
    expect(3 * t.keepAliveIntervalMs).toBeLessThanOrEqual(t.renewalWindowMs);
    expect(timing(5000).survivesEtcdElection).toBe(false);
  });

  it('refuses a TTL below what etcd grants, and one that leaves no renewal window, saying what would do', () => {
    const short = relayLeaseTiming(ETCD_MIN_LEASE_TTL_MS - 1, W);
    expect(short).toEqual({ ok: false, problem: expect.stringContaining("below etcd's minimum of 2000 ms") });
    const noWindow = relayLeaseTiming(3000, W);
    expect(noWindow.ok).toBe(false);
    if (!noWindow.ok) expect(noWindow.problem).toMatch(/leaves 566 ms to renew it .* use a TTL of 4 s or more/);
    // The TTL it names does keep the rule.
    expect(relayLeaseTiming(4000, W).ok).toBe(true);
    expect(relayLeaseTiming(5000, 0).ok).toBe(false);
  });

  it('a shorter leader timeout allows a shorter TTL; a 3 s TTL then does not survive an etcd election', () => {
    const t = timing(3000, Math.round(2000 / 3));
    expect(t.survivesEtcdElection).toBe(false);
    expect(t.renewalWindowMs).toBeGreaterThanOrEqual(1000);
  });

  it('serves until the latest confirmed send plus the window, never less, and not at that instant', () => {
    const t = timing(8000);
    let until = servesUntil(0, 100, t);
    expect(until).toBe(100 + t.renewalWindowMs);
    // A late confirmation of an older keep-alive does not shorten it.
    until = servesUntil(until, 50, t);
    expect(until).toBe(100 + t.renewalWindowMs);
    until = servesUntil(until, 900, t);
    expect(until).toBe(900 + t.renewalWindowMs);
    expect(stillServing(until - 1, until)).toBe(true);
    expect(stillServing(until, until)).toBe(false);
  });
});
