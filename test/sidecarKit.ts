/**
 * Helpers for the tests of `ringleader run` and `ringleader watch` as processes: start the CLI
 * with its stdout lines and its stderr log lines kept, write the little programs a sidecar runs
 * into a temp folder, read what they wrote, and clean up every process a test started (the
 * sidecars, and the commands they run in process groups of their own), even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll } from 'vitest';
import { repoRoot, TestRing, type LogLine } from './nodeKit.js';
import { waitFor } from '../runtime/waitFor.js';

export const CLI_PATH = join(repoRoot, 'dist', 'cli', 'ringleader.js');
/** Generous: the machine is shared and slow; a passing test never waits this long. */
export const DEADLINE_MS = 40_000;
/**
 * Timers for sidecars and their relay: short enough for quick elections, long enough that a
 * busy machine (processes on 2 shared cores) does not time a healthy leader out. Failover after a
 * crash does not wait for them: the relay sees the socket close.
 */
export const SIDECAR_TIMING = { checkIntervalMs: 250, leaderTimeoutMs: 4000, electionTimeoutMs: 2000 } as const;
export const FAST_ARGS = [
  '--check-interval-ms', String(SIDECAR_TIMING.checkIntervalMs),
  '--leader-timeout-ms', String(SIDECAR_TIMING.leaderTimeoutMs),
  '--election-timeout-ms', String(SIDECAR_TIMING.electionTimeoutMs),
];

/** For beforeAll: these tests run the built CLI. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI_PATH)) throw new Error('dist/cli/ringleader.js is missing: run `npm run build` first (npm test does)');
}

export interface CliProcess {
  child: ChildProcess;
  pid: number;
  /** stdout, line by line (the command's output for `run`, the leader lines for `watch`). */
  stdout: string[];
  /** stderr, line by line, parsed when JSON (the log), else `{ level: 0, msg: text }`. */
  logs: LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  log(match: (line: LogLine) => boolean, what: string): Promise<LogLine>;
  stdoutLine(match: (line: string) => boolean, what: string): Promise<string>;
}

/** Everything the tests of one file started; `cleanUp()` in afterEach ends it all. */
export class CliProcesses {
  private readonly started: CliProcess[] = [];
  private readonly folders: string[] = [];

  /** `node dist/cli/ringleader.js <args>`; `detached` gives it a process group of its own, as a machine's would be. */
  start(args: string[], options: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}): CliProcess {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      cwd: repoRoot,
      env: { ...process.env, LOG_PRETTY: '0', LOG_LEVEL: 'info', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    });
    const stdout: string[] = [];
    const logs: LogLine[] = [];
    createInterface({ input: child.stdout! }).on('line', (text) => stdout.push(text));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      try {
        logs.push(JSON.parse(text) as LogLine);
      } catch {
        logs.push({ level: 0, msg: text });
      }
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const what = `ringleader ${args[0]} (pid ${child.pid})`;
    const handle: CliProcess = {
      child,
      pid: child.pid!,
      stdout,
      logs,
      exited,
      log: (match, description) => waitFor(() => logs.find(match), `${description} in the log of ${what}`, { timeoutMs: DEADLINE_MS }),
      stdoutLine: (match, description) => waitFor(() => stdout.find(match), `${description} on the stdout of ${what}`, { timeoutMs: DEADLINE_MS }),
    };
    this.started.push(handle);
    return handle;
  }

  /** A temp folder for a test's scripts and files, removed on cleanup. */
  folder(): string {
    const folder = mkdtempSync(join(tmpdir(), 'ringleader-sidecar-'));
    this.folders.push(folder);
    return folder;
  }

  async cleanUp(): Promise<void> {
    for (const handle of this.started.splice(0)) {
      // The commands first: they run in groups of their own, out of reach of the sidecar's.
      for (const line of handle.logs) if (line.msg === 'command started') killGroup(line.commandPid as number);
      if (handle.child.exitCode === null && handle.child.signalCode === null) {
        killGroup(handle.pid);
        handle.child.kill('SIGKILL');
        await handle.exited;
      }
    }
    for (const folder of this.folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  }
}

export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Gone already, or not a group leader.
  }
}

/** Whether a process with this pid exists (a zombie counts until it is reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export function writeScript(folder: string, name: string, source: string): string {
  const path = join(folder, name);
  writeFileSync(path, source);
  return path;
}

/**
 * The shared file's writer: appends "<RINGLEADER_TERM> <pid>" every ~50 ms while it runs, as a
 * job guarded by the sidecar would write to a shared resource.
 */
export const TERM_WRITER = `
import { appendFileSync } from 'node:fs';
const line = \`\${process.env.RINGLEADER_TERM} \${process.pid}\\n\`;
const write = () => appendFileSync(process.argv[2], line);
write();
setInterval(write, 50);
`;

export interface WrittenLine {
  term: number;
  pid: number;
}

/** The lines a TERM_WRITER wrote, in order; a line that is not "<term> <pid>" fails the test. */
export function readTermLines(file: string): WrittenLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^(\d+) (\d+)$/.exec(line);
      if (!match) throw new Error(`the shared file has a line that is not "<term> <pid>": ${JSON.stringify(line)}`);
      return { term: Number(match[1]), pid: Number(match[2]) };
    });
}

/** What must hold of the shared file however leadership moved: one writer per term, terms never going down. */
export function fencingViolations(lines: WrittenLine[]): string[] {
  const problems: string[] = [];
  const writers = new Map<number, number>();
  let highest = 0;
  lines.forEach(({ term, pid }, index) => {
    const writer = writers.get(term);
    if (writer !== undefined && writer !== pid) problems.push(`line ${index + 1}: term ${term} written by pid ${pid} and by pid ${writer}`);
    writers.set(term, pid);
    if (term < highest) problems.push(`line ${index + 1}: term ${term} after term ${highest}`);
    highest = Math.max(highest, term);
  });
  return problems;
}

/**
 * A describe block's relay ring and CLI processes: the built CLI is required before its tests, and
 * after each test every process it started is stopped, then the ring.
 */
export function cliRingFixture(): { ring: TestRing; processes: CliProcesses } {
  const ring = new TestRing();
  const processes = new CliProcesses();
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    await processes.cleanUp();
    await ring.cleanUp();
  });
  return { ring, processes };
}
