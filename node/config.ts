/**
 * `ringleader node` configuration: one declaration per option (flag, environment variable,
 * default), turned into `joinRing` options. The names are the ones README.md's Configuration table lists.
 */
import { DEFAULT_TIMING } from '../machines/nodeMachine.js';
import { LOG_LEVELS } from '../runtime/logger.js';
import type { OptionSpec, ParsedOptions } from '../runtime/options.js';

export const NODE_USAGE = 'ringleader node [options]';
export const NODE_SUMMARY =
  'Runs one ring member: joins the relay, takes part in elections, and logs every election, leader change,\n' +
  'join and leave as a JSON line. SIGUSR2 starts an election; SIGTERM/SIGINT leave gracefully (handing\n' +
  'leadership off if held) and exit 0. Exit codes: 0 left, 1 fatal (a wrong RING_TOKEN, an address that is\n' +
  'not a relay, an --id that a live member holds, no welcome within --connect-timeout-ms), 2 bad configuration.';

export const nodeOptionSpecs = {
  relay: {
    flag: 'relay',
    env: 'RELAY_URL',
    kind: 'urls',
    protocols: ['ws:', 'wss:'],
    default: ['ws://localhost:8080'],
    help: 'address of the relay; several relays on one store separated by commas, tried in turn (a standby\'s redirect is followed)',
  },
  rank: { flag: 'rank', env: 'RANK', kind: 'integer', min: 0, help: 'this node\'s rank; highest (rank, id) wins (default: random)' },
  ring: { flag: 'ring', env: 'RING', kind: 'string', help: 'the ring to join on the relay (ws://relay/rings/<name>); default: the relay\'s default ring' },
  id: {
    flag: 'id',
    env: 'NODE_ID',
    kind: 'string',
    help: 'this node\'s own id, kept across reconnects (default: the relay picks n1, n2, ...); exits 1 if a live member holds it',
  },
  meta: {
    flag: 'meta',
    env: 'NODE_META',
    kind: 'pairs',
    help: 'what this node tells the ring while it leads, e.g. --meta url=http://10.0.0.5:8080 (repeatable; env: k=v,k2=v2 or a JSON object)',
  },
  checkIntervalMs: {
    flag: 'check-interval-ms',
    env: 'CHECK_INTERVAL_MS',
    kind: 'integer',
    min: 1,
    default: DEFAULT_TIMING.checkIntervalMs,
    help: 'how often a follower asks the leader whether it is alive, ms',
  },
  leaderTimeoutMs: {
    flag: 'leader-timeout-ms',
    env: 'LEADER_TIMEOUT_MS',
    kind: 'integer',
    min: 3,
    default: DEFAULT_TIMING.leaderTimeoutMs,
    help: 'silence from the leader that starts an election, ms (a third of it is the relay-silence bound); a relay that tells its own (welcome.timing) overrides it',
  },
  electionTimeoutMs: {
    flag: 'election-timeout-ms',
    env: 'ELECTION_TIMEOUT_MS',
    kind: 'integer',
    min: 1,
    default: DEFAULT_TIMING.electionTimeoutMs,
    help: 'how long an election lap may take before a new one starts, ms',
  },
  connectTimeoutMs: {
    flag: 'connect-timeout-ms',
    env: 'CONNECT_TIMEOUT_MS',
    kind: 'integer',
    min: 0,
    default: 0,
    help: 'give up (exit 1) when the relay has not welcomed this node within this long, ms; 0 keeps trying',
  },
  token: { flag: 'token', env: 'RING_TOKEN', kind: 'string', help: 'shared secret the relay requires (prefer the env variable)' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', choices: LOG_LEVELS, default: 'info', help: 'pino log level' },
  inspectUrl: {
    flag: 'inspect-url',
    env: 'INSPECT_URL',
    kind: 'url',
    protocols: ['ws:', 'wss:'],
    help: 'stream this node\'s statechart to an inspector (ws:// URL)',
  },
} satisfies Record<string, OptionSpec>;

export type NodeOptions = ParsedOptions<typeof nodeOptionSpecs>;
