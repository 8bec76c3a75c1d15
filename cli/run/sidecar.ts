/**
 * The leadership side of `ringleader run`: the command runs only while this member leads. Each
 * leadership starts it once (after checking, right before, that the lease still holds); the end
 * of that leadership stops it; its own exit either ends the sidecar (`leave`) or hands leadership
 * off to stand again (`restand`). A new run never starts before the previous one, and everything
 * it started, is gone. While the leadership lasts, every renewal of the lease is passed on to the
 * command's watchdog, which kills the command when the lease ends unrenewed, whatever happens to
 * this process; so a stop after the lease ended gets no more grace than the lease has left.
 * Starting and stopping processes is commandProcess.ts's job.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LeaseView, RingNode } from '../../node/joinRing.js';
import type { Logger } from '../../runtime/logger.js';
import type { CommandExit, RunningCommand } from './commandProcess.js';
import type { OnExit } from './options.js';
import { onSharedClock } from './sharedClock.js';

export type SidecarNode = Pick<RingNode, 'campaign' | 'isLeader' | 'resign' | 'closed'>;

export interface SidecarOptions {
  node: SidecarNode;
  /** The node's lease: its end is passed on to the command's watchdog. */
  lease: LeaseView;
  /** Starts the command for the leadership of `term`, whose lease ends at `leaseEndsAt` (shared clock: sharedClock.ts) unless renewed. */
  launch(term: number, leaseEndsAt: number): RunningCommand;
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
  const { node, lease, logger, stop } = options;
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
    let leaseEndsAt = lease.endsAt();
    if (leaseEndsAt === null) {
      await aborted(ended);
      continue;
    }
    const command = options.launch(term, onSharedClock(leaseEndsAt));
    // Renewals go on while this leadership lasts, through a stop asked for by a signal too: only a
    // lease that still holds gives the command its whole grace period.
    const stopRenewing = lease.onConfirmed(() => {
      const end = leadership.signal.aborted ? null : lease.endsAt();
      if (end === null) return;
      leaseEndsAt = end;
      command.renew(onSharedClock(end));
    });
    const startedAt = Date.now();
    logger.info({ term, commandPid: command.pid }, 'command started');
    const first = await Promise.race([command.exited, aborted(ended), command.unguarded.then(() => 'unguarded' as const)]);
    // An exit that comes with the end of the lease is the watchdog's kill (this process was frozen,
    // or had not yet heard the lease end): leadership is what ended, not the command.
    const killedAtLeaseEnd = first !== 'aborted' && first !== 'unguarded' && first.signal === 'SIGKILL' && !node.isLeader();
    if (first === 'aborted' || first === 'unguarded' || killedAtLeaseEnd) {
      const reason = first === 'unguarded' ? 'watchdog gone' : stop.aborted ? 'stopping' : 'leadership lost';
      // Once leadership is lost the watchdog kills the group when the lease ends: no grace beyond it.
      const leaseLeftMs = Math.max(0, Math.floor(leaseEndsAt - performance.now()));
      const graceMs = leadership.signal.aborted ? Math.min(options.graceMs, leaseLeftMs) : options.graceMs;
      logger.info({ term, commandPid: command.pid, reason, graceMs }, 'stopping command: SIGTERM to its process group');
      const { exit, killed } = await command.stop(graceMs, options.hurry);
      stopRenewing();
      logger.info({ term, commandPid: command.pid, ...exitFields(exit), killed: killed || exit.signal === 'SIGKILL', ranMs: Date.now() - startedAt }, 'command stopped');
      if (stop.aborted) return { reason: 'stopped' };
      continue;
    }
    logger.info({ term, commandPid: command.pid, ...exitFields(first), ranMs: Date.now() - startedAt }, 'command exited');
    // What it left running in its group goes with it: nothing of it may outlive the leadership.
    await command.stop(options.graceMs, options.hurry);
    stopRenewing();
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
