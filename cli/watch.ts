/**
 * `ringleader watch`: who leads a ring, one line per change, for people (`time ring leader rank
 * term url`) or programs (`--json`: one object per line). It watches as an observer
 * (observeRing), so it never stands in, slows or changes an election. Exit codes: 0 on
 * SIGINT/SIGTERM, 1 when the relay refuses it for good or the connect deadline passes, 2 on bad
 * configuration. Its own log lines go to stderr; stdout carries only the leader lines.
 */
import { nodeOptionSpecs } from '../node/config.js';
import { observeRing, type RingObserver } from '../node/observeRing.js';
import { DEFAULT_RING, type LeaderInfo } from '../machines/protocol.js';
import { createLogger } from '../runtime/logger.js';
import { parseOptions, renderHelp, type OptionSpecs } from '../runtime/options.js';
import { checkRingOptions, handleSignals, logJoinFailure } from '../node/ringCommand.js';

const { relay, ring, token, leaderTimeoutMs, logLevel } = nodeOptionSpecs;

export const watchOptionSpecs = {
  relay,
  ring,
  token,
  json: { flag: 'json', env: 'WATCH_JSON', kind: 'boolean', default: false, help: 'one JSON object per line: time, ring, id, rank, term, meta' },
  connectTimeoutMs: {
    flag: 'connect-timeout-ms',
    env: 'CONNECT_TIMEOUT_MS',
    kind: 'integer',
    min: 0,
    default: 10_000,
    help: 'give up (exit 1) when the relay has not welcomed the watcher within this long, ms; 0 keeps trying',
  },
  leaderTimeoutMs: { ...leaderTimeoutMs, help: 'the ring\'s LEADER_TIMEOUT_MS: the watcher drops a silent relay link after a third of it, ms' },
  logLevel: { ...logLevel, default: 'warn', help: 'pino log level (stderr)' },
} satisfies OptionSpecs;

const USAGE = 'ringleader watch [options]';
const SUMMARY =
  'Prints the ring\'s leader and then one line per change (time, ring, leader id, rank, term, meta url),\n' +
  'or with --json one JSON object per line. Watches as an observer: never elected, never in the way.\n' +
  'Exit codes: 0 on SIGINT/SIGTERM, 1 when the relay refuses it (a wrong RING_TOKEN, not a relay) or\n' +
  'has not welcomed it within --connect-timeout-ms, 2 bad configuration.';

/** One leader change as `watch` prints it. */
export function formatLeader(leader: LeaderInfo, ring: string, json: boolean, at: Date): string {
  if (json) return JSON.stringify({ time: at.toISOString(), ring, ...leader });
  const url = typeof leader.meta?.url === 'string' ? `  url ${leader.meta.url}` : '';
  return `${at.toISOString()}  ring ${ring}  leader ${leader.id}  rank ${leader.rank}  term ${leader.term}${url}`;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(watchOptionSpecs, argv, env);
  if (help) {
    process.stdout.write(renderHelp(USAGE, SUMMARY, watchOptionSpecs));
    return 0;
  }
  checkRingOptions(options);
  const ringName = options.ring ?? DEFAULT_RING;
  const logger = createLogger({ component: 'watch', level: options.logLevel, fd: 2 });
  const stop = new AbortController();
  const stopHandling = handleSignals({ SIGINT: () => stop.abort(), SIGTERM: () => stop.abort() });
  try {
    let observer: RingObserver;
    try {
      observer = await observeRing({
        relay: options.relay,
        ring: options.ring,
        token: options.token,
        logger,
        signal: stop.signal,
        connectTimeoutMs: options.connectTimeoutMs,
        leaderTimeoutMs: options.leaderTimeoutMs,
      });
    } catch (error) {
      if (stop.signal.aborted) return 0;
      logJoinFailure(logger, error, 'could not watch the ring');
      return 1;
    }
    if (!options.json) process.stderr.write(`watching ring ${ringName} at ${options.relay.join(', ')} (Ctrl-C to stop)\n`);
    observer.onNewLeader((leader) => process.stdout.write(`${formatLeader(leader, ringName, options.json, new Date())}\n`));
    const outcome = await observer.closed;
    return outcome.reason === 'closed' ? 0 : 1;
  } finally {
    stopHandling();
  }
}
