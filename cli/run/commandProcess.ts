/**
 * The command `ringleader run` guards, as a process: started in a process group of its own (so a
 * signal reaches everything it started, and a Ctrl-C in the terminal reaches the sidecar alone),
 * stopped with SIGTERM to the whole group and SIGKILL after a grace period, and guarded by a
 * watchdog process (watchdog.ts) outside the sidecar's group that kills the group when the lease
 * it is told about ends unrenewed, or when the sidecar dies. Nothing here knows about leadership:
 * the lease end is a time it is given.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../runtime/logger.js';
import { groupAlive, groupGone, signalGroup } from './processGroup.js';

/** How the command's own process ended; `error` when it could not be started at all. */
export interface CommandExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: NodeJS.ErrnoException;
}

export interface RunningCommand {
  /** The command's pid, which is also its process group's id. */
  readonly pid: number;
  /** Resolves when the command's own process has exited, whatever ended it. */
  readonly exited: Promise<CommandExit>;
  /**
   * Ends the command's group: SIGTERM to every process in it, SIGKILL once `graceMs` passes with
   * any of them left (or at once when `hurry` aborts). Resolves when the command has exited and
   * its group is gone; also right for a command that exited by itself and left children behind.
   */
  stop(graceMs: number, hurry?: AbortSignal): Promise<{ exit: CommandExit; killed: boolean }>;
  /** Tells the watchdog the lease now ends at `leaseEndsAt` (shared clock: sharedClock.ts). */
  renew(leaseEndsAt: number): void;
  /** Resolves if the watchdog ends while the command runs (it was killed): the command is unguarded. */
  readonly unguarded: Promise<void>;
}

export interface CommandSpec {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** When the lease ends unless renewed (shared clock): the watchdog kills the group then. */
  leaseEndsAt: number;
  /** The lease's length: the watchdog never lets a lease run further ahead than this. */
  leaseMs: number;
  /** The watchdog's log level (it logs to stderr, as the sidecar does). */
  logLevel: string;
  logger: Logger;
}

/** The watchdog next to this module once built; from the TypeScript sources (tests), the built one. */
const WATCHDOG_PATH = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('../../dist/cli/run/watchdog.js', import.meta.url) : new URL('./watchdog.js', import.meta.url),
);

export function startCommand({ argv, env, leaseEndsAt, leaseMs, logLevel, logger }: CommandSpec): RunningCommand {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('startCommand: no command');
  // stdin is not passed: the command may run many times, in a group that is not the terminal's.
  const child = spawn(file, args, { env, detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<CommandExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  });
  const pid = child.pid ?? 0;
  // Started in the same turn as the command: nothing of the sidecar's runs between the two.
  const watchdog = pid > 0 ? startWatchdog(pid, leaseEndsAt, leaseMs, logLevel, logger) : null;
  return {
    pid,
    exited,
    stop: (grace, hurry) => stopGroup(pid, exited, grace, hurry, logger),
    renew: (end) => watchdog?.renew(end),
    unguarded: watchdog?.gone ?? new Promise(() => {}),
  };
}

async function stopGroup(
  pgid: number,
  exited: Promise<CommandExit>,
  graceMs: number,
  hurry: AbortSignal | undefined,
  logger: Logger,
): Promise<{ exit: CommandExit; killed: boolean }> {
  if (pgid === 0) return { exit: await exited, killed: false };
  let killed = false;
  // The group is gone only once the command itself has exited and been reaped, and all it started.
  if (signalGroup(pgid, 'SIGTERM') && !(await groupGone(pgid, graceMs, hurry))) {
    if (signalGroup(pgid, 'SIGKILL')) {
      killed = true;
      logger.warn({ commandPid: pgid, graceMs }, hurry?.aborted ? 'sent SIGKILL to the command\'s process group (asked twice to stop)' : 'the command\'s process group outlived its grace period: sent SIGKILL');
    }
  }
  return { exit: await exited, killed };
}

interface Watchdog {
  renew(leaseEndsAt: number): void;
  /** Resolves when the watchdog ends (or could not start) while the command's group is still there. */
  gone: Promise<void>;
}

/**
 * In a session of its own (`detached`): no signal to the sidecar's group reaches it. Its stdin is
 * the pipe from the sidecar that tells it the lease end, and whose closing tells it the sidecar died.
 */
function startWatchdog(pgid: number, leaseEndsAt: number, leaseMs: number, logLevel: string, logger: Logger): Watchdog {
  let gone!: () => void;
  const watchdogGone = new Promise<void>((resolve) => (gone = resolve));
  const lost = (err: string) => {
    if (!groupAlive(pgid)) return;
    logger.error({ commandPid: pgid, err }, 'the command\'s watchdog is gone: stopping the command, which must not run unguarded');
    gone();
  };
  try {
    const watchdog = spawn(process.execPath, [WATCHDOG_PATH, String(pgid), String(leaseEndsAt), String(leaseMs), logLevel], {
      stdio: ['pipe', 'ignore', 'inherit'],
      detached: true,
    });
    watchdog.on('error', (error) => lost(error.message));
    watchdog.on('exit', (code, signal) => lost(`it exited (${signal ?? `code ${code}`})`));
    const pipe = watchdog.stdin!;
    pipe.on('error', () => {});
    // The watchdog ends by itself with the group; it never keeps the sidecar alive.
    watchdog.unref();
    (pipe as unknown as { unref?: () => void }).unref?.();
    return {
      renew: (end) => {
        if (pipe.writable) pipe.write(`lease ${end}\n`);
      },
      gone: watchdogGone,
    };
  } catch (error) {
    lost((error as Error).message);
    return { renew: () => {}, gone: watchdogGone };
  }
}

/** The sidecar's exit status for a command's exit, as a shell reports it: its code, 128+n for signal n, 126/127 when it could not run. */
export function exitStatusOf(exit: CommandExit): number {
  if (exit.error) return exit.error.code === 'ENOENT' ? 127 : 126;
  if (exit.code !== null) return exit.code;
  const number = exit.signal === null ? undefined : constants.signals[exit.signal];
  return number === undefined ? 1 : 128 + number;
}
