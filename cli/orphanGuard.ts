/**
 * A child of `ringleader up` (or of any Supervisor) must not outlive it. When the supervisor
 * ends normally it stops its children itself; this guard covers the case where it cannot (it was
 * SIGKILLed, or crashed hard): the child sees that its parent changed (it was re-parented) and
 * sends itself SIGTERM, so a node still leaves the ring gracefully.
 *
 * The supervisor sets RINGLEADER_SUPERVISOR_PID in its children's environment; without it the
 * guard does nothing.
 */
import { readFileSync } from 'node:fs';
import { isProcessRunning } from '../runtime/processRunning.js';

export const SUPERVISOR_PID_ENV = 'RINGLEADER_SUPERVISOR_PID';
const CHECK_EVERY_MS = 500;

export function exitWithSupervisor(env: NodeJS.ProcessEnv): void {
  const supervisorPid = Number(env[SUPERVISOR_PID_ENV]);
  if (!Number.isInteger(supervisorPid) || supervisorPid <= 0) return;
  const check = () => {
    if (process.ppid === supervisorPid) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  };
  // Unref'd: the guard never keeps a process alive that is done.
  const timer = setInterval(check, CHECK_EVERY_MS);
  timer.unref();
  check();
}

/**
 * Started through npm (`npx ringleader ...`, `npm start`), this process is the child of a shell
 * that npm started: npm passes a SIGTERM on to that shell, which dies of it without passing it
 * on, and this process would run on, re-parented (issue 25). So, like a supervised child, it
 * takes its parent going away as SIGTERM: a relay stops, a node leaves the ring gracefully.
 * (npm sets `npm_command` in the environment of everything it runs: `exec`, `run-script`, `start`.)
 * Run the binary itself (`node_modules/.bin/ringleader`, or `exec` it from a script) where
 * signals matter: npm does not wait for the graceful stop, and passes no SIGUSR2 on.
 */
export function exitWithLauncher(env: NodeJS.ProcessEnv): void {
  if (env.npm_command === undefined || env[SUPERVISOR_PID_ENV] !== undefined) return;
  const shellPid = process.ppid;
  // npm itself, when it is the shell's parent: a signal npm does not handle (SIGUSR2, SIGHUP)
  // ends npm and leaves the shell waiting for us. Known where /proc tells it (Linux); elsewhere,
  // or when npm is our parent itself, the parent's end is what counts.
  const grandparent = isNpm(shellPid) ? null : parentOf(shellPid);
  const npmPid = grandparent !== null && isNpm(grandparent) ? grandparent : null;
  const check = () => {
    if (process.ppid === shellPid && (npmPid === null || isProcessRunning(npmPid))) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  };
  const timer = setInterval(check, CHECK_EVERY_MS);
  timer.unref();
}

/** The parent of `pid`, from /proc/<pid>/stat ("pid (comm) state ppid ..."), or null where unknown. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : null;
  } catch {
    return null;
  }
}

/** npm names its process after what it does: "npm exec ...", "npm start". */
function isNpm(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('npm');
  } catch {
    return false;
  }
}

