import { describe, expect, it } from 'vitest';
import { runSweep } from '../sim/sweep.js';

// Half of the 500-seed CI sweep (sim/sweep.ts); the other half is in the sibling file so that
// vitest can run both halves at once.
describe('simulation sweep, mixed faults, seeds 251-500', () => {
  it('keeps every property on every seed', { timeout: 300_000 }, () => {
    const started = performance.now();
    const failures = runSweep(251, 250);
    console.log(`sweep 251-500: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(failures).toEqual([]);
  });
});
