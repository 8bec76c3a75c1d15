/**
 * The leadership side of `ringleader run`: the command runs only while this member leads. Each
 * leadership starts it once (after checking, right before, that the lease still holds); the end
 * of that leadership stops it; its own exit either ends the sidecar (`leave`) or hands leadership
 * off to stand again (`restand`). A new run never starts before the previous one, and everything
 * it started, is gone. Starting and stopping processes is commandProcess.ts's job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RingNode } from '../../node/joinRing.js';
import type { Logger } from '../../runtime/logger.js';
import type { CommandExit, RunningCommand } from './commandProcess.js';
import type { OnExit } from './options.js';

export type SidecarNode = Pick<RingNode, 'campaign' | 'isLeader' | 'resign' | 'closed'>;

export interface SidecarOptions {
  node: SidecarNode;
  /** Starts the command for the leadership of `term`. */
  launch(term: number): RunningCommand;
  onExit: OnExit;
  graceMs: number;
  /** With `restand`: the least time between the command's exit and its next start. */
  restartDelayMs: number;
  logger: Logger;
  /** Aborts when the sidecar is asked to stop (SIGINT/SIGTERM). */
  stop: AbortSignal;
  /** Aborts when it is asked again: no more grace. */
  hurry: AbortSignal;
}

/** Why the sidecar ended: asked to, the command exited (with `leave`, or could not start), or the ring let it go for good. */
export type SidecarOutcome = { reason: 'stopped' } | { reason: 'commandExited'; exit: CommandExit } | { reason: 'fatal'; error: Error };

export async function runSidecar(options: SidecarOptions): Promise<SidecarOutcome> {
  const { node, logger, stop } = options;
  let lastExitAt = Number.NEGATIVE_INFINITY;
  for (;;) {
    let leadership: { term: number; signal: AbortSignal };
    try {
      leadership = await node.campaign({ signal: stop });
    } catch {
      if (stop.aborted) return { reason: 'stopped' };
      const closed = await node.closed;
      return closed.reason === 'fatal' ? closed : { reason: 'fatal', error: new Error('left the ring') };
    }
    const { term } = leadership;
    const ended = AbortSignal.any([leadership.signal, stop]);
    const rest = lastExitAt + options.restartDelayMs - Date.now();
    if (rest > 0) await sleep(rest, undefined, { signal: ended }).catch(() => {});
    if (ended.aborted) {
      if (stop.aborted) return { reason: 'stopped' };
      continue;
    }
    // The lease may have lapsed a moment ago, its end not yet handed to us: never start then.
    if (!node.isLeader()) {
      await aborted(ended);
      continue;
    }
    const command = options.launch(term);
    const startedAt = Date.now();
    logger.info({ term, commandPid: command.pid }, 'command started');
    const first = await Promise.race([command.exited, aborted(ended)]);
    if (first === 'aborted') {
      const reason = stop.aborted ? 'stopping' : 'leadership lost';
      logger.info({ term, commandPid: command.pid, reason, graceMs: options.graceMs }, 'stopping command: SIGTERM to its process group');
      const { exit, killed } = await command.stop(options.graceMs, options.hurry);
      logger.info({ term, commandPid: command.pid, ...exitFields(exit), killed, ranMs: Date.now() - startedAt }, 'command stopped');
      if (stop.aborted) return { reason: 'stopped' };
      continue;
    }
    logger.info({ term, commandPid: command.pid, ...exitFields(first), ranMs: Date.now() - startedAt }, 'command exited');
    // What it left running in its group goes with it: nothing of it may outlive the leadership.
    await command.stop(options.graceMs, options.hurry);
    if (stop.aborted) return { reason: 'stopped' };
    if (first.error || options.onExit === 'leave') return { reason: 'commandExited', exit: first };
    lastExitAt = Date.now();
    await handOff(node, logger, term, options.restartDelayMs);
  }
}

/** `restand`: let another member lead; alone, keep leading and run the command again after the delay. */
async function handOff(node: SidecarNode, logger: Logger, term: number, restartDelayMs: number): Promise<void> {
  if (!node.isLeader()) return;
  try {
    await node.resign();
  } catch (error) {
    logger.warn({ term, restartDelayMs, reason: (error as Error).message }, 'could not hand leadership off: running the command again after the restart delay');
  }
}

function aborted(signal: AbortSignal): Promise<'aborted'> {
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
}

function exitFields(exit: CommandExit): Record<string, unknown> {
  return exit.error ? { error: exit.error.message, errorCode: exit.error.code } : { code: exit.code, signal: exit.signal };
}
