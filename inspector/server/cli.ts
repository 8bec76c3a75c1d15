/**
 * `ringleader inspector [--port 8090] [--relay ws://localhost:8080]`: the live view of a ring
 * that runs elsewhere. Standalone it has no controls (it does not own the processes); point
 * every process's INSPECT_URL at the printed ingest URL to see their machines. Like `up`, it
 * listens on 127.0.0.1 unless told otherwise (--host 0.0.0.0 in a container).
 */
import { LOG_LEVELS, createLogger } from '../../runtime/logger.js';
import { ConfigError, parseOptions, renderHelp, type OptionSpecs } from '../../runtime/options.js';
import { startInspector } from './index.js';
import { parseAllowedHosts, type AllowedHost } from './requestPolicy.js';

const SPECS = {
  port: { flag: 'port', env: 'PORT', kind: 'integer', default: 8090, min: 0, max: 65535, help: 'HTTP port of the page, /events and /inspect' },
  host: { flag: 'host', env: 'HOST', kind: 'string', default: '127.0.0.1', help: 'interface to listen on (0.0.0.0: every interface, e.g. in a container)' },
  allowedHosts: {
    flag: 'allowed-hosts',
    env: 'INSPECTOR_ALLOWED_HOSTS',
    kind: 'string',
    help: 'comma-separated Host names (name or name:port) the page may be opened by besides this machine\'s own, e.g. a reverse proxy\'s',
  },
  relay: {
    flag: 'relay',
    env: 'RELAY_URL',
    kind: 'urls',
    default: ['ws://localhost:8080'],
    protocols: ['ws:', 'wss:'],
    help: 'the relay, for its /status; several relays on one store separated by commas (the next is read when one does not answer)',
  },
  token: { flag: 'token', env: 'RING_TOKEN', kind: 'string', help: 'admin token: required on /inspect, /events, /api/state and for controls when set' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', default: 'info', choices: LOG_LEVELS, help: 'log level' },
} satisfies OptionSpecs;

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(SPECS, argv, env);
  if (help) {
    process.stdout.write(renderHelp('ringleader inspector [options]', 'Serve the live view of a running ring.', SPECS));
    return 0;
  }
  let allowedHosts: AllowedHost[];
  try {
    allowedHosts = parseAllowedHosts(options.allowedHosts ?? '');
  } catch (error) {
    throw new ConfigError(`--allowed-hosts / INSPECTOR_ALLOWED_HOSTS: ${(error as Error).message}`);
  }
  const logger = createLogger({ component: 'inspector', level: options.logLevel });
  let inspector;
  try {
    inspector = await startInspector({ port: options.port, host: options.host, allowedHosts, relayUrl: options.relay, token: options.token ?? '', logger });
  } catch (error) {
    logger.error({ err: (error as Error).message, port: options.port }, 'inspector could not start');
    return 1;
  }
  logger.info({ url: inspector.url, ingestUrl: inspector.ingestUrl, host: options.host, relay: options.relay }, `inspector at ${inspector.url} (set INSPECT_URL=${inspector.ingestUrl})`);
  if (process.stdout.isTTY) process.stdout.write(`\n  Inspector: ${inspector.url}\n  INSPECT_URL=${inspector.ingestUrl}\n\n`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await inspector.close();
  logger.info('inspector stopped');
  return 0;
}
