/**
 * Signalling a whole process group, and telling whether any of it is left: what `ringleader run`
 * and its watchdog need to stop a command together with everything it started.
 */

/** Sends `signal` to every process of group `pgid`; false when the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Whether any process of group `pgid` still exists (one we may not signal counts: it exists). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Resolves true once the group is gone, false when `timeoutMs` passes first or `cancel` aborts. */
export function groupGone(pgid: number, timeoutMs: number, cancel?: AbortSignal): Promise<boolean> {
  const POLL_MS = 25;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => {
      if (!groupAlive(pgid)) return resolve(true);
      if (cancel?.aborted || Date.now() >= deadline) return resolve(false);
      setTimeout(check, Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    };
    check();
  });
}
