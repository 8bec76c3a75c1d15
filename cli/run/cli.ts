/**
 * `ringleader run [options] -- <command> [args...]`: a sidecar that makes any program a ring
 * member's job. It joins the ring (joinRing), runs the command only while it leads (sidecar.ts)
 * as a process group of its own, guarded by a watchdog (commandProcess.ts), and maps how it all ended onto an exit
 * status, in the manner of `consul lock`. Its logs go to stderr: stdout is the command's.
 */
import { DEFAULT_RING } from '../../machines/protocol.js';
import { joinRing, leaseOf, type RingNode } from '../../node/joinRing.js';
import { createInspection } from '../../runtime/inspection.js';
import { createLogger } from '../../runtime/logger.js';
import { renderHelp } from '../../runtime/options.js';
import { checkRingOptions, handleSignals, joinOptionsFrom, logJoinFailure } from '../../node/ringCommand.js';
import { exitStatusOf, startCommand } from './commandProcess.js';
import { findExecutable } from './findExecutable.js';
import { parseRunArguments, RUN_SUMMARY, RUN_USAGE, runOptionSpecs } from './options.js';
import { runSidecar, type SidecarOutcome } from './sidecar.js';

/** Exit statuses of the sidecar itself (the command's own pass through: see RUN_SUMMARY). */
const STOPPED = 0;
const FATAL = 1;

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, command, help } = parseRunArguments(argv, env);
  if (help) {
    process.stdout.write(renderHelp(RUN_USAGE, RUN_SUMMARY, runOptionSpecs));
    return 0;
  }
  checkRingOptions(options);
  const executable = findExecutable(command[0]!, env);
  if ('problem' in executable) {
    process.stderr.write(`ringleader run: cannot run the command: ${executable.detail}\n`);
    return executable.problem === 'not found' ? 127 : 126;
  }

  const logger = createLogger({ component: 'run', level: options.logLevel, fd: 2 });
  const inspection = createInspection({ url: options.inspectUrl, name: `run ${process.pid}`, logger, token: options.token });
  const stopping = new AbortController();
  const hurry = new AbortController();
  const cancelJoin = new AbortController();
  let node: RingNode | null = null;
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (stopping.signal.aborted) {
      logger.info({ signal }, 'asked again: stopping the command without grace');
      hurry.abort();
      return;
    }
    logger.info({ signal }, 'stopping: the command first, then leaving the ring');
    stopping.abort();
    // Before the welcome there is no command yet: stop trying to join.
    if (node === null) cancelJoin.abort();
  };
  const stopHandling = handleSignals({ SIGTERM: onStopSignal, SIGINT: onStopSignal, SIGUSR2: () => node?.startElection() });
  const cleanUp = () => {
    stopHandling();
    inspection.stop();
  };

  try {
    // Only the join is cancelled by a signal: once in, the sidecar leaves after its command has stopped, never before.
    node = await joinRing(joinOptionsFrom(options, { logger, signal: cancelJoin.signal, inspect: inspection.inspect }));
  } catch (error) {
    cleanUp();
    if (stopping.signal.aborted) return STOPPED;
    logJoinFailure(logger, error, 'could not join the ring');
    return FATAL;
  }

  const member = node;
  const lease = leaseOf(member);
  const outcome = await runSidecar({
    node: member,
    lease,
    launch: (term, leaseEndsAt) =>
      startCommand({
        argv: command,
        env: { ...env, RINGLEADER_TERM: String(term), RINGLEADER_RING: options.ring ?? DEFAULT_RING, RINGLEADER_LEADER_ID: member.id },
        leaseEndsAt,
        leaseMs: lease.lengthMs,
        logLevel: options.logLevel,
        logger,
      }),
    onExit: options.onExit,
    graceMs: options.graceMs,
    restartDelayMs: options.restartDelayMs,
    logger,
    stop: stopping.signal,
    hurry: hurry.signal,
  });
  const status = statusOf(outcome);
  logger.info({ status, reason: outcome.reason }, 'leaving the ring');
  await member.leave();
  cleanUp();
  return status;
}

function statusOf(outcome: SidecarOutcome): number {
  switch (outcome.reason) {
    case 'stopped':
      return STOPPED;
    case 'fatal':
      return FATAL;
    case 'commandExited':
      return exitStatusOf(outcome.exit);
  }
}
