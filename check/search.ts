/**
 * Breadth-first search over every world reachable from the start, each visited once (by its
 * canonical hash). Breadth-first so that the first violation found comes with a shortest trace,
 * which is the easiest to read. Per state the search keeps only its hash, its parent and which
 * of its parent's enabled steps reached it (about 100 bytes); the worlds themselves live only in
 * the frontier. A trace is rebuilt by replaying those choices from the start (steps are
 * deterministic).
 */
import { hashWorld } from './canonical.js';
import { emptyReport } from './host.js';
import { initialWorld, type Model } from './model.js';
import { checkReport, checkStep, checkWorld, highestTerm, type Violation } from './properties.js';
import { Stepper, type Step } from './steps.js';
import type { World } from './world.js';

export interface SearchStats {
  /** Distinct states reached (the term-capped ones included). */
  states: number;
  /** Steps taken (edges of the state graph, to new and known states alike). */
  transitions: number;
  /** Length of the longest shortest path from the start, in steps. */
  maxDepth: number;
  /** States past the term cap: reached and checked, not explored further. */
  capped: number;
  elapsedMs: number;
  /** Distinct machine states (after rebasing) and machine transitions actually computed. */
  nodeStates: number;
  relayStates: number;
  machineTransitions: number;
  frontier: number;
}

export interface SearchOutcome {
  stats: SearchStats;
  violation: (Violation & { steps: Step[] }) | null;
  /** The search stopped at `maxStates` before it was complete. */
  truncated: boolean;
}

export interface SearchOptions {
  /** Called about every `progressMs` ms of a long run. */
  onProgress?: (stats: SearchStats) => void;
  progressMs?: number;
}

export function search(model: Model, options: SearchOptions = {}): SearchOutcome {
  const started = performance.now();
  const stepper = new Stepper(model);
  const { termCap, maxStates } = model.config;
  const visited = new Map<string, number>();
  const parents = new GrowingArray(Int32Array);
  /** Which of the parent's enabled steps led here. */
  const choices = new GrowingArray(Uint16Array);
  let transitions = 0;
  let capped = 0;
  let depth = 0;
  let frontier: Array<{ world: World; index: number }> = [];

  const stats = (): SearchStats => ({
    states: parents.length,
    transitions,
    maxDepth: depth,
    capped,
    elapsedMs: performance.now() - started,
    nodeStates: model.nodes.table.size,
    relayStates: model.relay.table.size,
    machineTransitions: model.nodes.transitions + model.relay.transitions,
    frontier: frontier.length,
  });
  const traceTo = (index: number): Step[] => {
    const path: number[] = [];
    for (let at = index; at > 0; at = parents.get(at)) path.push(choices.get(at));
    const steps: Step[] = [];
    let world = initialWorld(model);
    for (const choice of path.reverse()) {
      const step = stepper.enabled(world)[choice]!;
      steps.push(step);
      world = stepper.apply(world, step).world;
    }
    return steps;
  };

  const start = initialWorld(model);
  visited.set(hashWorld(start), 0);
  parents.push(-1);
  choices.push(0);
  const atStart = checkWorld(model, start);
  if (atStart !== null) return { stats: stats(), violation: { ...atStart, steps: [] }, truncated: false };
  frontier.push({ world: start, index: 0 });

  const progressMs = options.progressMs ?? 2000;
  let lastProgress = started;
  let expanded = 0;
  while (frontier.length > 0) {
    const next: Array<{ world: World; index: number }> = [];
    for (const { world, index } of frontier) {
      const enabled = stepper.enabled(world);
      for (let choice = 0; choice < enabled.length; choice += 1) {
        const step = enabled[choice]!;
        transitions += 1;
        const { world: after, report } = stepper.apply(world, step);
        // What a step did is judged even when it leads somewhere known: another path may not do it.
        const stepViolation = checkReport(report);
        if (stepViolation !== null) return { stats: stats(), violation: { ...stepViolation, steps: [...traceTo(index), step] }, truncated: false };
        const key = hashWorld(after);
        if (visited.has(key)) continue;
        const reached = parents.length;
        visited.set(key, reached);
        parents.push(index);
        choices.push(choice);
        const violation = checkStep(model, after, emptyReport());
        if (violation !== null) return { stats: { ...stats(), maxDepth: depth + 1 }, violation: { ...violation, steps: traceTo(reached) }, truncated: false };
        if (highestTerm(model, after) > termCap) capped += 1;
        else next.push({ world: after, index: reached });
        if (maxStates > 0 && parents.length >= maxStates) return { stats: stats(), violation: null, truncated: true };
      }
      expanded += 1;
      if (options.onProgress !== undefined && (expanded & 255) === 0) {
        const now = performance.now();
        if (now - lastProgress >= progressMs) {
          lastProgress = now;
          options.onProgress(stats());
        }
      }
    }
    frontier = next;
    if (frontier.length > 0) depth += 1;
  }
  return { stats: stats(), violation: null, truncated: false };
}

/** A typed array that grows: a few bytes per state instead of a JavaScript array slot and object. */
class GrowingArray<T extends Int32Array | Uint16Array> {
  private data: T;
  length = 0;

  constructor(private readonly make: new (size: number) => T) {
    this.data = new make(1 << 16);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length] = value;
    this.length += 1;
  }

  get(index: number): number {
    return this.data[index]!;
  }
}
