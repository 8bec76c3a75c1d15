/**
 * `ringleader run` configuration: the ring options of `ringleader node` (one declaration each,
 * shared), the sidecar's own (`--grace-ms`, `--on-exit`, `--restart-delay-ms`), and the command
 * after `--`.
 */
import { nodeOptionSpecs } from '../../node/config.js';
import { ConfigError, parseOptions, type OptionSpec, type ParsedOptions } from '../../runtime/options.js';

export const RUN_USAGE = 'ringleader run [options] -- <command> [args...]';
export const RUN_SUMMARY =
  'Joins the ring and runs <command> only while this process leads, with RINGLEADER_TERM (the fencing\n' +
  'token), RINGLEADER_RING and RINGLEADER_LEADER_ID in its environment, in a process group of its own.\n' +
  'When leadership ends: SIGTERM to that group, SIGKILL after --grace-ms or when the lease ends,\n' +
  'whichever is first. A watchdog outside this process\'s group kills the command when the lease ends\n' +
  'even if this process is frozen, and at once if it dies. When the command exits while leading:\n' +
  '--on-exit leave hands leadership off and exits with its status; restand hands off and runs it again\n' +
  'the next time this process leads. SIGINT/SIGTERM stop the command (the same way), hand leadership\n' +
  'off and exit 0; a second one skips the grace period; SIGUSR2 starts an election.\n' +
  'Exit status: 0 stopped by a signal (or the command exited 0), the command\'s status (or 128+n when a\n' +
  'signal n ended it) with --on-exit leave, 1 fatal (relay refused or unreachable, --id taken), 2 bad\n' +
  'configuration, 126/127 the command cannot be run / was not found. Logs (JSON) go to stderr; stdout\n' +
  'is the command\'s.';

export const ON_EXIT_CHOICES = ['leave', 'restand'] as const;
export type OnExit = (typeof ON_EXIT_CHOICES)[number];

const { relay, rank, ring, id, meta, checkIntervalMs, leaderTimeoutMs, electionTimeoutMs, connectTimeoutMs, token, logLevel, inspectUrl } = nodeOptionSpecs;

export const runOptionSpecs = {
  relay,
  ring,
  id,
  meta,
  rank,
  token,
  graceMs: {
    flag: 'grace-ms',
    env: 'RUN_GRACE_MS',
    kind: 'integer',
    min: 0,
    default: 5000,
    help: 'after SIGTERM, how long the command\'s process group has to exit before SIGKILL, ms; never past the end of the lease once leadership is lost',
  },
  onExit: {
    flag: 'on-exit',
    env: 'RUN_ON_EXIT',
    kind: 'string',
    choices: ON_EXIT_CHOICES,
    default: 'leave',
    help: 'when the command exits by itself while leading: leave (hand off, exit with its status) or restand (hand off, run it again on the next leadership)',
  },
  restartDelayMs: {
    flag: 'restart-delay-ms',
    env: 'RUN_RESTART_DELAY_MS',
    kind: 'integer',
    min: 0,
    default: 1000,
    help: 'with --on-exit restand: the least time between the command\'s exit and its next start here, ms',
  },
  checkIntervalMs,
  leaderTimeoutMs,
  electionTimeoutMs,
  connectTimeoutMs,
  logLevel,
  inspectUrl,
} satisfies Record<string, OptionSpec>;

export type RunOptions = ParsedOptions<typeof runOptionSpecs> & { onExit: OnExit };

export interface RunInvocation {
  options: RunOptions;
  /** The command and its arguments: everything after the first `--`. */
  command: string[];
  help: boolean;
}

/** Splits `[options] -- <command> [args...]` and parses the options; a missing command is bad configuration. */
export function parseRunArguments(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RunInvocation {
  const separator = argv.indexOf('--');
  const optionArgs = separator === -1 ? argv : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  let parsed;
  try {
    parsed = parseOptions(runOptionSpecs, optionArgs, env);
  } catch (error) {
    // `ringleader run --relay ws://r ./job`: the likely mistake is the missing `--`.
    if (separator === -1 && error instanceof ConfigError && error.message.startsWith('unexpected argument')) {
      throw new ConfigError(`${error.message.replace(' (see --help)', '')}: put the command after --: ${RUN_USAGE}`);
    }
    throw error;
  }
  const { options, help } = parsed;
  if (!help && command.length === 0) throw new ConfigError(`no command to run: ${RUN_USAGE}`);
  return { options: options as RunOptions, command, help };
}
