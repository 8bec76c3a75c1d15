/**
 * The ring's safety properties (docs/ALGORITHM.md, "Properties, as the checker judges them"),
 * judged in every state the search reaches (and, for those about a decision, on every step).
 * Liveness and stability are the simulator's business: an exhaustive search bounded in terms and faults can only refute
 * safety. The checks use their own "highest (rank, id)" (sim/properties.ts) and the project's one
 * agreement check (runtime/agreement.ts), never the machines' rule, so a broken rule cannot grade
 * itself.
 *
 * - lease: at no moment do two running (not frozen) processes sit in `online.leader`.
 * - one-leader-per-term: no two live processes (frozen ones included) lead the same term, except
 *   one whose socket the relay has closed (the close is the next thing it reads; as the simulator
 *   counts it, docs/ALGORITHM.md "Limits"). A leader names itself, with its own rank.
 * - validity: a completed election announces the highest (rank, id) among the `eligible` entries
 *   that are members in the completing node's view (plus itself), with the lap's term.
 * - agreement when quiescent (defined in `isQuiescent`): checkAgreement over every live process,
 *   with the relay's member list.
 * - timing: no node refuses the relay's `welcome.timing` (a configuration whose lease the relay's
 *   heartbeat would not outlast is caught there, before any node leads with it).
 * - nothing-lost: no machine throws, every frame sent or delivered survives encode/parse, the
 *   relay refuses no frame of a well-behaved node (but for a stale target), no delivery to a
 *   member without a socket.
 */
import { checkAgreement } from '../runtime/agreement.js';
import { highestCandidate } from '../sim/properties.js';
import type { NodeContext } from '../machines/nodeMachine.js';
import type { StepReport } from './host.js';
import type { Model } from './model.js';
import { currentSocket, isAlive, isRunning, type World } from './world.js';

export type PropertyName = 'lease' | 'one-leader-per-term' | 'validity' | 'agreement' | 'nothing-lost' | 'timing';

export interface Violation {
  property: PropertyName;
  message: string;
}

/** The substate of `online` a machine value is in, or the top-level state. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  const online = (value as { online?: string }).online;
  return online === undefined ? JSON.stringify(value) : `online.${online}`;
}

function describeProcess(index: number, context: NodeContext): string {
  return `#${index} (${context.id ?? 'no id'}, rank ${context.rank})`;
}

/** Judges one step (its report) and the world it led to; the first violation found, or null. */
export function checkStep(model: Model, world: World, report: StepReport): Violation | null {
  return checkReport(report) ?? checkWorld(model, world);
}

/** What a step did: nothing-lost and validity. */
export function checkReport(report: StepReport): Violation | null {
  if (report.problems.length > 0) return { property: 'nothing-lost', message: report.problems.join('; ') };
  const [refusal] = report.timingRefusals;
  if (refusal !== undefined) return { property: 'timing', message: `#${refusal.process} refused the relay's timing at welcome: ${refusal.detail}` };
  for (const { process, id, members, event } of report.completions) {
    const live = new Set(members);
    if (id !== null) live.add(id);
    const expected = highestCandidate(event.eligible.filter((entry) => live.has(entry.id)));
    const { winner } = event;
    if (expected === null || expected.id !== winner.id || expected.rank !== winner.rank || winner.term !== event.term) {
      return {
        property: 'validity',
        message:
          `#${process} (${id}) completed term ${event.term} with winner ${winner.id}/rank ${winner.rank}/term ${winner.term}, but the highest ` +
          `live entry of ${JSON.stringify(event.eligible)} in its view ${JSON.stringify([...live])} is ${JSON.stringify(expected)}`,
      };
    }
  }
  return null;
}

/** What holds in every state: lease, one leader per term, agreement when quiescent. */
export function checkWorld(model: Model, world: World): Violation | null {
  const leaders: Array<{ index: number; context: NodeContext; running: boolean; cutOff: boolean }> = [];
  world.processes.forEach((process, index) => {
    if (!isAlive(process)) return;
    const snapshot = model.nodes.snapshot(process.machine);
    if (stateName(snapshot.value) !== 'online.leader') return;
    const socket = currentSocket(process);
    leaders.push({ index, context: snapshot.context, running: isRunning(process), cutOff: socket === null || socket.relay === 'closed' });
  });

  const holders = leaders.filter((leader) => leader.running);
  if (holders.length > 1) {
    return { property: 'lease', message: `${holders.length} running processes lead at once: ${holders.map((leader) => describeLeader(leader.index, leader.context)).join(', ')}` };
  }

  const byTerm = new Map<number, string[]>();
  for (const { index, context, cutOff } of leaders) {
    const { leader } = context;
    if (leader === null || leader.id !== context.id || leader.rank !== context.rank) {
      return { property: 'one-leader-per-term', message: `${describeProcess(index, context)} is in state leader but names ${JSON.stringify(leader)} as leader` };
    }
    if (cutOff) continue;
    const same = byTerm.get(leader.term) ?? [];
    same.push(describeLeader(index, context));
    byTerm.set(leader.term, same);
    if (same.length > 1) return { property: 'one-leader-per-term', message: `term ${leader.term} has ${same.length} leaders: ${same.join(', ')}` };
  }

  if (isQuiescent(model, world)) {
    const views = world.processes.filter(isAlive).map((process) => {
      const snapshot = model.nodes.snapshot(process.machine);
      return { id: snapshot.context.id, leader: snapshot.context.leader, leading: stateName(snapshot.value) === 'online.leader' };
    });
    const outcome = checkAgreement(views, model.relay.snapshot(world.relay.machine).context.members.toArray());
    if (!outcome.agreed) return { property: 'agreement', message: `the ring is quiescent but does not agree: ${outcome.why}` };
  }
  return null;
}

function describeLeader(index: number, context: NodeContext): string {
  return `${describeProcess(index, context)} leading term ${context.leader?.term}`;
}

/**
 * Quiescent: nothing is on its way that could change what anyone believes, and no timer is
 * pending whose firing would change a state. Precisely:
 * - no fault in effect: no process frozen, no socket cut, none waiting to (re)connect;
 * - every live process has exactly one socket, which both ends hold open (the relay's member
 *   list is exactly the live processes), and nothing is in flight on any link but pongs (a
 *   crashed or departed process has no socket left either);
 * - the relay has no forward timer pending (no member sits on an election frame);
 * - every live process is in `online.follower` or `online.leader`. (In `checking` its question or
 *   the answer is in flight, or was lost and its leader timeout will fire; `awaiting`, `electing`
 *   and `handingOff` all have a timer that changes the state.)
 * The timers left are the heartbeat (it renews a lease, changes no belief) and the follower's
 * check interval (its question reaches the leader everyone names, and the answer returns it to
 * `follower`): when the ring agrees, neither changes anything.
 */
export function isQuiescent(model: Model, world: World): boolean {
  if (world.relay.timers.length > 0) return false;
  for (const process of world.processes) {
    if (!isAlive(process)) {
      if (process.sockets.length > 0) return false;
      continue;
    }
    if (process.frozen || process.connectIn >= 0 || process.sockets.length !== 1) return false;
    const socket = process.sockets[0]!;
    if (!socket.nodeOpen || socket.relay !== 'member' || socket.cut) return false;
    if (socket.up.length > 0 || socket.down.some((message) => message.kind !== 'pong')) return false;
    const state = stateName(model.nodes.snapshot(process.machine).value);
    if (state !== 'online.follower' && state !== 'online.leader') return false;
  }
  return world.processes.some(isAlive);
}

/** The highest term anywhere in the world: the search stops exploring past the term cap. */
export function highestTerm(model: Model, world: World): number {
  let term = model.relay.snapshot(world.relay.machine).context.highestTerm;
  for (const process of world.processes) {
    if (isAlive(process)) term = Math.max(term, model.nodes.snapshot(process.machine).context.term);
  }
  return term;
}
