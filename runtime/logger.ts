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
}

export function createLogger({ component, level = 'info', pretty }: LoggerOptions): Logger {
  const wantPretty = pretty ?? (process.env.LOG_PRETTY ? process.env.LOG_PRETTY === '1' : Boolean(process.stdout.isTTY));
  const options = { level, base: processFields(component) };
  if (!wantPretty) return pino(options);
  return pino({
    ...options,
    transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
  });
}

/** The fields that say which process wrote a line, wherever it runs. */
export function processFields(component: string): { component: string; hostname: string; pid: number } {
  return { component, hostname: hostname(), pid: process.pid };
}
