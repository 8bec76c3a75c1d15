/** The relay's rate limiter and metrics text on their own: numbers a flooder or Prometheus sees. */
import { describe, expect, it } from 'vitest';
import { heartbeatIntervalFor } from '../relay/limits.js';
import { RelayMetrics } from '../relay/metrics.js';
import { TokenBucket } from '../relay/rateLimiter.js';
import { metric } from './relayHelpers.js';

describe('TokenBucket', () => {
  it('allows a burst, then the average rate, and refills while the client is quiet', () => {
    const bucket = TokenBucket.perSecond(10, 5, 0);
    const allowed = Array.from({ length: 8 }, () => bucket.take(0));
    expect(allowed).toEqual([true, true, true, true, true, false, false, false]);
    // 3 frames over: one second of silence refills 10 tokens, capped at the burst of 5.
    expect(bucket.take(1000)).toBe(true);
    expect(bucket.exhausted).toBe(false);
  });

  it('marks a client that keeps sending a whole burst over the limit as exhausted', () => {
    const bucket = TokenBucket.perSecond(10, 5, 0);
    let now = 0;
    let frames = 0;
    while (!bucket.exhausted && frames < 1000) {
      bucket.take(now);
      now += 10; // 100 frames/s against a limit of 10/s
      frames += 1;
    }
    expect(bucket.exhausted).toBe(true);
    expect(frames).toBeGreaterThan(10);
    expect(frames).toBeLessThan(20);
  });
});

describe('RelayMetrics', () => {
  it('renders counters, labels and a cumulative histogram in Prometheus text', () => {
    const metrics = new RelayMetrics();
    metrics.ring('default').members = 3;
    metrics.ring('jobs').members = 2;
    metrics.rejected.bad_json += 2;
    metrics.forwarded.election += 7;
    metrics.ring('default').failover.observe(0.02);
    metrics.ring('default').failover.observe(0.3);
    const text = metrics.render();
    expect(metric(text, 'ringleader_relay_members{ring="default"}')).toBe(3);
    expect(metric(text, 'ringleader_relay_members{ring="jobs"}')).toBe(2);
    expect(metric(text, 'ringleader_relay_frames_rejected_total{code="bad_json"}')).toBe(2);
    expect(metric(text, 'ringleader_relay_frames_forwarded_total{type="election"}')).toBe(7);
    expect(metric(text, 'ringleader_relay_failover_seconds_bucket{ring="default",le="0.01"}')).toBe(0);
    expect(metric(text, 'ringleader_relay_failover_seconds_bucket{ring="default",le="0.025"}')).toBe(1);
    expect(metric(text, 'ringleader_relay_failover_seconds_bucket{ring="default",le="0.5"}')).toBe(2);
    expect(metric(text, 'ringleader_relay_failover_seconds_bucket{ring="default",le="+Inf"}')).toBe(2);
    expect(metric(text, 'ringleader_relay_failover_seconds_sum{ring="default"}')).toBeCloseTo(0.32);
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.split('\n').filter(Boolean)) {
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{\w+="[^"]*"(,\w+="[^"]*")*\})? [\d.e+-]+)$/);
    }
  });
});

describe('heartbeatIntervalFor', () => {
  it('pings twice per leader timeout so a frozen peer is gone within one', () => {
    expect(heartbeatIntervalFor(5000)).toBe(2500);
    expect(heartbeatIntervalFor(10)).toBe(25);
  });
});
