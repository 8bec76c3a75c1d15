/**
 * The deterministic simulator: the real node and relay statecharts, a simulated relay host and
 * simulated sockets, on virtual time. One seed drives everything (join order, ranks, link delays,
 * fault times and victims, every node's jitter), so a seed replays a run exactly.
 *
 * Model (docs/ALGORITHM.md has the long form):
 * - Each socket is a pair of FIFO links (node -> relay, relay -> node) with random delays.
 * - The relay host runs `relayMachine`, assigns ids with `nextClientId` (honouring `?resume=`),
 *   and carries out its `deliver` events. Every frame is encoded and parsed on the way, as on
 *   the wire.
 * - Each node runs `nodeMachine` with a simulated `relayConnection` and its own SimulatedClock.
 *   A frozen node neither runs timers nor reads its socket: what arrives waits in a backlog,
 *   and on unfreeze its overdue timers fire, then the backlog is read in order.
 * - Faults: see sim/faults.ts.
 *
 * A run has phases: startup (everyone joins; agreement within a budget), then either sequential
 * leader crashes (each failover measured alone) or a fault window with mixed faults, then a
 * healed phase (liveness within a budget, then agreement and stability over a settle period).
 * The properties (sim/properties.ts) are checked after every event.
 */
import { createActor, fromCallback } from 'xstate';
import { DEFAULT_TIMING, electionTimeoutFor, nodeMachine, type NodeActor, type NodeTiming, type RelayCommand } from '../machines/nodeMachine.js';
import { encodeFrame, parseClientFrame, parseFrame, type ClientFrame, type ClientId, type LeaderInfo, type ServerFrame } from '../machines/protocol.js';
import { nextClientId, relayMachine, type RelayActor } from '../machines/relayMachine.js';
import { FAULT_KINDS, isSequentialFailover, type FaultKind } from './faults.js';
import { NodeClock } from './nodeClock.js';
import { PropertyChecker, roleOf, type NodeSnapshot, type Violation } from './properties.js';
import { Rng } from './rng.js';
import { Scheduler } from './scheduler.js';

export interface SimulationOptions {
  seed: number;
  /** Processes at the start. */
  nodes: number;
  /** Kinds of fault to draw from; none, or only `crash-leader` (sequential failovers), or a mix. */
  faults?: readonly FaultKind[];
  /** How many faults (or failovers) to inject. Default: 3 failovers, or 8 mixed faults. */
  faultCount?: number;
  /** Length of the fault window for mixed faults (virtual ms). */
  faultWindowMs?: number;
  timing?: Partial<NodeTiming>;
  /** One-way delay of every link, uniform in [min, max] virtual ms (FIFO per link). */
  linkDelayMs?: { min: number; max: number };
  /** Ranks are drawn from [0, rankRange); a small range makes ties (broken on id) common. */
  rankRange?: number;
  /** How long agreement must hold once reached in the healed phase (virtual ms). */
  settleMs?: number;
  /** Stop at the first violation (default true). */
  stopOnViolation?: boolean;
  /** Every notable event as one line, for debugging a seed. */
  trace?: (line: string) => void;
}

export interface FailoverRecord {
  crashed: ClientId;
  newLeader: ClientId;
  term: number;
  nodes: number;
  /** Virtual ms from the crash to agreement on the new leader. */
  durationMs: number;
  budgetMs: number;
  /** Election and newLeader frames the relay delivered (one per hop, one per broadcast recipient). */
  electionFrames: number;
  newLeaderFrames: number;
  /** Election and newLeader frames nodes sent to the relay. */
  nodeSent: number;
  /** Every frame the relay delivered during the failover, heartbeat checks and ring frames included. */
  allDeliveries: number;
  /** Real time the simulator spent on this failover (for "simulated failovers per second"). */
  wallMs: number;
}

export interface SimulationSummary {
  seed: number;
  nodes: number;
  faults: FaultKind[];
  ok: boolean;
  violations: Violation[];
  /** The one command that replays this run. */
  reproduce: string;
  elections: { started: number; completed: number };
  /** Frames nodes sent to the relay, by type. */
  framesSent: Record<string, number>;
  /** Frames the relay delivered to nodes, by type (a broadcast counts once per recipient). */
  deliveries: Record<string, number>;
  /** Frames lost to injected faults (in flight when a socket or the relay went away). */
  framesLost: number;
  faultsInjected: Partial<Record<FaultKind, number>>;
  failovers: FailoverRecord[];
  /** Mean of (election + newLeader frames delivered) over the failovers, or null. */
  framesPerFailover: number | null;
  /** Virtual ms to agreement: after the last failover, or after healing, or at startup. */
  timeToAgreementMs: number | null;
  finalLeader: LeaderInfo | null;
  virtualTimeMs: number;
  steps: number;
  wallMs: number;
}

type Phase = 'startup' | 'failover-wait' | 'failover' | 'faults' | 'healing' | 'settle' | 'done';

interface Connection {
  serial: number;
  node: SimNode;
  id: ClientId | null;
  relayEpoch: number;
  atRelay: 'pending' | 'open' | 'closed';
  atNode: 'open' | 'closed';
  /** In-flight frames on a broken socket are lost (relay crash, network blip). */
  broken: boolean;
  upTail: number;
  downTail: number;
}

interface SimNode {
  index: number;
  rank: number;
  alive: boolean;
  frozen: boolean;
  freezeSerial: number;
  actor: NodeActor;
  clock: NodeClock;
  sendBack: ((event: any) => void) | null;
  conn: Connection | null;
  /** The id of the last welcome, asked for again on reconnect (`?resume=`). */
  lastId: ClientId | null;
  attempts: number;
  backlog: Array<() => void>;
  snapshot: NodeSnapshot;
}

const DEFAULT_LINK_DELAY = { min: 1, max: 10 };
/** Reconnect backoff as node/backoff.ts does it: 100 ms doubling to 5 s, equal jitter. */
const RECONNECT_MAX_MS = 5000;

export function runSimulation(options: SimulationOptions): SimulationSummary {
  return new Simulation(options).run();
}

/** The CLI arguments that replay `options` exactly. */
export function reproduceCommand(options: SimulationOptions): string {
  const parts = [`npm run sim -- --seed ${options.seed} --nodes ${options.nodes}`];
  parts.push(`--faults ${options.faults === undefined || options.faults.length === 0 ? 'none' : options.faults.length === FAULT_KINDS.length ? 'mixed' : options.faults.join(',')}`);
  if (options.faultCount !== undefined) parts.push(`--fault-count ${options.faultCount}`);
  if (options.faultWindowMs !== undefined) parts.push(`--fault-window ${options.faultWindowMs}`);
  if (options.linkDelayMs !== undefined) parts.push(`--delay ${options.linkDelayMs.min}-${options.linkDelayMs.max}`);
  if (options.rankRange !== undefined) parts.push(`--rank-range ${options.rankRange}`);
  if (options.settleMs !== undefined) parts.push(`--settle ${options.settleMs}`);
  const timing = options.timing ?? {};
  if (timing.checkIntervalMs !== undefined) parts.push(`--check-interval ${timing.checkIntervalMs}`);
  if (timing.leaderTimeoutMs !== undefined) parts.push(`--leader-timeout ${timing.leaderTimeoutMs}`);
  if (timing.electionTimeoutMs !== undefined) parts.push(`--election-timeout ${timing.electionTimeoutMs}`);
  if (timing.electionHopMs !== undefined) parts.push(`--election-hop ${timing.electionHopMs}`);
  return parts.join(' ');
}

class Simulation {
  private readonly rng: Rng;
  private readonly scheduler = new Scheduler();
  private readonly checker: PropertyChecker;
  private readonly timing: NodeTiming;
  private readonly delay: { min: number; max: number };
  private readonly heartbeatMs: number;
  private readonly kinds: FaultKind[];
  private readonly sequential: boolean;
  private readonly faultCount: number;
  private readonly faultWindowMs: number;
  private readonly settleMs: number;
  private readonly rankRange: number;

  private readonly nodes: SimNode[] = [];
  /** Kept as counts because the properties are checked after every step. */
  private liveCount = 0;
  private frozenCount = 0;
  private relay: RelayActor | null = null;
  private relayEpoch = 0;
  private readonly relayConnections = new Map<ClientId, Connection>();
  private connectionSerial = 0;
  /** Every rank each id has stood for (ids can pass to another process after a relay restart). */
  private readonly idRanks = new Map<ClientId, Set<number>>();

  private phase: Phase = 'startup';
  private phaseDeadline = 0;
  private phaseStartedAt = 0;
  /** Last time a fault other than a join disturbed the ring; the stability window opens a quiet period later. */
  private lastDisturbance = 0;
  private settleUntil = 0;
  private failoverStart: { wallAt: number; at: number; crashed: ClientId; sent: number; deliveries: Record<string, number>; all: number; budget: number; nodes: number } | null = null;
  private failoversLeft = 0;

  private readonly framesSent: Record<string, number> = {};
  private readonly deliveries: Record<string, number> = {};
  private deliveriesTotal = 0;
  private electionFramesSent = 0;
  private framesLost = 0;
  private readonly faultsInjected: Partial<Record<FaultKind, number>> = {};
  private readonly failovers: FailoverRecord[] = [];
  private elections = { started: 0, completed: 0 };
  private timeToAgreementMs: number | null = null;
  private steps = 0;

  constructor(private readonly options: SimulationOptions) {
    this.rng = new Rng(options.seed);
    this.checker = new PropertyChecker(() => this.scheduler.now);
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.delay = options.linkDelayMs ?? DEFAULT_LINK_DELAY;
    this.heartbeatMs = Math.max(25, Math.floor(this.timing.leaderTimeoutMs / 2));
    this.kinds = [...(options.faults ?? [])];
    this.sequential = isSequentialFailover(this.kinds);
    this.faultCount = options.faultCount ?? (this.sequential ? 3 : this.kinds.length > 0 ? 8 : 0);
    this.faultWindowMs = options.faultWindowMs ?? 30_000;
    this.settleMs = options.settleMs ?? 2 * (this.timing.checkIntervalMs + this.timing.leaderTimeoutMs);
    this.rankRange = options.rankRange ?? 1_000_000;
    if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new Error('nodes must be a positive integer');
  }

  run(): SimulationSummary {
    const started = performance.now();
    this.relayUp();
    for (let index = 0; index < this.options.nodes; index += 1) {
      this.scheduler.at(this.rng.int(0, 200), () => this.addNode());
    }
    this.phaseDeadline = 200 + this.healBudget(this.options.nodes);
    this.wakeAt(this.phaseDeadline + 1);
    const stopOnViolation = this.options.stopOnViolation ?? true;
    while (this.phase !== 'done') {
      if (!this.scheduler.step()) {
        this.checker.fail('liveness', 'nothing left to happen (no timers, no frames) before agreement');
        break;
      }
      this.steps += 1;
      this.afterStep();
      if (this.checker.failed && stopOnViolation) break;
    }
    const summary = this.summary(performance.now() - started);
    this.stopAll();
    return summary;
  }

  // ---- budgets -------------------------------------------------------------------------------

  /** One lap of `n` members plus the broadcast, at the slowest link delay (two links per hop). */
  private lapAndBroadcast(n: number): number {
    return (n + 2) * 2 * this.delay.max;
  }

  /**
   * Liveness budget after healing (and at startup): reconnecting (backoff + a heartbeat drop),
   * silent-failure detection (check interval + leader timeout), a backup timer that may have to
   * take over from an initiator that vanished, and one lap plus the broadcast.
   */
  private healBudget(n: number): number {
    const t = this.timing;
    const jitter = 1 + t.jitter;
    return (
      RECONNECT_MAX_MS +
      2 * this.heartbeatMs +
      t.checkIntervalMs * jitter +
      t.leaderTimeoutMs +
      2 * electionTimeoutFor(t, n) * jitter +
      this.lapAndBroadcast(n) +
      this.quietPeriod(n)
    );
  }

  /** How long after a disturbance its late effects (a check sent before it timing out) may still show. */
  private quietPeriod(n: number): number {
    const t = this.timing;
    return t.leaderTimeoutMs + t.checkIntervalMs * (1 + t.jitter) + 4 * this.delay.max + 0 * n;
  }

  /** Detection (the close reaches the relay, `ring{left}` reaches the successor) + one lap + one broadcast. */
  private failoverBudget(n: number): number {
    return 2 * this.delay.max + this.lapAndBroadcast(n);
  }

  // ---- phases --------------------------------------------------------------------------------

  private afterStep(): void {
    const now = this.scheduler.now;
    const live = this.liveCount;
    const agreed = this.checker.agreement(live, this.relay === null ? null : this.relayConnections.size);
    const quiet = now >= this.lastDisturbance + this.quietPeriod(live) && this.frozenCount === 0;
    if (agreed !== null && quiet && this.checker.stableLeader === null && this.phase !== 'healing') {
      this.checker.setStable(agreed);
    }
    switch (this.phase) {
      case 'startup':
        if (agreed !== null && this.nodes.length >= this.options.nodes) {
          this.trace(`agreement at startup on ${agreed.id} term ${agreed.term}`);
          this.timeToAgreementMs = now;
          this.startFaultPhase();
        } else if (now > this.phaseDeadline) {
          this.checker.fail('liveness', `no agreement ${Math.round(this.phaseDeadline)} ms after startup`);
        }
        break;
      case 'failover':
        if (agreed !== null) this.finishFailover(agreed);
        else if (now > this.phaseDeadline) {
          this.checker.fail(
            'liveness',
            `no agreement within ${Math.round(this.failoverStart!.budget)} ms (detection + lap + broadcast) after ${this.failoverStart!.crashed} crashed`,
          );
        }
        break;
      case 'healing':
        if (agreed !== null && now >= this.phaseStartedAt + this.quietPeriod(live)) {
          this.timeToAgreementMs = now - this.phaseStartedAt;
          this.trace(`agreement after healing on ${agreed.id} term ${agreed.term}`);
          this.checker.setStable(agreed);
          this.phase = 'settle';
          this.settleUntil = now + this.settleMs;
          this.wakeAt(this.settleUntil);
        } else if (now > this.phaseDeadline) {
          this.checker.fail('liveness', `no agreement ${Math.round(this.phaseDeadline - this.phaseStartedAt)} ms after the ring healed`);
        }
        break;
      case 'settle':
        if (agreed === null) this.checker.fail('agreement', 'agreement was lost in the healed phase with no fault');
        else if (now >= this.settleUntil) this.phase = 'done';
        break;
      default:
        break;
    }
  }

  private startFaultPhase(): void {
    const now = this.scheduler.now;
    if (this.sequential) {
      this.failoversLeft = this.faultCount;
      this.nextFailover();
      return;
    }
    if (this.faultCount === 0) {
      this.enterSettle();
      return;
    }
    this.phase = 'faults';
    for (let index = 0; index < this.faultCount; index += 1) {
      const kind = this.rng.pick(this.kinds);
      this.scheduler.at(now + this.rng.int(0, this.faultWindowMs), () => this.inject(kind));
    }
    this.scheduler.at(now + this.faultWindowMs + 1, () => this.heal());
  }

  private enterSettle(): void {
    const agreed = this.checker.agreement(this.liveNodes().length, this.relayConnections.size);
    this.checker.setStable(agreed);
    this.phase = 'settle';
    this.settleUntil = this.scheduler.now + this.settleMs;
    this.wakeAt(this.settleUntil);
  }

  private wakeAt(at: number): void {
    this.scheduler.at(at, () => undefined);
  }

  private nextFailover(): void {
    if (this.failoversLeft === 0) {
      this.enterSettle();
      return;
    }
    this.failoversLeft -= 1;
    this.phase = 'failover-wait';
    // Crash at a random moment, so followers are caught at every point of their check cycle.
    this.scheduler.after(this.rng.int(0, 2 * this.timing.checkIntervalMs), () => {
      const leader = this.currentLeader();
      if (leader === null) {
        this.checker.fail('agreement', 'no leader to crash although the ring had agreed');
        return;
      }
      const nodes = this.liveNodes().length - 1;
      const budget = this.failoverBudget(nodes);
      this.failoverStart = {
        wallAt: performance.now(),
        at: this.scheduler.now,
        crashed: leader.snapshot.context.id ?? '?',
        sent: this.electionFramesSent,
        deliveries: { ...this.deliveries },
        all: this.deliveriesTotal,
        budget,
        nodes,
      };
      this.count('crash-leader');
      this.disturb();
      this.crash(leader);
      this.phase = 'failover';
      this.phaseDeadline = this.scheduler.now + budget;
      this.wakeAt(this.phaseDeadline + 1);
    });
  }

  private finishFailover(agreed: LeaderInfo): void {
    const start = this.failoverStart!;
    const delivered = (type: string) => (this.deliveries[type] ?? 0) - (start.deliveries[type] ?? 0);
    const record: FailoverRecord = {
      crashed: start.crashed,
      newLeader: agreed.id,
      term: agreed.term,
      nodes: start.nodes,
      durationMs: this.scheduler.now - start.at,
      budgetMs: start.budget,
      electionFrames: delivered('election'),
      newLeaderFrames: delivered('newLeader'),
      nodeSent: this.electionFramesSent - start.sent,
      allDeliveries: this.deliveriesTotal - start.all,
      wallMs: Math.round(performance.now() - start.wallAt),
    };
    this.failovers.push(record);
    this.timeToAgreementMs = record.durationMs;
    this.trace(`failover done: ${JSON.stringify(record)}`);
    this.checker.setStable(agreed);
    this.nextFailover();
  }

  /** End of the fault window: unfreeze everyone, make sure someone is alive; the relay comes back on its own. */
  private heal(): void {
    this.trace('heal');
    for (const node of this.nodes) if (node.alive && node.frozen) this.unfreeze(node);
    if (this.liveNodes().length === 0) this.addNode();
    const relayBack = () => {
      this.disturb();
      this.phase = 'healing';
      this.phaseStartedAt = this.scheduler.now;
      this.phaseDeadline = this.scheduler.now + this.healBudget(this.liveNodes().length);
      // A quiet ring (one leader alone) schedules nothing; these wake-ups let the phase end on time.
      this.wakeAt(this.phaseStartedAt + this.quietPeriod(this.liveNodes().length));
      this.wakeAt(this.phaseDeadline + 1);
    };
    if (this.relay !== null) relayBack();
    else this.onRelayUp = relayBack;
  }

  private onRelayUp: (() => void) | null = null;

  // ---- faults --------------------------------------------------------------------------------

  private inject(kind: FaultKind): void {
    if (this.phase !== 'faults') return;
    const live = this.liveNodes();
    const running = live.filter((node) => !node.frozen);
    const leader = this.currentLeader();
    const victim = (pool: SimNode[]) => (pool.length === 0 ? null : this.rng.pick(pool));
    this.count(kind);
    if (kind !== 'join') this.disturb();
    this.trace(`fault ${kind}`);
    switch (kind) {
      case 'join':
        this.addNode();
        return;
      case 'crash-leader': {
        const target = leader ?? victim(live);
        if (target && live.length > 1) this.crash(target);
        return;
      }
      case 'crash': {
        const target = victim(live);
        if (target && live.length > 1) this.crash(target);
        return;
      }
      case 'leave': {
        const target = victim(running);
        if (!target || live.length <= 1) return;
        if (roleOf(target.snapshot) === 'leader') {
          this.whenRunning(target, () => target.actor.send({ type: 'resign' }));
          this.scheduler.after(this.rng.int(20, 300), () => target.alive && this.crash(target));
        } else this.crash(target);
        return;
      }
      case 'freeze':
      case 'freeze-leader': {
        const target = kind === 'freeze-leader' ? (leader && !leader.frozen ? leader : null) : victim(running);
        if (target) this.freeze(target, this.rng.int(200, Math.round(2.5 * this.timing.leaderTimeoutMs)));
        return;
      }
      case 'relay-restart':
        if (this.relay !== null) this.restartRelay(this.rng.int(50, 3000));
        return;
      case 'disconnect': {
        const target = victim(running.filter((node) => node.conn?.atRelay === 'open'));
        if (target) this.disconnect(target);
        return;
      }
      case 'resign':
        if (leader && !leader.frozen) this.whenRunning(leader, () => leader.actor.send({ type: 'resign' }));
        return;
      case 'election': {
        const target = victim(running.filter((node) => node.snapshot.value !== 'disconnected'));
        if (target) this.whenRunning(target, () => target.actor.send({ type: 'startElection' }));
        return;
      }
    }
  }

  private count(kind: FaultKind): void {
    this.faultsInjected[kind] = (this.faultsInjected[kind] ?? 0) + 1;
  }

  private disturb(): void {
    this.lastDisturbance = this.scheduler.now;
    this.checker.setStable(null);
  }

  private crash(node: SimNode): void {
    this.trace(`crash #${node.index} (${node.snapshot.context.id})`);
    node.alive = false;
    this.liveCount -= 1;
    if (node.frozen) this.frozenCount -= 1;
    node.frozen = false;
    node.backlog = [];
    this.checker.forget(node.index);
    node.actor.stop();
    const conn = node.conn;
    node.conn = null;
    if (conn === null) return;
    conn.atNode = 'closed';
    // The close travels behind whatever the node had already sent (TCP's FIN).
    this.scheduler.at(this.tail(conn, 'up'), () => {
      if (!conn.broken) this.relayDrops(conn, 'closed');
    });
  }

  private freeze(node: SimNode, durationMs: number): void {
    this.trace(`freeze #${node.index} (${node.snapshot.context.id}) for ${durationMs} ms`);
    node.frozen = true;
    this.frozenCount += 1;
    const serial = ++node.freezeSerial;
    // The relay pings every heartbeat and drops a member that missed a whole interval.
    const dropAt = this.scheduler.now + this.heartbeatMs + this.rng.int(0, this.heartbeatMs);
    this.scheduler.at(dropAt, () => {
      const conn = node.conn;
      if (!node.alive || !node.frozen || node.freezeSerial !== serial || conn === null || conn.atRelay !== 'open') return;
      this.trace(`heartbeat drops frozen #${node.index} (${conn.id})`);
      this.relayDrops(conn, 'heartbeat');
      this.scheduler.at(this.tail(conn, 'down'), () => {
        if (!conn.broken) this.toNode(node, () => this.nodeSeesClose(node, conn));
      });
    });
    this.scheduler.after(durationMs, () => {
      if (node.alive && node.frozen && node.freezeSerial === serial) {
        this.disturb();
        this.unfreeze(node);
      }
    });
  }

  private unfreeze(node: SimNode): void {
    this.trace(`unfreeze #${node.index} (${node.snapshot.context.id}), backlog ${node.backlog.length}`);
    node.frozen = false;
    this.frozenCount -= 1;
    node.freezeSerial += 1;
    // As in Node's event loop after SIGCONT: overdue timers first, then what the socket holds.
    node.clock.set(this.scheduler.now);
    const backlog = node.backlog;
    node.backlog = [];
    for (const item of backlog) {
      if (!node.alive) return;
      item();
    }
  }

  private restartRelay(downMs: number): void {
    this.trace(`relay restarts, down for ${downMs} ms`);
    this.relay?.stop();
    this.relay = null;
    this.relayEpoch += 1;
    for (const conn of this.relayConnections.values()) {
      conn.broken = true;
      conn.atRelay = 'closed';
      this.checker.setCutOff(conn.node.index, true);
      const node = conn.node;
      this.scheduler.after(this.linkDelay(), () => this.toNode(node, () => this.nodeSeesClose(node, conn)));
    }
    this.relayConnections.clear();
    this.scheduler.after(downMs, () => {
      this.relayUp();
      this.disturb();
      const then = this.onRelayUp;
      this.onRelayUp = null;
      then?.();
    });
  }

  private disconnect(node: SimNode): void {
    const conn = node.conn!;
    this.trace(`network blip #${node.index} (${conn.id})`);
    conn.broken = true;
    this.scheduler.after(this.linkDelay(), () => this.toNode(node, () => this.nodeSeesClose(node, conn)));
    // The relay only notices at its next heartbeat, so the node may come back before its old id is free.
    this.scheduler.after(this.rng.int(1, 2 * this.heartbeatMs), () => this.relayDrops(conn, 'heartbeat'));
  }

  // ---- the relay host ------------------------------------------------------------------------

  private relayUp(): void {
    const relay = createActor(relayMachine);
    relay.on('deliver', ({ to, frame }) => this.relayDelivers(to, frame));
    relay.subscribe({ error: (error) => this.checker.fail('nothing-lost', `the relay machine threw: ${String(error)}`) });
    relay.start();
    this.relay = relay;
    this.trace('relay up');
  }

  private relayDelivers(to: readonly ClientId[], frame: ServerFrame): void {
    const parsed = parseFrame(encodeFrame(frame));
    if (!parsed.ok) {
      this.checker.fail('nothing-lost', `the relay produced a frame the protocol rejects (${parsed.code}: ${parsed.detail})`);
      return;
    }
    if (frame.type === 'error' && frame.code !== 'unknown_target') {
      this.checker.fail('nothing-lost', `the relay answered ${to.join(',')} with error ${frame.code}: ${frame.detail}`);
    }
    this.deliveries[frame.type] = (this.deliveries[frame.type] ?? 0) + to.length;
    this.deliveriesTotal += to.length;
    for (const id of to) {
      const conn = this.relayConnections.get(id);
      if (conn === undefined) {
        this.checker.fail('nothing-lost', `the relay machine delivered to ${id}, which has no socket`);
        continue;
      }
      const node = conn.node;
      this.scheduler.at(this.tail(conn, 'down'), () => {
        if (conn.broken || conn.atNode === 'closed' || !node.alive) {
          this.framesLost += 1;
          return;
        }
        this.toNode(node, () => this.nodeReads(node, conn, parsed.frame));
      });
    }
  }

  /** The relay side of a socket closes: the member leaves the ring. */
  private relayDrops(conn: Connection, why: string): void {
    if (conn.id === null || this.relayConnections.get(conn.id) !== conn || this.relay === null) return;
    this.relayConnections.delete(conn.id);
    conn.atRelay = 'closed';
    this.checker.setCutOff(conn.node.index, true);
    this.trace(`relay: ${conn.id} leaves (${why})`);
    this.relay.send({ type: 'leave', id: conn.id });
  }

  // ---- nodes ---------------------------------------------------------------------------------

  private addNode(): SimNode {
    const index = this.nodes.length;
    const rank = this.rng.int(0, this.rankRange - 1);
    const seed = this.rng.seed();
    const node = { index, rank, alive: true, frozen: false, freezeSerial: 0, sendBack: null, conn: null, lastId: null, attempts: 0, backlog: [] } as unknown as SimNode;
    const relayConnection = fromCallback<RelayCommand>(({ sendBack, receive }) => {
      node.sendBack = sendBack;
      receive((command) => this.nodeSends(node, command.frame));
      return () => {
        node.sendBack = null;
      };
    });
    node.clock = new NodeClock((at) =>
      this.scheduler.at(at, () => {
        if (node.alive && !node.frozen) node.clock.set(this.scheduler.now);
      }),
    );
    node.clock.set(this.scheduler.now);
    const actor = createActor(nodeMachine.provide({ actors: { relayConnection } }), {
      input: { rank, seed, timing: this.timing },
      clock: node.clock,
    });
    node.actor = actor;
    actor.subscribe({
      next: (snapshot) => {
        node.snapshot = snapshot;
        if (node.alive) this.checker.observe(index, snapshot);
      },
      error: (error) => this.checker.fail('nothing-lost', `node #${index} threw: ${String(error)}`),
    });
    actor.on('electionStarted', (event) => {
      this.elections.started += 1;
      this.trace(`#${index} (${node.snapshot.context.id}) starts election term ${event.term} (${event.reason})`);
    });
    actor.on('electionCompleted', (event) => {
      this.elections.completed += 1;
      const context = actor.getSnapshot().context;
      this.trace(`#${index} (${context.id}) completes term ${event.term}: ${event.winner.id} wins`);
      this.checker.electionCompleted(index, context.id, context.members, event, (id) => this.idRanks.get(id));
    });
    actor.on('leaderChanged', (event) => this.trace(`#${index} (${node.snapshot?.context.id}) follows ${event.leader.id} term ${event.leader.term}`));
    this.nodes.push(node);
    this.liveCount += 1;
    node.snapshot = actor.getSnapshot();
    actor.start();
    this.trace(`process #${index} starts with rank ${rank}`);
    this.connect(node);
    return node;
  }

  private liveNodes(): SimNode[] {
    return this.nodes.filter((node) => node.alive);
  }

  /** The live process in state leader with the highest term, if any. */
  private currentLeader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.nodes) {
      if (!node.alive || roleOf(node.snapshot) !== 'leader') continue;
      if (best === null || node.snapshot.context.leader!.term > best.snapshot.context.leader!.term) best = node;
    }
    return best;
  }

  private connect(node: SimNode): void {
    const conn: Connection = {
      serial: ++this.connectionSerial,
      node,
      id: null,
      relayEpoch: -1,
      atRelay: 'pending',
      atNode: 'open',
      broken: false,
      upTail: this.scheduler.now,
      downTail: this.scheduler.now,
    };
    node.conn = conn;
    const resume = node.lastId;
    this.scheduler.at(this.tail(conn, 'up'), () => {
      if (!node.alive || node.conn !== conn) return;
      if (this.relay === null) {
        // Connection refused: the node hears of it one link delay later and retries.
        this.scheduler.after(this.linkDelay(), () =>
          this.toNode(node, () => {
            if (node.conn !== conn) return;
            node.conn = null;
            this.scheduleReconnect(node);
          }),
        );
        return;
      }
      const id = nextClientId(this.relay.getSnapshot().context, resume);
      conn.id = id;
      conn.relayEpoch = this.relayEpoch;
      conn.atRelay = 'open';
      this.relayConnections.set(id, conn);
      this.checker.setCutOff(node.index, false);
      let ranks = this.idRanks.get(id);
      if (ranks === undefined) this.idRanks.set(id, (ranks = new Set()));
      ranks.add(node.rank);
      this.trace(`relay: #${node.index} joins as ${id}${resume !== null ? ` (asked for ${resume})` : ''}`);
      this.relay.send({ type: 'join', id });
    });
  }

  private scheduleReconnect(node: SimNode): void {
    node.attempts += 1;
    const ceiling = Math.min(RECONNECT_MAX_MS, 100 * 2 ** (node.attempts - 1));
    this.scheduler.after(this.rng.int(Math.floor(ceiling / 2), ceiling), () => this.toNode(node, () => this.connect(node)));
  }

  /** The node's side of the socket closes: the machine hears `relay.closed`, the connection retries. */
  private nodeSeesClose(node: SimNode, conn: Connection): void {
    if (node.conn !== conn) return;
    conn.atNode = 'closed';
    node.conn = null;
    this.trace(`#${node.index} (${conn.id}) sees its socket close`);
    node.sendBack?.({ type: 'relay.closed' });
    this.scheduleReconnect(node);
  }

  private nodeReads(node: SimNode, conn: Connection, frame: ServerFrame): void {
    if (node.conn !== conn) return;
    if (frame.type === 'welcome') {
      node.lastId = frame.clientId;
      node.attempts = 0;
    }
    node.sendBack?.(frame);
  }

  private nodeSends(node: SimNode, frame: ClientFrame): void {
    this.framesSent[frame.type] = (this.framesSent[frame.type] ?? 0) + 1;
    if (frame.type === 'election' || frame.type === 'newLeader') this.electionFramesSent += 1;
    const parsed = parseClientFrame(encodeFrame(frame));
    if (!parsed.ok) {
      this.checker.fail('nothing-lost', `node #${node.index} sent a frame the protocol rejects (${parsed.code}: ${parsed.detail})`);
      return;
    }
    const conn = node.conn;
    if (conn === null || conn.atNode === 'closed') {
      this.framesLost += 1;
      return;
    }
    this.scheduler.at(this.tail(conn, 'up'), () => {
      if (conn.broken || conn.atRelay !== 'open' || conn.relayEpoch !== this.relayEpoch || this.relay === null || conn.id === null) {
        this.framesLost += 1;
        return;
      }
      this.relay.send({ type: 'frame', from: conn.id, frame: parsed.frame });
    });
  }

  /** Hands something to a node process: at once when it runs, into its backlog while it is frozen. */
  private toNode(node: SimNode, work: () => void): void {
    if (!node.alive) return;
    if (node.frozen) {
      node.backlog.push(work);
      return;
    }
    node.clock.set(this.scheduler.now);
    work();
  }

  private whenRunning(node: SimNode, work: () => void): void {
    this.toNode(node, work);
  }

  // ---- links ---------------------------------------------------------------------------------

  private linkDelay(): number {
    return this.rng.int(this.delay.min, this.delay.max);
  }

  /** The arrival time of the next frame on one direction of a socket: random delay, never overtaking. */
  private tail(conn: Connection, direction: 'up' | 'down'): number {
    const at = this.scheduler.now + this.linkDelay();
    if (direction === 'up') return (conn.upTail = Math.max(conn.upTail, at));
    return (conn.downTail = Math.max(conn.downTail, at));
  }

  // ---- reporting -----------------------------------------------------------------------------

  private trace(line: string): void {
    this.options.trace?.(`${String(Math.round(this.scheduler.now)).padStart(8)} ms  ${line}`);
  }

  private summary(wallMs: number): SimulationSummary {
    const leader = this.checker.agreement(this.liveNodes().length, this.relay === null ? null : this.relayConnections.size);
    const perFailover = this.failovers.map((record) => record.electionFrames + record.newLeaderFrames);
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      faults: this.kinds,
      ok: this.checker.violations.length === 0,
      violations: this.checker.violations,
      reproduce: reproduceCommand(this.options),
      elections: this.elections,
      framesSent: this.framesSent,
      deliveries: this.deliveries,
      framesLost: this.framesLost,
      faultsInjected: this.faultsInjected,
      failovers: this.failovers,
      framesPerFailover: perFailover.length === 0 ? null : perFailover.reduce((a, b) => a + b, 0) / perFailover.length,
      timeToAgreementMs: this.timeToAgreementMs,
      finalLeader: leader,
      virtualTimeMs: this.scheduler.now,
      steps: this.steps,
      wallMs,
    };
  }

  private stopAll(): void {
    for (const node of this.nodes) if (node.alive) node.actor.stop();
    this.relay?.stop();
  }
}

