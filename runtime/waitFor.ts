/**
 * The one polling helper that the tests, the benchmarks and the compose tests share: it waits for
 * a condition with a generous deadline instead of sleeping a time tuned to this machine. `check`
 * may be sync or async; a value other than undefined, null or false ends the wait; a thrown error
 * counts as "not yet" and is reported if the deadline passes. (In runtime/ because bench/ is
 * built and test/ is not: both import it from here.)
 */
export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/** How long a wait lasts when the caller names no deadline: generous, on a busy 2-core machine. */
export const DEFAULT_WAIT_MS = 30_000;

export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  options: WaitOptions | number = DEFAULT_WAIT_MS,
): Promise<T> {
  const { timeoutMs, intervalMs = 20 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
