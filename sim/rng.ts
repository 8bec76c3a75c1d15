/**
 * The simulator's one source of randomness: a seeded PRNG (the same mulberry32 the machines use
 * for jitter), so that a seed replays a run exactly.
 */
import { nextRandom } from '../machines/random.js';

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    const draw = nextRandom(this.state);
    this.state = draw.state;
    return draw.value;
  }

  /** Uniform integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: nothing to pick from');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A 31-bit seed for a child generator (a node's jitter, say). */
  seed(): number {
    return Math.floor(this.next() * 0x7fffffff);
  }
}
