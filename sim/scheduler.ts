/**
 * Virtual time and the agenda of things that happen at it. Events at the same instant run in
 * the order they were scheduled, so a run depends only on its seed.
 *
 * A step may leave work for its own end (`atEndOfStep`), like a microtask in Node: it runs
 * after the step and before the next one, in the order it was left.
 */

interface Entry {
  at: number;
  seq: number;
  run: () => void;
}

export class Scheduler {
  private heap: Entry[] = [];
  private seq = 0;
  private endOfStep: Array<() => void> = [];
  now = 0;

  /** Runs `run` at virtual time `at` (never earlier than now). */
  at(at: number, run: () => void): void {
    this.push({ at: Math.max(at, this.now), seq: this.seq++, run });
  }

  after(delay: number, run: () => void): void {
    this.at(this.now + delay, run);
  }

  /** Runs `run` once the step under way is over (work it leaves there runs too). */
  atEndOfStep(run: () => void): void {
    this.endOfStep.push(run);
  }

  get pending(): number {
    return this.heap.length;
  }

  /** When the next event is due, or null when nothing is scheduled. */
  peekTime(): number | null {
    return this.heap[0]?.at ?? null;
  }

  /** Runs the next event; false when the agenda is empty. */
  step(): boolean {
    const entry = this.pop();
    if (entry === undefined) return false;
    this.now = entry.at;
    entry.run();
    for (let index = 0; index < this.endOfStep.length; index += 1) this.endOfStep[index]!();
    this.endOfStep.length = 0;
    return true;
  }

  // A binary heap ordered by (at, seq). Sifting moves a hole rather than swapping pairs: this
  // runs for every frame and timer of a run.
  private push(entry: Entry): void {
    const heap = this.heap;
    let index = heap.length;
    heap.push(entry);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const above = heap[parent]!;
      if (!before(entry, above)) break;
      heap[index] = above;
      index = parent;
    }
    heap[index] = entry;
  }

  private pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    const size = heap.length;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && before(heap[right]!, heap[left]!) ? right : left;
      const below = heap[child]!;
      if (!before(below, last)) break;
      heap[index] = below;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
