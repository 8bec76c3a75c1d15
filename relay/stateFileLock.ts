/**
 * One relay per state file: `<file>.lock`, created exclusively, holding the owner's pid and host.
 * Two relays on one file would each know only their own terms and overwrite each other's rings
 * (a term used by one could be used again after a restart), so the second is refused at start
 * with an error naming the file and the first relay's pid.
 *
 * A lock left by a relay that died without removing it is taken over when it is provably stale:
 * it names this host and a pid that is not running (or this very pid, which a restarted container
 * reuses, while this process does not hold it). A lock naming another host cannot be checked
 * from here, so it is never taken over: a person deletes it once that relay is known to be gone.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { StateFileError } from './stateFile.js';

interface LockOwner {
  pid: number;
  host: string;
}

/** Locks this process holds, by lock path: its own pid in a lock file is stale unless listed here. */
const held = new Set<string>();

export class StateFileLock {
  private released = false;

  private constructor(
    readonly lockPath: string,
    private readonly owner: string,
  ) {}

  /** Takes the lock on `statePath` or throws StateFileError (held by a running relay, or the folder cannot be written). */
  static acquire(statePath: string): StateFileLock {
    const lockPath = `${statePath}.lock`;
    const owner = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`;
    // Twice at most: once as found, once after removing a stale lock.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (createExclusive(statePath, lockPath, owner)) {
        held.add(lockPath);
        return new StateFileLock(lockPath, owner);
      }
      const found = readOwner(lockPath);
      if (found === 'gone') continue;
      const problem = heldBy(found, lockPath);
      if (problem !== null) throw new StateFileError(statePath, problem);
      removeIfUnchanged(lockPath, found);
    }
    throw new StateFileError(statePath, `its lock file ${lockPath} keeps coming back: another relay is starting on the same file`);
  }

  /** Removes the lock, if it is still this relay's (a person may have deleted it and another relay taken it). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.lockPath);
    try {
      if (readFileSync(this.lockPath, 'utf8') === this.owner) unlinkSync(this.lockPath);
    } catch {
      // Already gone (the folder moved, a person removed it): nothing to release.
    }
  }
}

/**
 * Creates the lock with its content in one step: written to a private file first, then hard-linked
 * to the lock's name, which fails if the lock exists. So a lock is never seen half written (where
 * hard links are not supported, an exclusive create and a write).
 */
function createExclusive(statePath: string, lockPath: string, owner: string): boolean {
  const draft = `${lockPath}.${process.pid}.${randomBytes(8).toString('hex')}`;
  try {
    writeFileSync(draft, owner, { flag: 'wx', mode: 0o600 });
    try {
      linkSync(draft, lockPath);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      writeFileSync(lockPath, owner, { flag: 'wx', mode: 0o600 });
      return true;
    } finally {
      rmSync(draft, { force: true });
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new StateFileError(statePath, `cannot create its lock file ${lockPath} (${code ?? (error as Error).message})`);
  }
}

/** Who the lock file names; null when it names nobody readable (a lock cut short by a crash or a full disk), 'gone' when it vanished. */
function readOwner(lockPath: string): LockOwner | null | 'gone' {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : null;
  }
  try {
    const { pid, host } = JSON.parse(text) as Partial<LockOwner>;
    return Number.isSafeInteger(pid) && (pid as number) > 0 && typeof host === 'string' ? { pid: pid as number, host } : null;
  } catch {
    return null;
  }
}

/** Why the lock is held (the error's text), or null when it is stale and may be taken over. */
function heldBy(owner: LockOwner | null, lockPath: string): string | null {
  if (owner === null) return null;
  const sameHost = owner.host === hostname();
  if (!sameHost) {
    return (
      `is in use by the relay with pid ${owner.pid} on host ${JSON.stringify(owner.host)} (lock file ${lockPath}); ` +
      'one relay per state file. If that relay is gone, delete the lock file'
    );
  }
  if (owner.pid === process.pid ? held.has(lockPath) : isRunning(owner.pid)) {
    return `is in use by the relay with pid ${owner.pid} (lock file ${lockPath}); one relay per state file. If that process is not a relay, delete the lock file`;
  }
  return null;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a stale lock unless it changed since it was read (another relay took it over first). */
function removeIfUnchanged(lockPath: string, found: LockOwner | null): void {
  const now = readOwner(lockPath);
  if (now === 'gone') return;
  if (JSON.stringify(now) !== JSON.stringify(found)) return;
  try {
    unlinkSync(lockPath);
  } catch {
    // Gone meanwhile: the next attempt creates it or reports its new owner.
  }
}
