/**
 * What the hosts do with what the machines decide, the way sim/nodeHost.ts and sim/relayHost.ts
 * do it: carry frames over links, carry out `send`/`ping`/`drop`/`close`, admit connections,
 * deliver what the relay emits, run the relay's heartbeat, notice closes. Every function changes
 * the (already copied) world it is given.
 *
 * Where the model is coarser than the simulator, and why (docs/ALGORITHM.md has the list):
 * - The node's ping round trip is instantaneous: the pong is fed back in the step that sent the
 *   ping, when the socket works (the relay holds it, it is not cut). This can only make a lease
 *   last longer, never shorter, so it hides no lease violation; it removes two link deliveries
 *   per node per heartbeat from the interleavings. A process thawing is the exception: its
 *   overdue timers must all fire before it reads anything, so its pongs wait on the down link.
 * - The relay's ping is answered when it is sent by a running process, and on thaw by a frozen
 *   one (sim: `ws` answers pings only while the process runs).
 */
import type { AnyEventObject } from 'xstate';
import { ANSWERED_AT_JOIN, judgeHeartbeat } from '../machines/liveness.js';
import type { RelayCommand } from '../machines/nodeMachine.js';
import { encodeFrame, parseClientFrame, parseFrame, type ClientFrame, type OutgoingFrame, type ServerFrame, wireFrame } from '../machines/protocol.js';
import type { RelayEmitted } from '../machines/relayMachine.js';
import { shiftForwardEvent, shiftForwardId, shiftLeaseEvent, shiftLeaseId, shiftStaleNonce } from './actors.js';
import { canonicalJson } from './canonicalJson.js';
import { applyTimerOps, type ElectionCompleted, type Model } from './model.js';
import { currentSocket, isAlive, memberSocket, type Draft, type Message, type Process } from './world.js';

/** What one step did that the properties judge: completed elections, and anything "nothing lost" forbids. */
export interface StepReport {
  completions: Array<{ process: number; id: string | null; members: string[]; event: ElectionCompleted }>;
  problems: string[];
  /** Nodes that refused the relay's `welcome.timing` (machines/timing.ts): their configuration is unsafe. */
  timingRefusals: Array<{ process: number; detail: string }>;
}

export function emptyReport(): StepReport {
  return { completions: [], problems: [], timingRefusals: [] };
}

interface FeedOptions {
  /** The process whose nonce the event's frame carries. */
  owner?: number;
  /** Feed pongs back at once (false while a process thaws). */
  instantPong: boolean;
}

/** Frames already found to survive encode/parse (a failing one is never added, so it is reported every time). */
const wireChecked = new WeakSet<object>();

export class Host {
  constructor(readonly model: Model) {}

  // ---- nodes ---------------------------------------------------------------------------------

  /** One event into process `index`'s machine, and everything the host does with the outcome. */
  feedNode(draft: Draft, report: StepReport, index: number, event: AnyEventObject, options: FeedOptions): void {
    const process = draft.process(index);
    const outcome = this.model.nodes.step(process.machine, event);
    if (outcome.error !== null) {
      report.problems.push(`process #${index}: ${outcome.error} (event ${JSON.stringify(event)})`);
      return;
    }
    process.machine = outcome.state;
    if (outcome.seqShift !== 0) shiftSeqs(process, outcome.seqShift);
    if (outcome.nonceShift !== 0) this.shiftNonces(draft, index, outcome.nonceShift);
    process.timers = applyTimerOps(process.timers, outcome.timerOps);
    for (const emitted of outcome.emitted) {
      if (emitted.type === 'timingRefused') report.timingRefusals.push({ process: index, detail: emitted.detail });
      if (emitted.type !== 'electionCompleted') continue;
      const { context } = this.model.nodes.snapshot(outcome.state);
      report.completions.push({ process: index, id: context.id, members: [...context.members], event: emitted });
    }
    const pongs: number[] = [];
    for (const command of outcome.commands) this.carryOut(draft, report, index, command, options, pongs);
    if (outcome.done) {
      // The machine reached `left`: the process exits (its `close` already went out).
      process.status = 'gone';
      process.machine = -1;
      process.timers = [];
      process.connectIn = -1;
      return;
    }
    for (const seq of pongs) this.feedNode(draft, report, index, { type: 'relay.pong', seq }, options);
  }

  private carryOut(draft: Draft, report: StepReport, index: number, command: RelayCommand, options: FeedOptions, pongs: number[]): void {
    const process = draft.process(index);
    switch (command.type) {
      case 'send': {
        this.checkSent(report, index, command.frame);
        const socket = currentSocket(process);
        if (socket === null || socket.cut) return;
        const owner = command.frame.type === 'checkLeader' ? index : command.frame.type === 'answerLeader' ? options.owner : undefined;
        socket.up.push(owner === undefined ? { kind: 'frame', frame: command.frame, due: this.delay } : { kind: 'frame', frame: command.frame, due: this.delay, owner });
        return;
      }
      case 'ping': {
        const socket = currentSocket(process);
        // The relay's `ws` answers only while it holds the socket; a cut socket carries nothing.
        if (socket === null || socket.cut || socket.relay !== 'member') return;
        if (options.instantPong) pongs.push(command.seq);
        else socket.down.push({ kind: 'pong', seq: command.seq, due: this.delay });
        return;
      }
      case 'drop':
        this.closeLink(process);
        this.scheduleReconnect(process);
        return;
      case 'close':
        process.closing = true;
        this.closeLink(process);
        return;
    }
  }

  /** Every frame a node sends must survive the wire unchanged (sim/nodeHost.ts does the same). */
  private checkSent(report: StepReport, index: number, frame: ClientFrame): void {
    // Memoised machine outcomes hand out the same frame objects again: each is checked once.
    if (wireChecked.has(frame)) return;
    const parsed = parseClientFrame(encodeFrame(frame));
    if (!parsed.ok) report.problems.push(`process #${index} sent a frame the protocol rejects (${parsed.code}: ${parsed.detail}): ${JSON.stringify(frame)}`);
    else if (canonicalJson(parsed.frame) !== canonicalJson(frame)) report.problems.push(`process #${index} sent a frame that does not survive encode/parse: ${JSON.stringify(frame)}`);
    else wireChecked.add(frame);
  }

  /** The node closes its side (a process the draft owns): it reads the socket no more, and its FIN follows what it sent. */
  closeLink(process: Process): void {
    const socket = currentSocket(process);
    if (socket === null) return;
    socket.nodeOpen = false;
    socket.down = [];
    if (!socket.cut) socket.up.push({ kind: 'fin', due: this.delay });
  }

  private scheduleReconnect(process: Process): void {
    if (!process.closing && process.status === 'running') process.connectIn = this.model.config.reconnectTicks;
  }

  /** A new socket: the machine hears `relay.connecting`, the upgrade sets out (sim/nodeHost.ts `connect`). */
  connect(draft: Draft, report: StepReport, index: number): void {
    const process = draft.process(index);
    process.connectIn = -1;
    process.sockets.push({
      up: [{ kind: 'upgrade', resume: process.resume, due: this.delay }],
      down: [],
      nodeOpen: true,
      relay: 'pending',
      id: null,
      alive: ANSWERED_AT_JOIN,
      pinged: false,
      cut: false,
    });
    this.feedNode(draft, report, index, { type: 'relay.connecting' }, { instantPong: true });
  }

  /** The head of socket `at`'s down link reaches the (running) process `index`. */
  receive(draft: Draft, report: StepReport, index: number, at: number): void {
    const process = draft.process(index);
    const socket = process.sockets[at]!;
    const message = socket.down.shift()!;
    switch (message.kind) {
      case 'frame': {
        if (message.frame.type === 'welcome') process.resume = message.frame.clientId;
        const options = message.owner === undefined ? { instantPong: true } : { instantPong: true, owner: message.owner };
        this.feedNode(draft, report, index, message.frame as AnyEventObject, options);
        return;
      }
      case 'pong':
        this.feedNode(draft, report, index, { type: 'relay.pong', seq: message.seq }, { instantPong: true });
        return;
      case 'closed':
        socket.nodeOpen = false;
        socket.down = [];
        this.feedNode(draft, report, index, { type: 'relay.closed' }, { instantPong: true });
        this.scheduleReconnect(draft.process(index));
        return;
      default:
        report.problems.push(`process #${index} received a ${message.kind} on its down link`);
    }
  }

  // ---- the relay -----------------------------------------------------------------------------

  /** One event into the relay machine; `admitting` is the socket whose upgrade this is. */
  feedRelay(draft: Draft, report: StepReport, event: AnyEventObject, owner?: number, admitting?: { process: number; socket: number }): void {
    const { relay } = draft.world;
    const outcome = this.model.relay.step(relay.machine, event);
    if (outcome.error !== null) {
      report.problems.push(`${outcome.error} (event ${JSON.stringify(event)})`);
      return;
    }
    relay.machine = outcome.state;
    if (outcome.serialShift !== 0) {
      relay.timers = relay.timers.map((timer) => ({
        ...timer,
        id: shiftForwardId(timer.id, outcome.serialShift),
        event: shiftForwardEvent(timer.event, outcome.serialShift),
      }));
    }
    relay.timers = applyTimerOps(relay.timers, outcome.timerOps);
    for (const emitted of outcome.emitted) this.carryOutRelay(draft, report, emitted, owner, admitting);
  }

  private carryOutRelay(draft: Draft, report: StepReport, emitted: RelayEmitted, owner: number | undefined, admitting: { process: number; socket: number } | undefined): void {
    switch (emitted.type) {
      case 'admitted': {
        if (admitting === undefined) return;
        const socket = draft.process(admitting.process).sockets[admitting.socket]!;
        socket.relay = 'member';
        socket.id = emitted.id;
        socket.alive = true;
        return;
      }
      case 'refused': {
        if (admitting === undefined) return;
        const socket = draft.process(admitting.process).sockets[admitting.socket]!;
        socket.relay = 'closed';
        if (socket.nodeOpen && !socket.cut) socket.down.push({ kind: 'closed', due: this.delay });
        return;
      }
      case 'deliver':
        this.deliver(draft, report, emitted.to, emitted.frame, owner);
        return;
      case 'rejected':
        // Well-behaved nodes never send what the relay must refuse (sim/relayHost.ts); a stale target is the one exception.
        if (emitted.code !== 'unknown_target') report.problems.push(`the relay rejected a frame of ${emitted.to}: ${emitted.code}: ${emitted.detail}`);
        this.deliver(draft, report, [emitted.to], { type: 'error', code: emitted.code, detail: emitted.detail }, undefined);
        return;
      default:
        return;
    }
  }

  private deliver(draft: Draft, report: StepReport, to: Iterable<string>, sent: OutgoingFrame, owner: number | undefined): void {
    const parsed = wireChecked.has(sent) ? null : parseFrame(encodeFrame(sent));
    if (parsed?.ok) wireChecked.add(sent);
    if (parsed !== null && !parsed.ok) report.problems.push(`the relay produced a frame the protocol rejects (${parsed.code}: ${parsed.detail}): ${JSON.stringify(sent)}`);
    // What the members read: a welcome's member list as the array it is on the wire.
    const frame = wireFrame(sent);
    for (const id of to) {
      const member = memberSocket(draft.world, id);
      if (member === null) {
        report.problems.push(`the relay machine delivered to ${id}, which has no socket`);
        continue;
      }
      const peeked = draft.peek(member.process);
      const target = peeked.sockets[member.socket]!;
      if (!isAlive(peeked) || !target.nodeOpen || target.cut) continue;
      const message: Message = owner === undefined ? { kind: 'frame', frame, due: this.delay } : { kind: 'frame', frame, due: this.delay, owner };
      draft.process(member.process).sockets[member.socket]!.down.push(message);
    }
  }

  /** The head of socket `at`'s up link (of process `index`) reaches the relay. */
  arrive(draft: Draft, report: StepReport, index: number, at: number): void {
    const socket = draft.process(index).sockets[at]!;
    const message = socket.up.shift()!;
    switch (message.kind) {
      case 'upgrade':
        this.feedRelay(draft, report, { type: 'connect', connection: 0, resume: message.resume, host: null }, undefined, { process: index, socket: at });
        return;
      case 'frame':
        // A frame on a socket the relay no longer holds is dropped (the relay machine would too).
        if (socket.relay === 'member') this.feedRelay(draft, report, { type: 'frame', from: socket.id, frame: message.frame }, message.owner);
        return;
      case 'fin':
        if (socket.relay === 'member') {
          socket.relay = 'closed';
          this.feedRelay(draft, report, { type: 'disconnect', id: socket.id });
        }
        return;
      default:
        report.problems.push(`the relay received a ${message.kind} on an up link`);
    }
  }

  /**
   * The relay's heartbeat (sim/relayHost.ts): a member that did not answer the previous ping is
   * dropped (the ring hears `left`, the node sees the close after what is already on its way);
   * the others are pinged. Members are visited in process order.
   */
  heartbeat(draft: Draft, report: StepReport): void {
    draft.world.relay.heartbeatIn = this.model.ticks.relayHeartbeat;
    for (let index = 0; index < draft.world.processes.length; index += 1) {
      if (!draft.peek(index).sockets.some((socket) => socket.relay === 'member')) continue;
      const process = draft.process(index);
      for (const socket of process.sockets) {
        if (socket.relay !== 'member') continue;
        const reachable = isAlive(process) && socket.nodeOpen && !socket.cut;
        if (judgeHeartbeat(socket.alive).kind === 'drop') {
          socket.relay = 'closed';
          this.feedRelay(draft, report, { type: 'disconnect', id: socket.id });
          if (reachable) socket.down.push({ kind: 'closed', due: this.delay });
          continue;
        }
        // Pinged (judgeHeartbeat): a running process answers before time moves on, a frozen one on thaw.
        socket.alive = reachable && !process.frozen;
        socket.pinged = reachable && process.frozen;
      }
    }
  }

  // ---- counters ------------------------------------------------------------------------------

  private get delay(): number {
    return this.model.config.linkDelayTicks;
  }

  /** Process `index`'s nonce counter was rebased: so are the nonces it owns in flight, wherever they are. */
  private shiftNonces(draft: Draft, index: number, shift: number): void {
    const owns = (message: Message) => message.kind === 'frame' && message.owner === index;
    const shiftLink = (link: Message[]) =>
      link.map((message) =>
        message.kind === 'frame' && message.owner === index && 'nonce' in message.frame
          ? { ...message, frame: { ...message.frame, nonce: shiftStaleNonce(message.frame.nonce, shift) } as ClientFrame }
          : message,
      );
    draft.world.processes.forEach((peeked, at) => {
      if (!peeked.sockets.some((socket) => socket.up.some(owns) || socket.down.some(owns))) return;
      for (const socket of draft.process(at).sockets) {
        socket.up = shiftLink(socket.up);
        socket.down = shiftLink(socket.down);
      }
    });
  }
}

/** A process's ping counter was rebased: so are its lease timers and the pongs on their way to it. */
function shiftSeqs(process: Process, shift: number): void {
  process.timers = process.timers.map((timer) =>
    timer.id.startsWith('lease:') ? { ...timer, id: shiftLeaseId(timer.id, shift), event: shiftLeaseEvent(timer.event, shift) } : timer,
  );
  for (const socket of process.sockets) {
    if (socket.down.some((message) => message.kind === 'pong')) {
      socket.down = socket.down.map((message) => (message.kind === 'pong' ? { ...message, seq: message.seq - shift } : message));
    }
  }
}
