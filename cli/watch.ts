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

/**
 * What a terminal would act on rather than show: C0 and C1 controls (ESC, CSI, CR, LF), DEL, line
 * and paragraph separators, and the bidi overrides that reorder what is shown. A leader's meta is
 * whatever its member sent, so none of it may reach a terminal as is.
 */
const UNSAFE_FOR_TERMINALS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every such character written as a visible `\uXXXX` escape (valid inside JSON strings too). */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINALS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One leader change as `watch` prints it: one line, whatever the leader's meta holds. */
export function formatLeader(leader: LeaderInfo, ring: string, json: boolean, at: Date): string {
  // JSON.stringify escapes C0 controls but not DEL, C1 (0x9b is CSI) or U+2028/9.
  if (json) return escapeForTerminal(JSON.stringify({ time: at.toISOString(), ring, ...leader }));
  const url = typeof leader.meta?.url === 'string' ? `  url ${escapeForTerminal(leader.meta.url)}` : '';
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
