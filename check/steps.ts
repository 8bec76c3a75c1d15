/**
 * The steps the checker chooses between in a world, and what each does. A step is one event of
 * one process (a frame arriving, a timer firing, a connect), one tick of time, or one fault.
 *
 * Time (docs/ALGORITHM.md, "The time model"): a timer fires exactly when its ticks run out; a
 * message or a (re)connect happens at any moment the checker likes within its deadline; time
 * moves on by one tick only when nothing is due now. So every order of the events of one tick is
 * explored, and every delay within the bounds, but no absolute time is kept.
 *
 * One step is taken first, alone, instead of interleaved (a reduction; the docs argue why it
 * hides no violation): a running node's due heartbeat. Its ping round trip only renews its own
 * lease, and taking it before anything else in its tick makes every lease as long as it can be.
 */
import { emptyReport, Host, type StepReport } from './host.js';
import { startProcess, type Model } from './model.js';
import { stateName } from './properties.js';
import { currentSocket, Draft, isAlive, isRunning, type Process, type World } from './world.js';

export type Step =
  | { kind: 'tick' }
  /** The head of a socket's node-to-relay link reaches the relay. */
  | { kind: 'arrive'; process: number; socket: number }
  /** The head of a socket's relay-to-node link reaches the process. */
  | { kind: 'receive'; process: number; socket: number }
  | { kind: 'timer'; process: number; id: string }
  | { kind: 'relay-timer'; id: string }
  | { kind: 'relay-heartbeat' }
  | { kind: 'connect'; process: number }
  | { kind: 'thaw'; process: number }
  | { kind: 'crash' | 'freeze' | 'cut' | 'leave' | 'election' | 'resign'; process: number }
  | { kind: 'join' }
  | { kind: 'restart' };

export type FaultStep = Extract<Step, { kind: 'crash' | 'freeze' | 'cut' | 'leave' | 'election' | 'resign' | 'join' | 'restart' }>;

export class Stepper {
  readonly host: Host;

  constructor(readonly model: Model) {
    this.host = new Host(model);
  }

  /** Every step the checker may take in `world`. */
  enabled(world: World): Step[] {
    const { processes, relay } = world;
    for (let index = 0; index < processes.length; index += 1) {
      const process = processes[index]!;
      if (isRunning(process) && process.timers.some((timer) => timer.id === 'heartbeat' && timer.left <= 0)) {
        return [{ kind: 'timer', process: index, id: 'heartbeat' }];
      }
    }

    const steps: Step[] = [];
    for (let index = 0; index < processes.length; index += 1) {
      const process = processes[index]!;
      process.sockets.forEach((socket, at) => {
        if (socket.up.length > 0) steps.push({ kind: 'arrive', process: index, socket: at });
        if (socket.down.length > 0 && isRunning(process)) steps.push({ kind: 'receive', process: index, socket: at });
      });
      if (!isRunning(process)) continue;
      for (const timer of process.timers) if (timer.left <= 0) steps.push({ kind: 'timer', process: index, id: timer.id });
      if (process.connectIn >= 0) steps.push({ kind: 'connect', process: index });
    }
    for (const timer of relay.timers) if (timer.left <= 0) steps.push({ kind: 'relay-timer', id: timer.id });
    if (relay.heartbeatIn <= 0) steps.push({ kind: 'relay-heartbeat' });
    processes.forEach((process, index) => {
      if (isAlive(process) && process.frozen) steps.push({ kind: 'thaw', process: index });
    });
    if (world.faultsLeft > 0) steps.push(...this.faults(world));
    if (!this.somethingDue(world)) steps.push({ kind: 'tick' });
    return steps;
  }

  /** Applies `step` to a copy of `world` (sharing what the step does not change). */
  apply(world: World, step: Step): { world: World; report: StepReport } {
    const draft = new Draft(world);
    const report = emptyReport();
    const { host } = this;
    switch (step.kind) {
      case 'tick':
        this.tick(draft);
        break;
      case 'arrive':
        host.arrive(draft, report, step.process, step.socket);
        break;
      case 'receive':
        host.receive(draft, report, step.process, step.socket);
        break;
      case 'timer': {
        const process = draft.process(step.process);
        const timer = process.timers.find((candidate) => candidate.id === step.id)!;
        process.timers = process.timers.filter((candidate) => candidate !== timer);
        host.feedNode(draft, report, step.process, timer.event, { instantPong: true });
        break;
      }
      case 'relay-timer': {
        const { relay } = draft.world;
        const timer = relay.timers.find((candidate) => candidate.id === step.id)!;
        relay.timers = relay.timers.filter((candidate) => candidate !== timer);
        host.feedRelay(draft, report, timer.event);
        break;
      }
      case 'relay-heartbeat':
        host.heartbeat(draft, report);
        break;
      case 'connect':
        host.connect(draft, report, step.process);
        break;
      case 'thaw':
        this.thaw(draft, report, step.process);
        break;
      default:
        draft.world.faultsLeft -= 1;
        this.inject(draft, report, step);
    }
    draft.world.processes.forEach((process, index) => {
      // Sockets nobody will read or write again are forgotten, so they do not tell states apart.
      if (process.sockets.some(isFinished)) {
        const owned = draft.process(index);
        owned.sockets = owned.sockets.filter((socket) => !isFinished(socket));
      }
    });
    return { world: draft.world, report };
  }

  // ---- time ----------------------------------------------------------------------------------

  /** Whether anything must happen before time can move on. */
  private somethingDue(world: World): boolean {
    if (world.relay.heartbeatIn <= 0 || world.relay.timers.some((timer) => timer.left <= 0)) return true;
    for (const process of world.processes) {
      for (const socket of process.sockets) {
        if ((socket.up[0]?.due ?? 1) <= 0) return true;
        if (isRunning(process) && (socket.down[0]?.due ?? 1) <= 0) return true;
      }
      if (!isRunning(process)) continue;
      if (process.connectIn === 0 || process.timers.some((timer) => timer.left <= 0)) return true;
    }
    return false;
  }

  /**
   * One tick passes. A frozen process's timers keep running down past zero (its clock does not
   * stop; it just cannot act), and what is sent to it waits, no longer holding time up.
   */
  private tick(draft: Draft): void {
    const { relay } = draft.world;
    relay.heartbeatIn -= 1;
    if (relay.timers.length > 0) relay.timers = relay.timers.map((timer) => ({ ...timer, left: timer.left - 1 }));
    draft.world.processes.forEach((peeked, index) => {
      const waiting = peeked.sockets.some((socket) => socket.up.length > 0 || socket.down.some((message) => message.due > 0));
      if (!waiting && (!isAlive(peeked) || (peeked.timers.length === 0 && peeked.connectIn <= 0))) return;
      const process = draft.process(index);
      for (const socket of process.sockets) {
        if (socket.up.length > 0) socket.up = socket.up.map((message) => ({ ...message, due: message.due - 1 }));
        if (socket.down.length > 0) socket.down = socket.down.map((message) => (message.due > 0 ? { ...message, due: message.due - 1 } : message));
      }
      if (!isAlive(process)) return;
      process.timers = process.timers.map((timer) => ({ ...timer, left: timer.left - 1 }));
      if (process.connectIn > 0) process.connectIn -= 1;
    });
  }

  /**
   * A frozen process wakes (sim/nodeHost.ts `unfreeze`): every overdue timer fires first, in due
   * order (ties in the order they were set), then it answers a relay ping that waited. What
   * arrived meanwhile is read by later steps, in order.
   */
  private thaw(draft: Draft, report: StepReport, index: number): void {
    draft.process(index).frozen = false;
    for (;;) {
      const process = draft.process(index);
      if (process.status !== 'running') return;
      let next = -1;
      process.timers.forEach((timer, at) => {
        if (timer.left <= 0 && (next === -1 || timer.left < process.timers[next]!.left)) next = at;
      });
      if (next === -1) break;
      const timer = process.timers[next]!;
      process.timers = process.timers.filter((_, at) => at !== next);
      this.host.feedNode(draft, report, index, timer.event, { instantPong: false });
    }
    for (const socket of draft.process(index).sockets) {
      if (!socket.pinged) continue;
      socket.pinged = false;
      if (socket.relay === 'member' && socket.nodeOpen && !socket.cut) socket.alive = true;
    }
  }

  // ---- faults --------------------------------------------------------------------------------

  private faults(world: World): FaultStep[] {
    const { config } = this.model;
    const kinds = new Set(config.faultKinds);
    const steps: FaultStep[] = [];
    const alive = world.processes.filter(isAlive).length;
    world.processes.forEach((process, index) => {
      if (!isAlive(process)) return;
      // As in the simulator, the last live process is never crashed or made to leave.
      if (kinds.has('crash') && alive > 1) steps.push({ kind: 'crash', process: index });
      if (!isRunning(process)) return;
      if (kinds.has('freeze')) steps.push({ kind: 'freeze', process: index });
      const socket = currentSocket(process);
      if (kinds.has('cut') && socket !== null && socket.relay === 'member' && !socket.cut) steps.push({ kind: 'cut', process: index });
      const { value, context } = this.model.nodes.snapshot(process.machine);
      if (kinds.has('leave') && alive > 1 && !context.leaving) steps.push({ kind: 'leave', process: index });
      // The controls, where they would do something: a connected process, the leader.
      const state = stateName(value);
      if (kinds.has('election') && state.startsWith('online.') && !context.leaving) steps.push({ kind: 'election', process: index });
      if (kinds.has('resign') && state === 'online.leader') steps.push({ kind: 'resign', process: index });
    });
    if (kinds.has('join') && world.processes.length < config.ranks.length) steps.push({ kind: 'join' });
    if (kinds.has('restart')) steps.push({ kind: 'restart' });
    return steps;
  }

  private inject(draft: Draft, report: StepReport, step: FaultStep): void {
    const { host } = this;
    switch (step.kind) {
      case 'crash': {
        const process = draft.process(step.process);
        host.closeLink(process);
        crash(process);
        return;
      }
      case 'freeze':
        draft.process(step.process).frozen = true;
        return;
      case 'cut': {
        const socket = currentSocket(draft.process(step.process))!;
        socket.cut = true;
        socket.up = [];
        socket.down = [];
        return;
      }
      case 'leave':
      case 'resign':
        host.feedNode(draft, report, step.process, { type: step.kind }, { instantPong: true });
        return;
      case 'election':
        host.feedNode(draft, report, step.process, { type: 'startElection' }, { instantPong: true });
        return;
      case 'join': {
        const index = draft.add(startProcess(this.model, this.model.config.ranks[draft.world.processes.length]!, -1));
        host.connect(draft, report, index);
        return;
      }
      case 'restart':
        this.restartRelay(draft);
        return;
    }
  }

  /**
   * The relay process restarts (with no downtime): a fresh relay machine and heartbeat; every
   * socket it held is closed and what was in flight on it is lost; the node sees the close.
   * Upgrades still on their way reach the new relay.
   */
  private restartRelay(draft: Draft): void {
    const relay = this.model.relay.initial();
    draft.world.relay = { machine: relay.state, timers: [], heartbeatIn: this.model.ticks.relayHeartbeat };
    draft.world.processes.forEach((peeked, index) => {
      if (!peeked.sockets.some((socket) => socket.relay === 'member')) return;
      const process = draft.process(index);
      for (const socket of process.sockets) {
        if (socket.relay !== 'member') continue;
        socket.relay = 'closed';
        socket.up = [];
        socket.down = isAlive(process) && socket.nodeOpen && !socket.cut ? [{ kind: 'closed', due: this.model.config.linkDelayTicks }] : [];
      }
    });
  }
}

function crash(process: Process): void {
  process.status = 'dead';
  process.machine = -1;
  process.frozen = false;
  process.timers = [];
  process.connectIn = -1;
  for (const socket of process.sockets) socket.down = [];
}

function isFinished(socket: Process['sockets'][number]): boolean {
  return !socket.nodeOpen && socket.relay !== 'member' && socket.up.length === 0 && socket.down.length === 0;
}

/** The same step, as text: for traces, and for matching a stored step on replay. */
export function stepKey(step: Step): string {
  return JSON.stringify(step);
}
