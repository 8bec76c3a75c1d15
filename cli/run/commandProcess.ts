/**
 * The command `ringleader run` guards, as a process: started in a process group of its own (so a
 * signal reaches everything it started, and a Ctrl-C in the terminal reaches the sidecar alone),
 * stopped with SIGTERM to the whole group and SIGKILL after a grace period, and watched by a
 * reaper process that stops it if the sidecar itself dies. Nothing here knows about leadership.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../runtime/logger.js';
import { groupGone, signalGroup } from './processGroup.js';

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
}

export interface CommandSpec {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** The reaper's grace period, should the sidecar die: the same as the sidecar's own. */
  graceMs: number;
  logger: Logger;
}

/** The reaper next to this module once built; from the TypeScript sources (tests), the built one. */
const REAPER_PATH = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('../../dist/cli/run/reaper.js', import.meta.url) : new URL('./reaper.js', import.meta.url),
);

export function startCommand({ argv, env, graceMs, logger }: CommandSpec): RunningCommand {
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
  if (pid > 0) startReaper(pid, graceMs, logger);
  return {
    pid,
    exited,
    stop: (grace, hurry) => stopGroup(pid, exited, grace, hurry, logger),
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

/** Never fatal: without a reaper the command still runs and stops normally; only a dying sidecar loses the backstop. */
function startReaper(pgid: number, graceMs: number, logger: Logger): void {
  try {
    const reaper = spawn(process.execPath, [REAPER_PATH, String(pgid), String(graceMs)], { stdio: ['pipe', 'ignore', 'inherit'] });
    reaper.on('error', (error) => logger.warn({ commandPid: pgid, err: error.message }, 'could not start the reaper that stops the command should this process die'));
    reaper.stdin!.on('error', () => {});
    // The reaper ends by itself with the group; it never keeps the sidecar alive.
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void }).unref?.();
  } catch (error) {
    logger.warn({ commandPid: pgid, err: (error as Error).message }, 'could not start the reaper that stops the command should this process die');
  }
}

/** The sidecar's exit status for a command's exit, as a shell reports it: its code, 128+n for signal n, 126/127 when it could not run. */
export function exitStatusOf(exit: CommandExit): number {
  if (exit.error) return exit.error.code === 'ENOENT' ? 127 : 126;
  if (exit.code !== null) return exit.code;
  const number = exit.signal === null ? undefined : constants.signals[exit.signal];
  return number === undefined ? 1 : 128 + number;
}
