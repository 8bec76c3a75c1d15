/**
 * Records, from the outside, when each relay (store instance or child process) served each ring:
 * intervals [since, until] on one clock for every process of this machine (performance.timeOrigin
 * + performance.now(), in ms). The property under test: no two relays' intervals of one ring overlap.
 */
export interface ServingInterval {
  relay: string;
  ring: string;
  since: number;
  /** null while still serving. */
  until: number | null;
}

export class OwnershipRecorder {
  readonly intervals: ServingInterval[] = [];

  serving(relay: string, ring: string, since: number): void {
    this.intervals.push({ relay, ring, since, until: null });
  }

  stopped(relay: string, ring: string, until: number): void {
    const open = this.intervals.find((interval) => interval.relay === relay && interval.ring === ring && interval.until === null);
    if (open === undefined) throw new Error(`${relay} stopped ${ring} without serving it`);
    open.until = until;
  }

  /** Who serves `ring` now (an open interval), or null. */
  server(ring: string): string | null {
    return this.intervals.find((interval) => interval.ring === ring && interval.until === null)?.relay ?? null;
  }

  /** Every pair of intervals of one ring, from two relays, that overlap (empty when the property holds). */
  overlaps(): Array<[ServingInterval, ServingInterval]> {
    const found: Array<[ServingInterval, ServingInterval]> = [];
    for (const [index, a] of this.intervals.entries()) {
      for (const b of this.intervals.slice(index + 1)) {
        if (a.ring !== b.ring || a.relay === b.relay) continue;
        const aEnd = a.until ?? Number.POSITIVE_INFINITY;
        const bEnd = b.until ?? Number.POSITIVE_INFINITY;
        if (a.since < bEnd && b.since < aEnd) found.push([a, b]);
      }
    }
    return found;
  }
}

/** performance.now() of this process on the clock every process of the machine shares. */
export function absolute(monotonic: number): number {
  return performance.timeOrigin + monotonic;
}
