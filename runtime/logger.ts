/**
 * pino everywhere: JSON lines in production, pretty when stdout is a terminal
 * (or LOG_PRETTY=1). Every process names itself with `component` (relay, node, inspector, up),
 * and every line carries `hostname` and `pid`: pids alone repeat across the machines of a ring.
 */
import { hostname } from 'node:os';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  component: string;
  level?: string;
  /** Defaults to "stdout is a terminal", overridable with LOG_PRETTY=1/0. */
  pretty?: boolean;
  /**
   * 1 (stdout, the default) or 2 (stderr): commands whose stdout is their output (`watch`, and
   * `run`, whose stdout is the command's) log to stderr.
   */
  fd?: 1 | 2;
}

export function createLogger({ component, level = 'info', pretty, fd = 1 }: LoggerOptions): Logger {
  const terminal = fd === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const wantPretty = pretty ?? (process.env.LOG_PRETTY ? process.env.LOG_PRETTY === '1' : Boolean(terminal));
  const options = { level, base: processFields(component) };
  if (!wantPretty) return fd === 1 ? pino(options) : pino(options, pino.destination(2));
  return pino({
    ...options,
    transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination: fd } },
  });
}

/** The fields that say which process wrote a line, wherever it runs. */
export function processFields(component: string): { component: string; hostname: string; pid: number } {
  return { component, hostname: hostname(), pid: process.pid };
}
