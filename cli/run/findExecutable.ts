/**
 * Whether a command can be run at all, looked up as the shell (and `spawn`) would: a name with a
 * slash is a path, any other is searched on PATH. `ringleader run` checks before it joins the
 * ring, so a typo fails at once (status 127, as in a shell) instead of at the first leadership.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type Lookup = { found: string } | { problem: 'not found' | 'not executable'; detail: string };

export function findExecutable(name: string, env: Readonly<Record<string, string | undefined>>): Lookup {
  if (name.includes('/')) return check(name) ?? { problem: 'not found', detail: `${name}: no such file` };
  const folders = (env.PATH ?? '').split(delimiter).filter(Boolean);
  let unrunnable: Lookup | null = null;
  for (const folder of folders) {
    const outcome = check(join(folder, name));
    if (outcome && 'found' in outcome) return outcome;
    unrunnable ??= outcome;
  }
  return unrunnable ?? { problem: 'not found', detail: `${name}: not found on PATH` };
}

/** null when nothing is there; otherwise whether it is a file we may execute. */
function check(path: string): Lookup | null {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    return null;
  }
  if (!isFile) return { problem: 'not executable', detail: `${path}: not a file` };
  try {
    accessSync(path, constants.X_OK);
    return { found: path };
  } catch {
    return { problem: 'not executable', detail: `${path}: permission denied (not executable)` };
  }
}
