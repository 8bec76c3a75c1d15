/** Counts by label (kinds of shots, close codes, error codes), for the run's report. */
export class Tally {
  private readonly counts = new Map<string, number>();

  add(label: string, by = 1): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + by);
  }

  get(label: string): number {
    return this.counts.get(label) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  /** Labels in order, for stable output. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Sums by the part of each label before the first ":" ("hostile:selfLeader" -> "hostile"). */
  byFamily(): Record<string, number> {
    const families = new Tally();
    for (const [label, count] of this.counts) families.add(label.split(':')[0]!, count);
    return families.toJSON();
  }
}
