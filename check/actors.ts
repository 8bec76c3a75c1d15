/**
 * The real node and relay machines, stepped with XState's pure `transition()`, and what their
 * actions mean for the model: commands for the host, timers set and cancelled (in ticks), domain
 * events emitted.
 *
 * Three things make this fast enough to explore hundreds of thousands of states:
 *
 * - Interning. A machine state is stored once and named by a number; worlds hold the number.
 * - Rebasing. Counters that only ever grow (a node's `pingSeq`/`confirmedSeq` and its `checkLeader`
 *   nonce, the relay's timer `serial`) are shifted after every step so that the counter itself is
 *   always COUNTER_BASE. The machines only compare these numbers with each other (>=, equality,
 *   ranges between two of them), so shifting every copy of one counter by the same amount (in
 *   the context, in timer ids and events, in pongs and frames in flight) changes no decision. The
 *   step reports the shift; check/host.ts applies it to the copies in the world. Without this,
 *   every heartbeat would make a new state, and the space would be infinite.
 * - Memoisation. With counters rebased, a machine meets the same (state, event) pair again and
 *   again; its outcome is computed once. (A transition costs ~100 us; a lookup well under 1 us.)
 *
 * Dropped from the state, because with jitter 0 they cannot change a decision: the PRNG state
 * (`random`) and `nextDelay` (set on entry to a state and read in the same step to schedule its
 * timer, never later). `timing` is the same in every state of one run.
 */
import { initialTransition, transition, type AnyEventObject, type AnyStateMachine } from 'xstate';
import type { NodeContext, NodeEmitted, RelayCommand } from '../machines/nodeMachine.js';
import type { RelayContext, RelayEmitted, RelayInput } from '../machines/relayMachine.js';
import { canonicalJson } from './canonicalJson.js';
import { toTicks, type CheckConfig } from './config.js';

export const COUNTER_BASE = 1000;

export type TimerOp = { kind: 'set'; id: string; event: AnyEventObject; ticks: number } | { kind: 'cancel'; id: string };

interface Outcome<Emitted> {
  /** The interned state after the step. */
  state: number;
  timerOps: TimerOp[];
  emitted: Emitted[];
  /** The machine threw, or ended in an error state. */
  error: string | null;
}

export interface NodeOutcome extends Outcome<NodeEmitted> {
  commands: RelayCommand[];
  /** Subtract from this process's ping sequence numbers elsewhere in the world (lease timers, pongs in flight). */
  seqShift: number;
  /** Subtract from this process's `checkLeader` nonces elsewhere in the world. */
  nonceShift: number;
  /** The machine reached its final state (`left`): the process exits. */
  done: boolean;
}

export interface RelayOutcome extends Outcome<RelayEmitted> {
  /** Subtract from the relay's forward-timer serials elsewhere (its timers). */
  serialShift: number;
}

type Snapshot = { value: unknown; context: unknown; status: string; error?: unknown };

/** Interned machine states: one number per distinct (value, context). */
class StateTable<S extends Snapshot> {
  private readonly ids = new Map<string, number>();
  readonly snapshots: S[] = [];
  readonly keys: string[] = [];

  intern(snapshot: S, key: string): number {
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    const id = this.snapshots.length;
    this.ids.set(key, id);
    this.snapshots.push(snapshot);
    this.keys.push(key);
    return id;
  }

  get size(): number {
    return this.snapshots.length;
  }
}

function leaseSeqOf(id: string): number | null {
  return id.startsWith('lease:') ? Number(id.slice(6)) : null;
}

export function shiftLeaseId(id: string, shift: number): string {
  const seq = leaseSeqOf(id);
  return seq === null || shift === 0 ? id : `lease:${seq - shift}`;
}

export function shiftLeaseEvent(event: AnyEventObject, shift: number): AnyEventObject {
  return event.type === 'lease.expired' && shift !== 0 ? { ...event, seq: (event as unknown as { seq: number }).seq - shift } : event;
}

export function shiftForwardId(id: string, shift: number): string {
  if (shift === 0 || !id.startsWith('forward:')) return id;
  const at = id.lastIndexOf(':');
  return `${id.slice(0, at)}:${Number(id.slice(at + 1)) - shift}`;
}

export function shiftForwardEvent(event: AnyEventObject, shift: number): AnyEventObject {
  return event.type === 'forward.overdue' && shift !== 0 ? { ...event, serial: (event as unknown as { serial: number }).serial - shift } : event;
}

export function shiftNonce(nonce: string, shift: number): string {
  return shift === 0 ? nonce : String(Number(nonce) - shift);
}

/**
 * A nonce in flight after its owner's counter moved on by `shift`. Every nonce below the
 * counter is as good as any other: a machine only asks whether an answer's nonce equals its
 * counter now, and counters only grow. So stale ones all become COUNTER_BASE - 1, and a frame
 * stuck in a frozen process's backlog does not make a new state each time its sender asks again.
 */
export function shiftStaleNonce(nonce: string, shift: number): string {
  return String(Math.max(COUNTER_BASE - 1, Number(nonce) - shift));
}

/** The parts of a context that can change a future decision, as the interning key. */
function nodeKey(value: unknown, context: NodeContext): string {
  const { timing: _timing, random: _random, nextDelay: _nextDelay, ...rest } = context;
  return canonicalJson([value, rest]);
}

type Actions = Array<{ type: string; params?: Record<string, unknown> }>;

/**
 * One machine, stepped purely: interning, memoisation and error capture; what the outcome means
 * (rebasing, commands, timers) is the subclass's `interpret`.
 */
abstract class PureActors<C, O extends Outcome<unknown>> {
  readonly table = new StateTable<Snapshot & { context: C }>();
  private readonly memo = new Map<string, O>();
  /** Machine transitions actually computed (memo misses). */
  transitions = 0;

  constructor(
    protected readonly machine: AnyStateMachine,
    protected readonly config: Pick<CheckConfig, 'msPerTick'>,
    private readonly name: string,
  ) {}

  /** Turns one computed transition into the outcome the host uses; interns the (rebased) state. */
  protected abstract interpret(next: Snapshot, actions: Actions): O;
  /** The outcome of a transition that threw or failed. */
  protected abstract failure(error: string): O;

  step(state: number, event: AnyEventObject): O {
    return this.memoised(`${state}|${JSON.stringify(event)}`, () => transition(this.machine, this.table.snapshots[state] as never, event as never) as [Snapshot, unknown[]]);
  }

  snapshot(state: number): Snapshot & { context: C } {
    return this.table.snapshots[state]!;
  }

  protected memoised(key: string, compute: () => [Snapshot, unknown[]]): O {
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    this.transitions += 1;
    let outcome: O;
    try {
      const [next, actions] = compute();
      outcome = next.status === 'error' ? this.failure(`the ${this.name} machine failed: ${String(next.error)}`) : this.interpret(next, actions as Actions);
    } catch (error) {
      outcome = this.failure(`the ${this.name} machine threw: ${String(error)}`);
    }
    this.memo.set(key, outcome);
    return outcome;
  }

  protected timerOf(params: Record<string, unknown>, id: string, event: AnyEventObject): TimerOp {
    return { kind: 'set', id, event, ticks: toTicks(this.config, Number(params.delay), `a ${this.name} timer (${String(params.id)})`) };
  }
}

export class NodeActors extends PureActors<NodeContext, NodeOutcome> {
  constructor(
    machine: AnyStateMachine,
    private readonly nodeConfig: Pick<CheckConfig, 'msPerTick' | 'timing'>,
  ) {
    super(machine, nodeConfig, 'node');
  }

  /** A process starts: the machine's initial state. */
  initial(rank: number): NodeOutcome {
    return this.memoised(`initial|${rank}`, () => initialTransition(this.machine, { rank, seed: 1, timing: this.nodeConfig.timing }) as [Snapshot, unknown[]]);
  }

  protected failure(error: string): NodeOutcome {
    return { state: -1, timerOps: [], emitted: [], commands: [], seqShift: 0, nonceShift: 0, done: false, error };
  }

  protected interpret(next: Snapshot, actions: Actions): NodeOutcome {
    const context = next.context as NodeContext;
    const seqShift = context.pingSeq - COUNTER_BASE;
    const nonceShift = context.nonce - COUNTER_BASE;
    const rebased: NodeContext = {
      ...context,
      pingSeq: COUNTER_BASE,
      confirmedSeq: context.confirmedSeq - seqShift,
      nonce: COUNTER_BASE,
      random: 0,
      nextDelay: 0,
    };
    const snapshot = { ...next, context: rebased };
    const commands: RelayCommand[] = [];
    const timerOps: TimerOp[] = [];
    const emitted: NodeEmitted[] = [];
    for (const action of actions) {
      const params = action.params ?? {};
      switch (action.type) {
        case 'xstate.sendTo':
          commands.push(rebaseCommand(params.event as RelayCommand, seqShift, nonceShift));
          break;
        case 'xstate.raise':
          // A raise without a delay was already processed inside this macrostep.
          if (params.delay === undefined) break;
          timerOps.push(this.timerOf(params, shiftLeaseId(String(params.id), seqShift), shiftLeaseEvent(params.event as AnyEventObject, seqShift)));
          break;
        case 'xstate.cancel':
          timerOps.push({ kind: 'cancel', id: shiftLeaseId(String(params.sendId), seqShift) });
          break;
        case 'xstate.emit':
          emitted.push(params.event as NodeEmitted);
          break;
        default:
          // spawnChild/stopChild of the `relay` connection: the host is the connection.
          break;
      }
    }
    const state = this.table.intern(snapshot, nodeKey(snapshot.value, rebased));
    return { state, timerOps, emitted, commands, seqShift, nonceShift, done: next.status === 'done', error: null };
  }
}

function rebaseCommand(command: RelayCommand, seqShift: number, nonceShift: number): RelayCommand {
  if (command.type === 'ping') return { ...command, seq: command.seq - seqShift };
  // A node's own nonce only ever leaves it in `checkLeader`; `answerLeader` echoes the asker's.
  if (command.type === 'send' && command.frame.type === 'checkLeader') {
    return { ...command, frame: { ...command.frame, nonce: shiftNonce(command.frame.nonce, nonceShift) } };
  }
  return command;
}

export class RelayActors extends PureActors<RelayContext, RelayOutcome> {
  constructor(
    machine: AnyStateMachine,
    config: Pick<CheckConfig, 'msPerTick'>,
    private readonly input: RelayInput,
  ) {
    super(machine, config, 'relay');
  }

  /** A relay starts (or restarts): the machine's initial state. */
  initial(): RelayOutcome {
    return this.memoised('initial', () => initialTransition(this.machine, this.input) as [Snapshot, unknown[]]);
  }

  protected failure(error: string): RelayOutcome {
    return { state: -1, timerOps: [], emitted: [], serialShift: 0, error };
  }

  protected interpret(next: Snapshot, actions: Actions): RelayOutcome {
    const context = next.context as RelayContext;
    const serialShift = context.serial - COUNTER_BASE;
    const holding: RelayContext['holding'] = {};
    for (const [holder, held] of Object.entries(context.holding)) holding[holder] = { ...held, serial: held.serial - serialShift };
    const rebased: RelayContext = { ...context, serial: COUNTER_BASE, holding };
    const snapshot = { ...next, context: rebased };
    const timerOps: TimerOp[] = [];
    const emitted: RelayEmitted[] = [];
    for (const action of actions) {
      const params = action.params ?? {};
      if (action.type === 'xstate.raise' && params.delay !== undefined) {
        timerOps.push(this.timerOf(params, shiftForwardId(String(params.id), serialShift), shiftForwardEvent(params.event as AnyEventObject, serialShift)));
      } else if (action.type === 'xstate.cancel') {
        timerOps.push({ kind: 'cancel', id: shiftForwardId(String(params.sendId), serialShift) });
      } else if (action.type === 'xstate.emit') {
        emitted.push(params.event as RelayEmitted);
      }
    }
    // `profiles` only holds `?host=` labels, which the model never sets. `catchUpLeft` changes a
    // decision only once 2^32 terms of catch-up are spent, far above any term the model reaches
    // (termCap); `timing` is the same in every state of a run.
    const { profiles: _profiles, catchUpLeft: _catchUpLeft, timing: _timing, ...rest } = rebased;
    const state = this.table.intern(snapshot, canonicalJson([snapshot.value, rest]));
    return { state, timerOps, emitted, serialShift, error: null };
  }
}
