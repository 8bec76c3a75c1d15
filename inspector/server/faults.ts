/**
 * The inspector runs inside `ringleader up`, whose exit takes the relay and every node with it:
 * an error in a timer, a socket handler or a request must cost that one callback, never the
 * process. Every callback the inspector hands to Node or to `ws` goes through `guarded`, which
 * logs the error (the first of each kind, then every hundredth) and swallows it.
 */
import type { Logger } from '../../runtime/logger.js';

/** The first occurrence and every `every`-th after it: a flood costs a few log lines, not one each. */
export function worthLogging(count: number, every = 100): boolean {
  return count === 1 || count % every === 0;
}

export type FaultReporter = (where: string, error: unknown) => void;

export function faultReporter(logger: Logger): FaultReporter {
  const counts = new Map<string, number>();
  return (where, error) => {
    const count = (counts.get(where) ?? 0) + 1;
    counts.set(where, count);
    if (worthLogging(count)) logger.error({ err: error, where, count }, `inspector error in ${where} (the inspector carries on)`);
  };
}

export function guarded<A extends unknown[]>(report: FaultReporter, where: string, callback: (...args: A) => void): (...args: A) => void {
  return (...args) => {
    try {
      callback(...args);
    } catch (error) {
      report(where, error);
    }
  };
}
