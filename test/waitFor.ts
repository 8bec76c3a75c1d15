/**
 * The one polling helper the tests share: waits for a condition with a generous deadline instead
 * of sleeping a time tuned to this machine. `check` may be sync or async; a value other than
 * undefined, null or false ends the wait; a thrown error counts as "not yet" and is reported if
 * the deadline passes.
 */
export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  { timeoutMs, intervalMs = 20 }: WaitOptions,
): Promise<T> {
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
      const cause = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
