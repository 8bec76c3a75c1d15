/**
 * Step timings for the Docker end-to-end tests: each step is logged with its duration as it ends
 * (pass or fail), and the whole table is logged at the end, so a slow or stuck run says where.
 */
export interface Stopwatch {
  timings: Record<string, number>;
  timed<T>(name: string, work: () => Promise<T>): Promise<T>;
}

export function stopwatch(log: (line: string) => void): Stopwatch {
  const timings: Record<string, number> = {};
  return {
    timings,
    async timed(name, work) {
      const started = Date.now();
      try {
        return await work();
      } finally {
        timings[name] = Date.now() - started;
        log(`${name}: ${timings[name]} ms`);
      }
    },
  };
}
