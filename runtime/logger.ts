/**
 * pino everywhere: JSON lines in production, pretty when stdout is a terminal
 * (or LOG_PRETTY=1). Every process names itself with `component` (relay, node, inspector, up).
 */
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
  const options = { level, base: { component, pid: process.pid } };
  if (!wantPretty) return pino(options);
  return pino({
    ...options,
    transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
  });
}
