/**
 * The relay's GET /metrics (Prometheus text), read into the few figures a fuzz run reports:
 * rejections by code, leaves by reason, joins, bypasses, and the rejections it did not log.
 */
export interface RelayFigures {
  /** Gauges: open WebSocket connections and ring members now. */
  connections: number;
  members: number;
  rejected: Record<string, number>;
  leaves: Record<string, number>;
  joins: number;
  joinsRefused: Record<string, number>;
  rejectionsUnlogged: number;
  bypasses: number;
  forwarded: Record<string, number>;
}

export async function readRelayFigures(relayHttpUrl: string): Promise<RelayFigures> {
  const response = await fetch(`${relayHttpUrl}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return relayFigures(await response.text());
}

export function relayFigures(text: string): RelayFigures {
  const series = parseSeries(text);
  return {
    connections: series.plain('ringleader_relay_connections'),
    members: series.plain('ringleader_relay_members'),
    rejected: series.labelled('ringleader_relay_frames_rejected_total'),
    leaves: series.labelled('ringleader_relay_leaves_total'),
    joins: series.plain('ringleader_relay_joins_total'),
    joinsRefused: series.labelled('ringleader_relay_joins_refused_total'),
    rejectionsUnlogged: series.plain('ringleader_relay_rejections_unlogged_total'),
    bypasses: series.plain('ringleader_relay_bypasses_total'),
    forwarded: series.labelled('ringleader_relay_frames_forwarded_total'),
  };
}

/** `after - before`, counter by counter: what happened during the run alone (gauges as they are after). */
export function figuresSince(before: RelayFigures, after: RelayFigures): RelayFigures {
  const minus = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.entries(a).map(([key, value]) => [key, value - (b[key] ?? 0)]));
  return {
    connections: after.connections,
    members: after.members,
    rejected: minus(after.rejected, before.rejected),
    leaves: minus(after.leaves, before.leaves),
    joins: after.joins - before.joins,
    joinsRefused: minus(after.joinsRefused, before.joinsRefused),
    rejectionsUnlogged: after.rejectionsUnlogged - before.rejectionsUnlogged,
    bypasses: after.bypasses - before.bypasses,
    forwarded: minus(after.forwarded, before.forwarded),
  };
}

export function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((total, value) => total + value, 0);
}

/**
 * Sample lines `name value` and `name{label="x",...} value`; comments skipped. Per-ring series
 * (`ring="default"`) are summed over rings: a fuzz run watches the relay as a whole.
 */
function parseSeries(text: string) {
  const samples: { name: string; labels: Map<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line.trim());
    if (!match) continue;
    const labels = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) labels.set(pair[1]!, pair[2]!);
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  const otherThanRing = (labels: Map<string, string>) => [...labels.keys()].filter((key) => key !== 'ring');
  return {
    /** The series without labels of its own, summed over rings. */
    plain: (name: string) =>
      samples.filter((sample) => sample.name === name && otherThanRing(sample.labels).length === 0).reduce((total, sample) => total + sample.value, 0),
    /** The series by its one label (code, reason, type), summed over rings. */
    labelled: (name: string) => {
      const byLabel: Record<string, number> = {};
      for (const sample of samples) {
        const [key] = otherThanRing(sample.labels);
        if (sample.name !== name || key === undefined) continue;
        const label = sample.labels.get(key)!;
        byLabel[label] = (byLabel[label] ?? 0) + sample.value;
      }
      return byLabel;
    },
  };
}
