/**
 * A port that is already taken is a configuration problem, not a crash: the command says so in one
 * line that names the port, the option that sets it and `--port 0`, and exits 2 like any other
 * bad configuration (a ConfigError, which the dispatcher in cli/ringleader.ts prints and turns into
 * exit code 2). No stack trace: there is no bug to report.
 */
import { createServer } from 'node:net';
import { ConfigError } from './options.js';

/** The option that set the port: `--port` and its variable `PORT`, say. */
export interface PortOption {
  flag: string;
  env: string;
}

export class PortInUseError extends ConfigError {
  override name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly host: string,
    option: PortOption,
  ) {
    super(`port ${port} is already in use on ${host}: choose another with --${option.flag} (env ${option.env}), or --${option.flag} 0 for any free port`);
  }
}

/** The error to throw for a failed listen: PortInUseError for EADDRINUSE, the error itself otherwise. */
export function listenError(error: unknown, port: number, host: string, option: PortOption): unknown {
  return (error as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE' ? new PortInUseError(port, host, option) : error;
}

/**
 * Throws PortInUseError when `port` cannot be listened on at `host` right now. For a command that
 * hands the port to a child process (`up` and its relay), so that it can say so itself, once.
 */
export async function checkPortFree(port: number, host: string, option: PortOption): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  server.unref();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    throw listenError(error, port, host, option);
  }
  await new Promise((resolve) => server.close(resolve));
}
