/**
 * Summaries of repeated trials: every figure in the table is a median with its min and max,
 * so one slow trial on a shared machine shows up as a wide range, not as a wrong number.
 */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** How many trials the summary covers. */
  trials: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, trials: sorted.length };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once `check` returns something other than undefined/null/false, polling every
 * `intervalMs`; rejects with `what` after `timeoutMs`. Benchmarks time with events; this is
 * only for set-up conditions, so its polling interval never enters a measured figure.
 */
export async function waitUntil<T>(
  check: () => T | undefined | null | false,
  options: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 20);
  }
}
