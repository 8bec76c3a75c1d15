/**
 * Running commands for the compose harness: a promise around spawn that collects output, with a
 * deadline, so a stuck docker call fails the test instead of hanging it.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bytes written to the command's standard input (then closed). */
  input?: Buffer | string;
  /** Generous by default: the machine is shared and docker builds are slow on 2 cores. */
  timeoutMs?: number;
  /** Resolve even when the command exits non-zero (the caller reads `code`). */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
    super(`${command} exited ${result.code}\n${tail}`);
  }
}

export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const command = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not finish within ${options.timeoutMs ?? 600_000} ms`));
    }, options.timeoutMs ?? 600_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (result.code !== 0 && !options.allowFailure) reject(new CommandError(command, result));
      else resolve(result);
    });
    if (options.input !== undefined && child.stdin) child.stdin.end(options.input);
  });
}

/** Whether `file` can be found and run at all (exit code does not matter). */
export async function canRun(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    const result = await run(file, args, { allowFailure: true, timeoutMs: 60_000, ...(env ? { env } : {}) });
    return result.code === 0;
  } catch {
    return false;
  }
}

/** The project's one polling helper (runtime/waitFor.ts), for the compose tests too. */
export { waitFor } from '../../runtime/waitFor.js';
