/**
 * The seed sweep CI runs (test/sim-sweep*.test.ts): small rings under every kind of fault. Each
 * seed varies the ring size (2-7), the rank range (small ranges make ties, broken on id), the
 * link delays (every fourth seed has links up to 120 ms) and the clock rates (every third seed
 * has clocks up to 30% apart, within the bound docs/GUARANTEES.md states), so one sweep covers
 * several shapes.
 */
import { FAULT_KINDS } from './faults.js';
import { runSimulation, type SimulationOptions } from './simulation.js';

export function sweepOptions(seed: number): SimulationOptions {
  return {
    seed,
    nodes: 2 + (seed % 6),
    faults: FAULT_KINDS,
    faultCount: 6,
    faultWindowMs: 12_000,
    settleMs: 4_000,
    rankRange: seed % 3 === 0 ? 3 : 1_000_000,
    linkDelayMs: seed % 4 === 0 ? { min: 1, max: 120 } : { min: 1, max: 10 },
    ...(seed % 3 === 1 ? { clockDrift: 0.3 } : {}),
  };
}

/** Runs seeds [first, first + count) and returns one line (violation + replay command) per failing seed. */
export function runSweep(first: number, count: number): string[] {
  const failures: string[] = [];
  for (let seed = first; seed < first + count; seed += 1) {
    const summary = runSimulation(sweepOptions(seed));
    if (!summary.ok) {
      const [violation] = summary.violations;
      failures.push(`seed ${seed}: ${violation!.property}: ${violation!.message}\n  reproduce: ${summary.reproduce}`);
    }
  }
  return failures;
}
