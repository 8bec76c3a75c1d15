/**
 * The options of `ringleader up`, declared once for parsing, --help and the README table.
 * Timing defaults come from the node machine itself, so `up --help` cannot drift from what a
 * node does when nothing is set.
 */
import { DEFAULT_TIMING } from '../machines/nodeMachine.js';
import { LOG_LEVELS } from '../runtime/logger.js';
import type { OptionSpecs } from '../runtime/options.js';

export const UP_USAGE = 'ringleader up [options]';
export const UP_SUMMARY =
  'Runs a relay, the inspector and N node processes on this machine, prints where to look and every\n' +
  "node's leader changes, and stops them all on Ctrl-C. This is what `npm start` runs.\n" +
  'Exit codes: 0 stopped by SIGINT/SIGTERM, 1 a process it started failed, 2 bad configuration or a\n' +
  'port (--port, --inspector-port) already in use.';

export const upOptionSpecs = {
  nodes: { flag: 'nodes', env: 'NODES', kind: 'integer', default: 5, min: 1, max: 200, help: 'how many node processes to start' },
  port: { flag: 'port', env: 'PORT', kind: 'integer', default: 8080, min: 0, max: 65535, help: 'relay port (0 = any free port)' },
  inspectorPort: {
    flag: 'inspector-port',
    env: 'INSPECTOR_PORT',
    kind: 'integer',
    default: 8090,
    min: 0,
    max: 65535,
    help: 'inspector port (0 = any free port)',
  },
  inspector: { flag: 'inspector', env: 'INSPECTOR', kind: 'boolean', default: true, help: 'serve the inspector (--no-inspector to skip)' },
  checkIntervalMs: {
    flag: 'check-interval-ms',
    env: 'CHECK_INTERVAL_MS',
    kind: 'integer',
    default: DEFAULT_TIMING.checkIntervalMs,
    min: 10,
    max: 3_600_000,
    help: 'how often a follower asks the leader if it is alive',
  },
  leaderTimeoutMs: {
    flag: 'leader-timeout-ms',
    env: 'LEADER_TIMEOUT_MS',
    kind: 'integer',
    default: DEFAULT_TIMING.leaderTimeoutMs,
    min: 10,
    max: 3_600_000,
    help: 'silence after which a follower starts an election',
  },
  electionTimeoutMs: {
    flag: 'election-timeout-ms',
    env: 'ELECTION_TIMEOUT_MS',
    kind: 'integer',
    default: DEFAULT_TIMING.electionTimeoutMs,
    min: 10,
    max: 3_600_000,
    help: 'how long one lap of the ring may take before it is restarted',
  },
  token: {
    flag: 'token',
    env: 'RING_TOKEN',
    kind: 'string',
    help: 'shared secret of the ring: the relay requires it from every node, the inspector for its controls (prefer the env var: flags show in ps)',
  },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', default: 'info', choices: LOG_LEVELS, help: 'log level of the relay and nodes' },
  childLogs: {
    flag: 'child-logs',
    env: 'CHILD_LOGS',
    kind: 'boolean',
    default: false,
    help: "print every log line of the relay and nodes (otherwise only warnings and errors)",
  },
} satisfies OptionSpecs;
