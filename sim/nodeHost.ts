/**
 * A simulated node process: the real node machine on its own clock, with a simulated relay
 * connection that does what node/relayConnection.ts does. It reports `relay.connecting`, the
 * relay's frames, pongs and closes; it carries out `send`, `ping`, `drop` and `close`; it answers
 * the relay's pings the way `ws` does (only while the process runs); and it reconnects with the
 * backoff and resume rules of node/ (node/reconnect.ts, node/backoff.ts).
 *
 * A frozen process neither runs timers nor reads its socket: what arrives waits in a backlog, and
 * on unfreeze its overdue timers fire first, then the backlog is read in order, as in Node's event
 * loop after SIGCONT. A silent member (`silent`) joins and reads but never sends a frame: a
 * `websocat` session, or a process whose election code hangs.
 */
import { createActor } from 'xstate';
import { nodeMachine, type NodeActor, type NodeEmitted, type NodeEvent, type NodeTiming, type RelayCommand } from '../machines/nodeMachine.js';
import { encodeFrame, parseClientFrame, type ClientFrame, type ClientId, type ServerFrame } from '../machines/protocol.js';
import { DEFAULT_BACKOFF } from '../node/backoff.js';
import { joinBatch } from '../node/joinBatch.js';
import { ReconnectState } from '../node/reconnect.js';
import { connectionSlot } from '../node/sharedMachine.js';
import type { Network, Socket } from './network.js';
import { ProcessClock } from './nodeClock.js';
import type { NodeSnapshot } from './properties.js';
import type { RelaySide, SimRelay } from './relayHost.js';
import type { Rng } from './rng.js';
import type { Scheduler } from './scheduler.js';

/** The node's end of one socket. */
interface Link {
  readonly socket: Socket;
  /** The relay's end, once the upgrade reached a running relay. */
  side: RelaySide | null;
  /** Closed on this side (the node saw it close, or closed it). */
  closed: boolean;
}

/** What a node process needs from the rest of the simulation. */
export interface NodeWorld {
  readonly scheduler: Scheduler;
  readonly network: Network;
  readonly rng: Rng;
  readonly timing: NodeTiming;
  relay(): SimRelay | null;
  /** A new socket's serial; relay-side events about it reach this process. */
  openSocket(node: SimNode): number;
  observe(node: SimNode, snapshot: NodeSnapshot): void;
  emitted(node: SimNode, event: NodeEmitted): void;
  sent(node: SimNode, frame: ClientFrame): void;
  /** An election frame left (+1) or reached or was lost (-1): agreement waits for none in flight. */
  electionInFlight(change: 1 | -1): void;
  broken(message: string): void;
  trace(line: string): void;
}

/** Every simulated node runs the same provided machine, each with its own connection (node/sharedMachine.ts). */
const relaySlot = connectionSlot<RelayCommand>();
const simulatedMachine = nodeMachine.provide({ actors: { relayConnection: relaySlot.logic } });

export class SimNode {
  alive = true;
  frozen = false;
  freezeSerial = 0;
  readonly actor: NodeActor | null;
  readonly clock: ProcessClock;
  snapshot: NodeSnapshot | null = null;
  /** The id the relay gave this process last (silent members have no machine to keep it). */
  lastId: ClientId | null = null;
  private link: Link | null = null;
  private readonly reconnect = new ReconnectState();
  private backlog: Array<() => void> = [];
  private sendBack: ((event: NodeEvent) => void) | null = null;
  /**
   * Everything the connection tells the machine goes through here, so that the `ring {joined}`
   * frames of one read (one step of the down link, sim/network.ts) reach it as one `ring.joined`
   * event, exactly as node/relayConnection.ts hands over what one socket read brought.
   */
  private readonly toMachine = joinBatch(
    (event) => this.sendBack?.(event),
    (flush) => this.world.scheduler.atEndOfStep(flush),
  );
  /** Told to leave for good: no more reconnects. */
  private closing = false;

  constructor(
    readonly index: number,
    readonly rank: number,
    seed: number,
    rate: number,
    readonly silent: boolean,
    private readonly world: NodeWorld,
  ) {
    const { scheduler } = world;
    this.clock = new ProcessClock(scheduler, rate, (at) => scheduler.at(at, () => this.whenRunning(() => undefined)));
    if (silent) {
      this.actor = null;
      return;
    }
    const actor = createActor(simulatedMachine, {
      input: { rank, seed, timing: world.timing },
      clock: this.clock,
    });
    relaySlot.bind(actor, ({ sendBack, receive }) => {
      this.sendBack = sendBack as (event: NodeEvent) => void;
      receive((command) => this.carryOut(command));
      return () => {
        this.sendBack = null;
      };
    });
    this.actor = actor;
    actor.subscribe({
      next: (snapshot) => {
        this.snapshot = snapshot;
        if (this.alive) world.observe(this, snapshot);
      },
      error: (error) => world.broken(`node #${index} threw: ${String(error)}`),
    });
    actor.on('*', (event) => world.emitted(this, event as NodeEmitted));
  }

  get id(): ClientId | null {
    return this.snapshot?.context.id ?? this.lastId;
  }

  /** Whether the relay currently holds an open socket of this process. */
  get member(): boolean {
    return this.link?.side?.open === true;
  }

  start(): void {
    this.actor?.start();
    if (this.actor) this.snapshot = this.actor.getSnapshot();
    this.connect();
  }

  /** Runs work in the process: at once when it runs, from its backlog when it is frozen. */
  whenRunning(work: () => void): void {
    if (!this.alive) return;
    if (this.frozen) {
      this.backlog.push(work);
      return;
    }
    this.clock.sync();
    work();
  }

  // ---- process faults ----

  crash(): void {
    this.world.trace(`crash #${this.index} (${this.id})`);
    this.alive = false;
    this.frozen = false;
    this.backlog = [];
    this.actor?.stop();
    this.closeLink();
  }

  freeze(): void {
    this.frozen = true;
    this.freezeSerial += 1;
  }

  unfreeze(): void {
    this.world.trace(`unfreeze #${this.index} (${this.id}), backlog ${this.backlog.length}`);
    this.frozen = false;
    this.freezeSerial += 1;
    // As in Node's event loop after SIGCONT: overdue timers first, then what the socket holds.
    this.clock.sync();
    const backlog = this.backlog;
    this.backlog = [];
    for (const work of backlog) {
      if (!this.alive || this.frozen) return;
      work();
    }
  }

  /** Sends the machine an event as if from outside (resign, startElection, leave). */
  control(event: Extract<NodeEvent, { type: 'resign' | 'startElection' | 'leave' }>): void {
    this.whenRunning(() => this.actor?.send(event));
  }

  // ---- network faults ----

  /** A network blip: this side sees the socket close at once; the relay only at its next heartbeat. */
  blip(): void {
    const link = this.link;
    if (link === null || link.closed) return;
    link.socket.up.cut();
    link.socket.down.cut();
    this.world.scheduler.after(this.world.network.linkDelay(), () => this.whenRunning(() => this.seesClose(link)));
  }

  /**
   * The path dies and TCP gives up on the socket: from now on nothing crosses it either way (what
   * is on its way is lost), and each end finds the socket broken on its own, the node after
   * `nodeNoticesMs`, the relay after `relayNoticesMs` (it then takes the member out of the ring,
   * as for any close). The relay's heartbeat, or the node's lease, may find out first.
   */
  breakLink(nodeNoticesMs: number, relayNoticesMs: number): void {
    const link = this.link;
    if (link === null || link.closed) return;
    this.world.trace(`the socket of #${this.index} (${this.id}) breaks: the node notices in ${nodeNoticesMs} ms, the relay in ${relayNoticesMs} ms`);
    link.socket.up.cut();
    link.socket.down.cut();
    const { scheduler } = this.world;
    scheduler.after(nodeNoticesMs, () => this.whenRunning(() => this.seesClose(link)));
    scheduler.after(relayNoticesMs, () => {
      if (link.side !== null) this.world.relay()?.drop(link.side, 'broken');
    });
  }

  /** The links of the current socket, for stall and delay faults. */
  get socket(): Socket | null {
    return this.link?.socket ?? null;
  }

  // ---- the connection ----

  private connect(): void {
    const { network } = this.world;
    const socket: Socket = { serial: this.world.openSocket(this), up: network.link(), down: network.link() };
    const link: Link = { socket, side: null, closed: false };
    this.link = link;
    this.toMachine.send({ type: 'relay.connecting' });
    const resume = this.reconnect.resumeId;
    socket.up.send(() => {
      const relay = this.world.relay();
      const side = relay?.connect(socket, resume) ?? null;
      if (side === null) {
        // Refused, or nobody listening: the node hears of it one link delay later.
        this.world.scheduler.after(network.linkDelay(), () => this.whenRunning(() => this.seesClose(link)));
        return;
      }
      link.side = side;
      this.world.trace(`relay: #${this.index} joins as ${side.id}${resume !== null ? ` (asked for ${resume})` : ''}`);
    });
  }

  /** A frame from the relay reaches the process. */
  receive(side: RelaySide, frame: ServerFrame): void {
    if (frame.type === 'election') this.world.electionInFlight(-1);
    this.whenRunning(() => {
      if (this.link?.side !== side || this.link.closed) return;
      if (frame.type === 'welcome') {
        this.reconnect.welcomed(frame);
        this.lastId = frame.clientId;
      }
      this.toMachine.frame(frame);
    });
  }

  /** The relay's ping reaches the process: `ws` answers it, if the process runs. */
  pinged(side: RelaySide): void {
    this.whenRunning(() => {
      if (this.link?.side !== side || this.link.closed) return;
      side.socket.up.send(() => this.world.relay()?.pong(side));
    });
  }

  /** The relay closed this socket; the close reaches the process over the down link. */
  closedByRelay(side: RelaySide): void {
    const link = this.link;
    if (link === null || link.side !== side) return;
    side.socket.down.send(() => this.whenRunning(() => this.seesClose(link)));
  }

  /** The relay process died: the node sees its socket close one link delay later. */
  relayDied(side: RelaySide): void {
    const link = this.link;
    if (link === null || link.side !== side) return;
    this.world.scheduler.after(this.world.network.linkDelay(), () => this.whenRunning(() => this.seesClose(link)));
  }

  private seesClose(link: Link): void {
    if (this.link !== link || link.closed) return;
    link.closed = true;
    this.link = null;
    this.world.trace(`#${this.index} (${this.id}) sees its socket close`);
    this.toMachine.send({ type: 'relay.closed' });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing || this.silent) return;
    const delay = this.reconnect.nextDelay(DEFAULT_BACKOFF, this.world.rng.next());
    this.world.scheduler.after(delay, () => this.whenRunning(() => this.link === null && this.connect()));
  }

  /** Closes this side of the socket; the relay hears of it after the up link's delay (TCP's FIN follows the data). */
  private closeLink(): void {
    const link = this.link;
    this.link = null;
    if (link === null || link.closed) return;
    link.closed = true;
    link.socket.up.send(() => {
      if (link.side !== null) this.world.relay()?.nodeClosed(link.side);
    });
  }

  private carryOut(command: RelayCommand): void {
    switch (command.type) {
      case 'send':
        this.send(command.frame);
        return;
      case 'ping': {
        const link = this.link;
        const side = link?.side;
        if (link === null || link.closed || side === null || side === undefined) return;
        const { seq } = command;
        // The relay's `ws` answers at once, if the relay runs and still holds this socket.
        link.socket.up.send(() => {
          if (!side.open) return;
          link.socket.down.send(() => this.whenRunning(() => this.link === link && this.toMachine.send({ type: 'relay.pong', seq })));
        });
        return;
      }
      case 'drop':
        this.world.trace(`#${this.index} (${this.id}) drops its link: the lease ran out`);
        this.closeLink();
        this.scheduleReconnect();
        return;
      case 'close':
        this.closing = true;
        this.closeLink();
        return;
    }
  }

  private send(frame: ClientFrame): void {
    this.world.sent(this, frame);
    // On the wire and back, once: the relay host takes this parse as its own (sim/relayHost.ts).
    const text = encodeFrame(frame);
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      this.world.broken(`node #${this.index} sent a frame the protocol rejects (${parsed.code}: ${parsed.detail})`);
      return;
    }
    const link = this.link;
    if (link === null || link.closed) return;
    const election = frame.type === 'election';
    if (election) this.world.electionInFlight(1);
    const gone = election ? () => this.world.electionInFlight(-1) : undefined;
    link.socket.up.send(() => {
      const relay = this.world.relay();
      if (link.side !== null && relay !== null) relay.receive(link.side, text, parsed.frame);
      gone?.();
    }, gone);
  }
}
