/**
 * A tiny seeded PRNG (mulberry32) kept as a number in machine context, so that timer jitter
 * is random across nodes yet the machines stay pure and a seed replays a run exactly.
 */

export interface RandomDraw {
  /** Uniform in [0, 1). */
  value: number;
  /** The state to keep for the next draw. */
  state: number;
}

export function nextRandom(state: number): RandomDraw {
  const next = (state + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, state: next };
}

/** `base` spread uniformly by ±`ratio` (0.2 gives 80%..120% of base). */
export function jittered(base: number, ratio: number, state: number): { delay: number; state: number } {
  const draw = nextRandom(state);
  return { delay: Math.max(0, Math.round(base * (1 + ratio * (2 * draw.value - 1)))), state: draw.state };
}
