/**
 * `ringleader inspector [--port 8090] [--relay ws://localhost:8080]`: the live view of a ring
 * that runs elsewhere. Standalone it has no controls (it does not own the processes); point
 * every process's INSPECT_URL at the printed ingest URL to see their machines.
 */
import { LOG_LEVELS, createLogger } from '../../runtime/logger.js';
import { parseOptions, renderHelp, type OptionSpecs } from '../../runtime/options.js';
import { startInspector } from './index.js';

const SPECS = {
  port: { flag: 'port', env: 'PORT', kind: 'integer', default: 8090, min: 0, max: 65535, help: 'HTTP port of the page, /events and /inspect' },
  host: { flag: 'host', env: 'HOST', kind: 'string', default: '0.0.0.0', help: 'interface to listen on' },
  relay: { flag: 'relay', env: 'RELAY_URL', kind: 'url', default: 'ws://localhost:8080', protocols: ['ws:', 'wss:'], help: 'the relay, for its /status' },
  token: { flag: 'token', env: 'RING_TOKEN', kind: 'string', help: 'admin token: required on /inspect and for controls when set' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', default: 'info', choices: LOG_LEVELS, help: 'log level' },
} satisfies OptionSpecs;

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(SPECS, argv, env);
  if (help) {
    process.stdout.write(renderHelp('ringleader inspector [options]', 'Serve the live view of a running ring.', SPECS));
    return 0;
  }
  const logger = createLogger({ component: 'inspector', level: options.logLevel });
  let inspector;
  try {
    inspector = await startInspector({ port: options.port, host: options.host, relayUrl: options.relay, token: options.token ?? '', logger });
  } catch (error) {
    logger.error({ err: (error as Error).message, port: options.port }, 'inspector could not start');
    return 1;
  }
  logger.info({ url: inspector.url, ingestUrl: inspector.ingestUrl, relay: options.relay }, `inspector at ${inspector.url} (set INSPECT_URL=${inspector.ingestUrl})`);
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
