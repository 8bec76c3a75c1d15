/**
 * `ringleader node`: one ring member as a process, a thin user of `joinRing()`.
 *
 * Signals are its control channel (runtime/control.ts): SIGUSR2 starts an election, SIGTERM and
 * SIGINT leave gracefully (handing leadership off if held). Exit codes: 0 after a graceful
 * leave, 1 on a fatal error (a wrong RING_TOKEN), 2 on bad configuration (from the dispatcher).
 */
import { createInspection } from '../runtime/inspection.js';
import { createLogger } from '../runtime/logger.js';
import { parseOptions, renderHelp } from '../runtime/options.js';
import { NODE_SUMMARY, NODE_USAGE, nodeOptionSpecs } from './config.js';
import { joinRing, type RingNode } from './joinRing.js';
import { checkRingOptions, handleSignals, joinOptionsFrom, logJoinFailure } from './ringCommand.js';

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(nodeOptionSpecs, argv, env);
  if (help) {
    process.stdout.write(renderHelp(NODE_USAGE, NODE_SUMMARY, nodeOptionSpecs));
    return 0;
  }
  checkRingOptions(options);
  const logger = createLogger({ component: 'node', level: options.logLevel });
  // Inspection never blocks start-up nor keeps the process alive (runtime/inspection.ts).
  const inspection = createInspection({ url: options.inspectUrl, name: `node ${process.pid}`, logger, token: options.token });

  const leaving = new AbortController();
  const onLeaveSignal = (signal: NodeJS.Signals) => {
    if (leaving.signal.aborted) return;
    logger.info({ signal }, 'leaving the ring');
    leaving.abort();
  };
  let node: RingNode | null = null;
  const onElectionSignal = () => {
    logger.info({ clientId: node?.id ?? null, rank: node?.rank, term: node?.term() }, 'election requested (SIGUSR2)');
    node?.startElection();
  };
  const stopHandlingSignals = handleSignals({ SIGTERM: onLeaveSignal, SIGINT: onLeaveSignal, SIGUSR2: onElectionSignal });
  const cleanUp = () => {
    stopHandlingSignals();
    inspection.stop();
  };

  try {
    node = await joinRing(joinOptionsFrom(options, { logger, signal: leaving.signal, inspect: inspection.inspect }));
  } catch (error) {
    cleanUp();
    // A signal before the welcome is still a graceful leave.
    if (leaving.signal.aborted) return 0;
    logJoinFailure(logger, error, 'node failed to join the ring');
    return 1;
  }

  const outcome = await node.closed;
  cleanUp();
  return outcome.reason === 'left' ? 0 : 1;
}
