/**
 * `ringleader relay`: runs the relay until SIGINT or SIGTERM, then closes every socket and
 * exits 0. Bad configuration throws ConfigError, which the dispatcher turns into exit code 2; a
 * state file that cannot be trusted or written exits 3 (STATE_FILE_EXIT_CODE).
 */
import { LOG_LEVELS, createLogger } from '../runtime/logger.js';
import { ConfigError, parseOptions, renderHelp, type OptionSpecs } from '../runtime/options.js';
import { listenError, PortInUseError } from '../runtime/portInUse.js';
import { sizeHeapForRelay } from './heap.js';
import { DEFAULT_LEADER_TIMEOUT_MS, DEFAULT_LIMITS } from './limits.js';
import { listeningFields, RELAY_LISTENING, startRelay } from './server.js';
import { STATE_FILE_EXIT_CODE, StateFileError } from './stateFile.js';
import { DEFAULT_STORE_PREFIX, StoreConfigError } from './store/storeConfig.js';
import { AdvertiseUrlInUseError, StoreUnreachableError } from './store/storeErrors.js';

export const RELAY_OPTIONS = {
  port: { flag: 'port', env: 'PORT', kind: 'integer', default: 8080, min: 0, max: 65535, help: 'TCP port for WebSocket and HTTP; 0 picks a free one' },
  host: { flag: 'host', env: 'RELAY_HOST', kind: 'string', default: '0.0.0.0', help: 'interface to listen on' },
  token: { flag: 'token', env: 'RING_TOKEN', kind: 'string', help: 'shared secret; joins without it get HTTP 401 (prefer the env var: flags show in ps)' },
  leaderTimeoutMs: {
    flag: 'leader-timeout-ms',
    env: 'LEADER_TIMEOUT_MS',
    kind: 'integer',
    default: DEFAULT_LEADER_TIMEOUT_MS,
    min: 50,
    max: 3_600_000,
    help: 'a peer that stops answering pings leaves the ring within about this long',
  },
  maxPayload: {
    flag: 'max-payload',
    env: 'RELAY_MAX_PAYLOAD',
    kind: 'integer',
    default: DEFAULT_LIMITS.maxPayloadBytes,
    min: 1024,
    max: 16 * 1024 * 1024,
    help: 'largest frame in bytes; larger ones close the socket with 1009',
  },
  rateLimit: {
    flag: 'rate-limit',
    env: 'RELAY_RATE_LIMIT',
    kind: 'integer',
    default: DEFAULT_LIMITS.rateLimitPerSecond,
    min: 0,
    max: 10_000_000,
    help: 'frames per second per connection; 0 turns the limit off',
  },
  rateBurst: {
    flag: 'rate-burst',
    env: 'RELAY_RATE_BURST',
    kind: 'integer',
    default: DEFAULT_LIMITS.rateBurst,
    min: 1,
    max: 10_000_000,
    help: 'frames a connection may send at once above the rate',
  },
  maxBacklog: {
    flag: 'max-backlog',
    env: 'RELAY_MAX_BACKLOG',
    kind: 'integer',
    default: DEFAULT_LIMITS.maxBacklogBytes,
    min: 1024,
    max: 1024 * 1024 * 1024,
    help: 'unsent bytes held for a peer that is not reading before it is dropped (close 4009)',
  },
  maxMembers: {
    flag: 'max-members',
    env: 'RELAY_MAX_MEMBERS',
    kind: 'integer',
    default: DEFAULT_LIMITS.maxMembers,
    min: 1,
    max: 1_000_000,
    help: 'most members the ring admits (never more than an election frame naming them all fits --max-payload); more get HTTP 503',
  },
  maxConnections: {
    flag: 'max-connections',
    env: 'RELAY_MAX_CONNECTIONS',
    kind: 'integer',
    default: DEFAULT_LIMITS.maxConnections,
    min: 1,
    max: 1_000_000,
    help: 'open WebSocket connections at most; more get HTTP 503',
  },
  maxConnectionsPerAddress: {
    flag: 'max-connections-per-address',
    env: 'RELAY_MAX_CONNECTIONS_PER_ADDRESS',
    kind: 'integer',
    default: DEFAULT_LIMITS.maxConnectionsPerAddress,
    min: 1,
    max: 1_000_000,
    help: 'open connections from one remote address at most; more get HTTP 503',
  },
  maxRings: {
    flag: 'max-rings',
    env: 'RELAY_MAX_RINGS',
    kind: 'integer',
    default: DEFAULT_LIMITS.maxRings,
    min: 1,
    max: 1_000_000,
    help: 'named rings (/rings/<name>) kept at once; a new one past this replaces an empty one (for a member: or one with only observers), or gets HTTP 503',
  },
  stateFile: {
    flag: 'state-file',
    env: 'RELAY_STATE_FILE',
    kind: 'string',
    help:
      'keep each ring\'s highest term and leader in this JSON file, so a restarted relay never lets a ring reuse a term (unset: nothing kept); ' +
      'locked by <file>.lock (one relay per file); names at most --max-rings rings, the lowest-term ones folded into one floor',
  },
  store: {
    flag: 'store',
    env: 'RELAY_STORE',
    kind: 'string',
    help:
      'etcd://host:2379[,host:2379...]: run several relays on one etcd; each ring is served by one of them at a time, the others redirect its joins (307) ' +
      'and take it over within the lease TTL (8 s) + 1 s when it stops; etcd keeps the terms (not with --state-file); needs --advertise-url',
  },
  storePrefix: { flag: 'store-prefix', env: 'RELAY_STORE_PREFIX', kind: 'string', default: DEFAULT_STORE_PREFIX, help: 'where this deployment\'s keys live in etcd (with --store)' },
  advertiseUrl: {
    flag: 'advertise-url',
    env: 'RELAY_ADVERTISE_URL',
    kind: 'string',
    help: 'ws://host:port: how members reach this relay, where standbys redirect joiners (with --store; one per relay)',
  },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', default: 'info', choices: LOG_LEVELS, help: 'pino log level' },
  inspectUrl: {
    flag: 'inspect-url',
    env: 'INSPECT_URL',
    kind: 'url',
    protocols: ['ws:', 'wss:'],
    help: 'stream the relay machine to this inspector',
  },
} satisfies OptionSpecs;

const USAGE = 'ringleader relay [options]';
const SUMMARY =
  'The WebSocket relay of the ring: assigns client ids, routes frames (next/all/<id>), announces\n' +
  'joins and leaves, drops dead or frozen peers, and serves /healthz, /status and /metrics.\n' +
  'Exit codes: 0 stopped by SIGINT/SIGTERM, 1 could not listen, 2 bad configuration or --port already in use,\n' +
  '3 the --state-file cannot be read, is corrupt or of another version, is in use by another relay, or\n' +
  'cannot be written (terms are never reset silently), 4 --store: etcd unreachable at start, 5 --store:\n' +
  'another live relay uses this --advertise-url. With --store, a relay that can no longer be sure it owns\n' +
  'a ring closes that ring\'s sockets (4010) and goes on as a standby.';

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(RELAY_OPTIONS, argv, env);
  if (help) {
    process.stdout.write(renderHelp(USAGE, SUMMARY, RELAY_OPTIONS));
    return 0;
  }
  if (options.maxBacklog < options.maxPayload) {
    // A peer must be able to hold at least one frame of the largest size in its backlog.
    throw new ConfigError(`--max-backlog (RELAY_MAX_BACKLOG) ${options.maxBacklog} must be at least --max-payload (RELAY_MAX_PAYLOAD) ${options.maxPayload}`);
  }
  sizeHeapForRelay();
  const logger = createLogger({ component: 'relay', level: options.logLevel });
  let relay;
  try {
    relay = await startRelay({
      port: options.port,
      host: options.host,
      token: options.token,
      leaderTimeoutMs: options.leaderTimeoutMs,
      limits: {
        maxPayloadBytes: options.maxPayload,
        rateLimitPerSecond: options.rateLimit,
        rateBurst: options.rateBurst,
        maxBacklogBytes: options.maxBacklog,
        maxMembers: options.maxMembers,
        maxConnections: options.maxConnections,
        maxConnectionsPerAddress: options.maxConnectionsPerAddress,
        maxRings: options.maxRings,
      },
      logger,
      inspectUrl: options.inspectUrl,
      // An empty RELAY_STATE_FILE= (as compose passes an unset variable) means none.
      stateFile: options.stateFile === '' ? undefined : options.stateFile,
      store: options.store === '' ? undefined : options.store,
      storePrefix: options.storePrefix,
      advertiseUrl: options.advertiseUrl === '' ? undefined : options.advertiseUrl,
    });
  } catch (error) {
    if (error instanceof StoreConfigError) throw new ConfigError(error.message);
    if (error instanceof StoreUnreachableError || error instanceof AdvertiseUrlInUseError) {
      logger.fatal({ err: error }, `relay could not start: ${error.message}`);
      process.stderr.write(`ringleader relay: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof StateFileError) {
      logger.fatal({ err: error, stateFile: error.path }, `relay could not start: ${error.message}`);
      process.stderr.write(`ringleader relay: ${error.message}\n`);
      return STATE_FILE_EXIT_CODE;
    }
    // A port in use is bad configuration: one line from the dispatcher, exit 2.
    const failure = listenError(error, options.port, options.host, { flag: 'port', env: 'PORT' });
    if (failure instanceof PortInUseError) throw failure;
    logger.fatal({ err: error, port: options.port, host: options.host }, `relay could not start: ${(error as Error).message}`);
    process.stderr.write(`ringleader relay: could not listen on ${options.host}:${options.port}: ${(error as Error).message}\n`);
    return 1;
  }
  // `ringleader up` and scripts find the port in this line: written even at LOG_LEVEL=warn
  // (startRelay itself logs it only at info, as a library should).
  if (!logger.isLevelEnabled('info') && logger.level !== 'silent') logger.child({}, { level: 'info' }).info(listeningFields(relay), RELAY_LISTENING);

  const ended = await new Promise<NodeJS.Signals | Error>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    // The relay stopped itself: a term could not be recorded (it logged why, and forwarded nothing of it).
    relay.closed.catch((error: Error) => resolve(error));
  });
  if (ended instanceof Error) {
    process.stderr.write(`ringleader relay: ${ended.message}\n`);
    return STATE_FILE_EXIT_CODE;
  }
  const signal = ended;
  logger.info({ signal }, 'relay shutting down');
  // A second signal while closing means "now".
  const force = () => process.exit(1);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await relay.close();
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  return 0;
}
