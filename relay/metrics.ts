/**
 * The relay's counters, and their Prometheus text rendering (exposition format 0.0.4), written
 * by hand: a handful of counters and one histogram do not need a client library.
 *
 * Counters are plain fields so the per-frame path costs one property increment.
 */
import { CLIENT_FRAME_TYPES, ERROR_CODES, RELAY_FRAME_TYPES, type ClientFrame, type ErrorCode, type RelayFrame } from '../machines/protocol.js';
import { LEAVE_REASONS, REFUSAL_REASONS, type LeaveReason, type RefusalReason } from './limits.js';

/** Failover buckets, in seconds: from well under a heartbeat to past the default leader timeout. */
export const FAILOVER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    for (let index = 0; index < this.buckets.length; index += 1) {
      if (value <= this.buckets[index]!) this.counts[index]! += 1;
    }
  }
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

/** What one ring's machine has done: labelled `ring="<name>"` in /metrics. */
export class RingMetrics {
  members = 0;
  observers = 0;
  joins = 0;
  readonly leaves = zeroes<LeaveReason>(LEAVE_REASONS);
  electionsStarted = 0;
  leaderChanges = 0;
  /** Members the relay started routing around because they sat on the election frame. */
  bypasses = 0;
  bypassed = 0;
  readonly failover = new Histogram(FAILOVER_BUCKETS);
}

export class RelayMetrics {
  /** Open WebSocket connections, members or not yet. */
  connections = 0;
  /** Upgrades (or joins right after one) refused, by reason. */
  readonly refused = zeroes<RefusalReason>(REFUSAL_REASONS);
  /** Rejections not logged because that connection was already logged for that code. */
  rejectionsUnlogged = 0;
  /** `election started` / `leader announced` lines not written: their member was over its line budget. */
  linesSuppressed = 0;
  /** Client frames accepted and routed, by type (once per frame, not per recipient). */
  readonly forwarded = zeroes<ClientFrame['type']>(CLIENT_FRAME_TYPES);
  /** Frames the relay itself wrote, by type (once per recipient). */
  readonly relayFramesSent = zeroes<RelayFrame['type']>(RELAY_FRAME_TYPES);
  readonly rejected = zeroes<ErrorCode>(ERROR_CODES);
  /** Per ring, by name; the default ring is there from the start. */
  readonly rings = new Map<string, RingMetrics>();
  /** With --store: rings this relay started serving (claimed in etcd), and stopped serving. */
  ownershipClaimed = 0;
  ownershipStopped = 0;
  /** With --store: rings served now (null without a store: the gauge is left out). */
  ringsServed: number | null = null;
  private readonly startedAt = Date.now();

  get uptimeSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  ring(name: string): RingMetrics {
    let ring = this.rings.get(name);
    if (ring === undefined) this.rings.set(name, (ring = new RingMetrics()));
    return ring;
  }

  render(): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const labelled = (name: string, label: string, values: Record<string, number>, extra = '') => {
      for (const [key, value] of Object.entries(values)) lines.push(`${name}{${extra}${label}="${key}"} ${value}`);
    };
    const rings = [...this.rings.entries()];
    const perRing = (name: string, type: 'counter' | 'gauge', help: string, value: (ring: RingMetrics) => number) => {
      metric(name, type, help);
      for (const [ring, values] of rings) lines.push(`${name}{ring="${ring}"} ${value(values)}`);
    };

    perRing('ringleader_relay_members', 'gauge', 'Members in the ring now.', (ring) => ring.members);
    perRing('ringleader_relay_observers', 'gauge', 'Observers of the ring now.', (ring) => ring.observers);
    metric('ringleader_relay_connections', 'gauge', 'Open WebSocket connections, members or not yet.');
    lines.push(`ringleader_relay_connections ${this.connections}`);
    perRing('ringleader_relay_joins_total', 'counter', 'Connections admitted to the ring.', (ring) => ring.joins);
    metric('ringleader_relay_joins_refused_total', 'counter', 'Upgrades or joins refused, by reason.');
    labelled('ringleader_relay_joins_refused_total', 'reason', this.refused);
    metric('ringleader_relay_leaves_total', 'counter', 'Members that left the ring, by reason.');
    for (const [ring, values] of rings) labelled('ringleader_relay_leaves_total', 'reason', values.leaves, `ring="${ring}",`);
    perRing('ringleader_relay_elections_started_total', 'counter', 'Election frames sent by their own initiator.', (ring) => ring.electionsStarted);
    perRing('ringleader_relay_leader_changes_total', 'counter', 'Announcements that changed the leader the relay reports.', (ring) => ring.leaderChanges);
    metric('ringleader_relay_frames_forwarded_total', 'counter', 'Client frames routed, by type.');
    labelled('ringleader_relay_frames_forwarded_total', 'type', this.forwarded);
    metric('ringleader_relay_frames_sent_total', 'counter', 'Frames the relay itself sent (welcome, ring, error), by type, per recipient.');
    labelled('ringleader_relay_frames_sent_total', 'type', this.relayFramesSent);
    metric('ringleader_relay_frames_rejected_total', 'counter', 'Rejected client input, by error code.');
    labelled('ringleader_relay_frames_rejected_total', 'code', this.rejected);
    metric('ringleader_relay_rejections_unlogged_total', 'counter', 'Rejections not logged: that connection was already logged for that code.');
    lines.push(`ringleader_relay_rejections_unlogged_total ${this.rejectionsUnlogged}`);
    metric('ringleader_relay_log_lines_suppressed_total', 'counter', 'Election and leader lines not logged: the member causing them was over its budget (still counted in the ring metrics).');
    lines.push(`ringleader_relay_log_lines_suppressed_total ${this.linesSuppressed}`);
    perRing('ringleader_relay_bypasses_total', 'counter', 'Times a member sat on the election frame and the relay passed it on without it.', (ring) => ring.bypasses);
    perRing('ringleader_relay_bypassed_members', 'gauge', 'Members the relay routes around now (until they send a frame).', (ring) => ring.bypassed);

    const failover = 'ringleader_relay_failover_seconds';
    metric(failover, 'histogram', "Time from the reported leader's leave to the next leader the relay reports.");
    for (const [ring, values] of rings) {
      const histogram = values.failover;
      histogram.buckets.forEach((bound, index) => lines.push(`${failover}_bucket{ring="${ring}",le="${bound}"} ${histogram.counts[index]}`));
      lines.push(`${failover}_bucket{ring="${ring}",le="+Inf"} ${histogram.count}`);
      lines.push(`${failover}_sum{ring="${ring}"} ${histogram.sum}`, `${failover}_count{ring="${ring}"} ${histogram.count}`);
    }

    if (this.ringsServed !== null) {
      metric('ringleader_relay_ownership_claimed_total', 'counter', 'Rings this relay started serving (it took their ownership key in etcd).');
      lines.push(`ringleader_relay_ownership_claimed_total ${this.ownershipClaimed}`);
      metric('ringleader_relay_ownership_stopped_total', 'counter', 'Rings this relay stopped serving (lease no longer sure, another owner, a record etcd refused, shutdown).');
      lines.push(`ringleader_relay_ownership_stopped_total ${this.ownershipStopped}`);
      metric('ringleader_relay_rings_served', 'gauge', 'Rings this relay serves now.');
      lines.push(`ringleader_relay_rings_served ${this.ringsServed}`);
    }
    metric('ringleader_relay_uptime_seconds', 'gauge', 'Seconds since the relay started.');
    lines.push(`ringleader_relay_uptime_seconds ${this.uptimeSeconds}`);
    return `${lines.join('\n')}\n`;
  }
}
