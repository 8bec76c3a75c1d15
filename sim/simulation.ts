/**
 * The deterministic simulator: the real node and relay statecharts over a simulated network and
 * clocks. One seed drives everything (join order, ranks, link delays, clock rates, fault times
 * and victims, every node's jitter), so a seed replays a run exactly.
 *
 * The parts (docs/ALGORITHM.md has the long form):
 * - sim/network.ts: sockets as pairs of FIFO links with random delays, stalls, breaks and delay spikes.
 * - sim/relayHost.ts: the relay process (relay machine, heartbeat, payload limit).
 * - sim/nodeHost.ts: node processes (node machine, connection, freeze, crash) and silent members.
 * - sim/faults.ts: what each fault does. sim/properties.ts: what is checked after every event.
 * - this file: a run's phases, its time budgets, and the summary.
 *
 * A run has phases: startup (everyone joins; agreement within a budget), then either sequential
 * leader crashes (each failover measured alone) or a fault window with mixed faults, then a
 * healed phase (liveness within a budget, then agreement and stability over a settle period).
 */
import { electionTimeoutFor, resolveTiming, type NodeEmitted, type NodeTiming } from '../machines/nodeMachine.js';
import { type ClientFrame, type ClientId, type LeaderInfo, type ServerFrame } from '../machines/protocol.js';
import { DEFAULT_BACKOFF } from '../node/backoff.js';
import { checkAgreement } from '../runtime/agreement.js';
import { forwardTimeoutFor, heartbeatIntervalFor } from '../machines/timing.js';
import { DEFAULT_LIMITS } from '../relay/limits.js';
import { FAULT_KINDS, injectFault, isSequentialFailover, type FaultKind, type FaultWorld } from './faults.js';
import { Network, type DelayRange } from './network.js';
import { SimNode, type NodeWorld } from './nodeHost.js';
import { PropertyChecker, roleOf, type NodeSnapshot, type Violation } from './properties.js';
import { SimRelay } from './relayHost.js';
import { Rng } from './rng.js';
import { Scheduler } from './scheduler.js';

export interface SimulationOptions {
  seed: number;
  /** Processes at the start. */
  nodes: number;
  /** Silent members that join at the start (they read and never send). */
  silentMembers?: number;
  /** Kinds of fault to draw from; none, or only `crash-leader` (sequential failovers), or a mix. */
  faults?: readonly FaultKind[];
  /** How many faults (or failovers) to inject. Default: 3 failovers, or 8 mixed faults. */
  faultCount?: number;
  /** Length of the fault window for mixed faults (virtual ms). */
  faultWindowMs?: number;
  timing?: Partial<NodeTiming>;
  /** One-way delay of every link, uniform in [min, max] virtual ms (FIFO per link). */
  linkDelayMs?: DelayRange;
  /**
   * How far apart clock rates may be: each node's clock runs at a rate drawn from
   * [1 / (1 + drift), 1 + drift] (0, the default, keeps them all exact). GUARANTEES.md states the
   * bound the lease needs.
   */
  clockDrift?: number;
  /** The relay's payload limit (its member capacity follows from it). */
  maxPayloadBytes?: number;
  /** The relay's forward timeout (how long a member may sit on the election frame). */
  forwardTimeoutMs?: number;
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
  /** Frames lost to injected faults (in flight, or held by a stalled link, when a socket broke or the relay went away). */
  framesLost: number;
  faultsInjected: Partial<Record<FaultKind, number>>;
  failovers: FailoverRecord[];
  /** Mean of (election + newLeader frames delivered) over the failovers, or null. */
  framesPerFailover: number | null;
  /** Virtual ms to agreement: after the last failover, or after healing, or at startup. */
  timeToAgreementMs: number | null;
  /** Virtual ms from the start to the first agreement of every process. */
  startupMs: number | null;
  finalLeader: LeaderInfo | null;
  virtualTimeMs: number;
  steps: number;
  wallMs: number;
  /** The trace of the run's last events when it failed (with `trace` unset, the last 200 lines). */
  traceTail: string[];
}

type Phase = 'startup' | 'failover-wait' | 'failover' | 'faults' | 'healing' | 'settle' | 'done';

export function runSimulation(options: SimulationOptions): SimulationSummary {
  return new Simulation(options).run();
}

/** The CLI arguments that replay `options` exactly. */
export function reproduceCommand(options: SimulationOptions): string {
  const parts = [`npm run sim -- --seed ${options.seed} --nodes ${options.nodes}`];
  parts.push(`--faults ${options.faults === undefined || options.faults.length === 0 ? 'none' : options.faults.length === FAULT_KINDS.length ? 'mixed' : options.faults.join(',')}`);
  if (options.silentMembers !== undefined) parts.push(`--silent ${options.silentMembers}`);
  if (options.faultCount !== undefined) parts.push(`--fault-count ${options.faultCount}`);
  if (options.faultWindowMs !== undefined) parts.push(`--fault-window ${options.faultWindowMs}`);
  if (options.linkDelayMs !== undefined) parts.push(`--delay ${options.linkDelayMs.min}-${options.linkDelayMs.max}`);
  if (options.clockDrift !== undefined) parts.push(`--clock-drift ${options.clockDrift}`);
  if (options.maxPayloadBytes !== undefined) parts.push(`--max-payload ${options.maxPayloadBytes}`);
  if (options.forwardTimeoutMs !== undefined) parts.push(`--forward-timeout ${options.forwardTimeoutMs}`);
  if (options.rankRange !== undefined) parts.push(`--rank-range ${options.rankRange}`);
  if (options.settleMs !== undefined) parts.push(`--settle ${options.settleMs}`);
  const timing = options.timing ?? {};
  if (timing.checkIntervalMs !== undefined) parts.push(`--check-interval ${timing.checkIntervalMs}`);
  if (timing.leaderTimeoutMs !== undefined) parts.push(`--leader-timeout ${timing.leaderTimeoutMs}`);
  if (timing.electionTimeoutMs !== undefined) parts.push(`--election-timeout ${timing.electionTimeoutMs}`);
  if (timing.electionHopMs !== undefined) parts.push(`--election-hop ${timing.electionHopMs}`);
  if (timing.heartbeatTimeoutMs !== undefined) parts.push(`--lease ${timing.heartbeatTimeoutMs}`);
  return parts.join(' ');
}

const DEFAULT_LINK_DELAY: DelayRange = { min: 1, max: 10 };
const TRACE_TAIL = 200;

class Simulation implements NodeWorld, FaultWorld {
  readonly rng: Rng;
  readonly scheduler = new Scheduler();
  readonly network: Network;
  readonly timing: NodeTiming;
  private readonly checker: PropertyChecker;
  private readonly heartbeatMs: number;
  private readonly forwardTimeoutMs: number;
  private readonly kinds: FaultKind[];
  private readonly sequential: boolean;
  private readonly faultCount: number;
  private readonly faultWindowMs: number;
  private readonly settleMs: number;
  private readonly rankRange: number;
  private readonly drift: number;

  private readonly nodes: SimNode[] = [];
  private readonly bySocket = new Map<number, SimNode>();
  /** Kept as counts because agreement is looked at after every step. */
  private liveCount = 0;
  private startedCount = 0;
  private liveSilent = 0;
  private silentInRing = 0;
  private frozenCount = 0;
  /** The last confirmed agreement and the stance version it was computed for. */
  private confirmed: { version: number; leader: LeaderInfo | null } = { version: -1, leader: null };
  /** Election frames on their way (on a link); agreement is only declared with none. */
  private electionsInFlight = 0;
  private relayHost: SimRelay | null = null;
  private socketSerial = 0;
  /** The relay's state file: the highest term it recorded (kept across restarts, lost by `relay-restart-fresh`). */
  private relayStateTerm = 0;
  /** Every rank each id has stood for (ids can pass to another process after a relay restart). */
  private readonly idRanks = new Map<ClientId, Set<number>>();
  private readonly recentTrace: string[] = [];

  private phase: Phase = 'startup';
  private phaseDeadline = 0;
  private phaseStartedAt = 0;
  /** Last time a fault other than a join disturbed the ring; the stability window opens a quiet period later. */
  private lastDisturbance = 0;
  private settleUntil = 0;
  private failoverStart: { wallAt: number; at: number; crashed: ClientId; sent: number; deliveries: Record<string, number>; all: number; budget: number; nodes: number } | null = null;
  private failoversLeft = 0;
  private onRelayUp: (() => void) | null = null;

  private readonly framesSent: Record<string, number> = {};
  private readonly deliveries: Record<string, number> = {};
  private deliveriesTotal = 0;
  private electionFramesSent = 0;
  private readonly faultsInjected: Partial<Record<FaultKind, number>> = {};
  private readonly failovers: FailoverRecord[] = [];
  private elections = { started: 0, completed: 0 };
  private timeToAgreementMs: number | null = null;
  private startupMs: number | null = null;
  private steps = 0;

  constructor(private readonly options: SimulationOptions) {
    if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new Error('nodes must be a positive integer');
    this.rng = new Rng(options.seed);
    this.network = new Network(this.scheduler, this.rng, options.linkDelayMs ?? DEFAULT_LINK_DELAY);
    this.checker = new PropertyChecker(() => this.scheduler.now);
    this.checker.describe = (index) => {
      const node = this.nodes[index]!;
      return `#${index} (${node.id}, term ${node.snapshot?.context.leader?.term}, clock rate ${node.clock.rate.toFixed(3)})`;
    };
    this.timing = resolveTiming(options.timing);
    this.heartbeatMs = heartbeatIntervalFor(this.timing.leaderTimeoutMs);
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? forwardTimeoutFor(this.timing.leaderTimeoutMs);
    this.kinds = [...(options.faults ?? [])];
    this.sequential = isSequentialFailover(this.kinds);
    this.faultCount = options.faultCount ?? (this.sequential ? 3 : this.kinds.length > 0 ? 8 : 0);
    this.faultWindowMs = options.faultWindowMs ?? 30_000;
    this.settleMs = options.settleMs ?? 2 * (this.timing.checkIntervalMs + this.timing.leaderTimeoutMs);
    this.rankRange = options.rankRange ?? 1_000_000;
    this.drift = options.clockDrift ?? 0;
  }

  run(): SimulationSummary {
    const started = performance.now();
    this.relayUp();
    for (let index = 0; index < this.options.nodes; index += 1) this.scheduler.at(this.rng.int(0, 200), () => this.addNode());
    for (let index = 0; index < (this.options.silentMembers ?? 0); index += 1) this.scheduler.at(this.rng.int(0, 200), () => this.addNode(true));
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
    for (const node of this.nodes) if (node.alive) node.actor?.stop();
    this.relayHost?.stop();
    return summary;
  }

  // ---- budgets -------------------------------------------------------------------------------

  private get delayMax(): number {
    return this.network.delay.max;
  }

  /** One lap of `n` members plus the broadcast, at the slowest link delay (two links per hop). */
  private lapAndBroadcast(n: number): number {
    return (n + 2) * 2 * this.delayMax;
  }

  /** Members that never pass a frame on: each costs a lap one forward timeout, once. */
  private silentCost(): number {
    return this.liveSilent * this.forwardTimeoutMs;
  }

  /**
   * Liveness budget after healing (and at startup): reconnecting (backoff + a heartbeat drop),
   * silent-failure detection (check interval + leader timeout), a backup timer that may have to
   * take over from an initiator that vanished, one lap plus the broadcast, and a forward timeout
   * for each silent member.
   */
  private healBudget(n: number): number {
    const t = this.timing;
    const jitter = 1 + t.jitter;
    return (
      (DEFAULT_BACKOFF.maxDelayMs + 2 * this.heartbeatMs + t.checkIntervalMs * jitter + t.leaderTimeoutMs + 2 * electionTimeoutFor(t, n) * jitter) *
        (1 + this.drift) +
      this.lapAndBroadcast(n) +
      this.silentCost() +
      this.quietPeriod()
    );
  }

  /** How long after a disturbance its late effects (a check sent before it timing out) may still show. */
  private quietPeriod(): number {
    const t = this.timing;
    return (t.leaderTimeoutMs + t.checkIntervalMs * (1 + t.jitter)) * (1 + this.drift) + 4 * this.delayMax;
  }

  /**
   * After the leader crashes: detection (the close reaches the relay, `ring{left}` reaches the
   * successor) + one lap + one broadcast. With a silent member in the ring: about two election
   * timeouts (its forward timeout, or a backup timer when it is the successor, then a lap).
   */
  private failoverBudget(n: number): number {
    const plain = 2 * this.delayMax + this.lapAndBroadcast(n);
    if (this.silentCost() === 0) return plain;
    return 2 * electionTimeoutFor(this.timing, n) * (1 + this.timing.jitter) * (1 + this.drift) + plain;
  }

  // ---- phases --------------------------------------------------------------------------------

  private agreed(): LeaderInfo | null {
    if (this.electionsInFlight > 0) return null;
    const ring = this.relayHost === null ? null : this.relayHost.memberCount - this.silentInRing;
    const counted = this.checker.agreement(this.liveCount, ring);
    if (counted === null) return null;
    // Confirm with the one agreement check, recomputed only when some stance changed.
    if (this.confirmed.version !== this.checker.version) {
      const live = this.nodes.filter((node) => node.alive && !node.silent && node.snapshot !== null);
      const views = live.map((node) => ({ id: node.id, leader: node.snapshot!.context.leader, leading: roleOf(node.snapshot!) === 'leader' }));
      const verdict = checkAgreement(views);
      this.confirmed = { version: this.checker.version, leader: verdict.agreed ? verdict.leader : null };
    }
    // The verdict's leader, not the count's: the count knows the id and term, the views the rank too.
    return this.confirmed.leader;
  }

  private afterStep(): void {
    const now = this.scheduler.now;
    const agreed = this.agreed();
    const quiet = now >= this.lastDisturbance + this.quietPeriod() && this.frozenCount === 0;
    if (agreed !== null && quiet && this.checker.stableLeader === null && this.phase !== 'healing') this.checker.setStable(agreed);
    switch (this.phase) {
      case 'startup':
        if (agreed !== null && this.startedCount >= this.options.nodes) {
          this.trace(`agreement at startup on ${agreed.id} term ${agreed.term}`);
          this.timeToAgreementMs = now;
          this.startupMs = now;
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
        if (agreed !== null && now >= this.phaseStartedAt + this.quietPeriod()) {
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
    this.checker.setStable(this.agreed());
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
      const nodes = this.liveCount - 1;
      const budget = this.failoverBudget(nodes);
      this.failoverStart = {
        wallAt: performance.now(),
        at: this.scheduler.now,
        crashed: leader.id ?? '?',
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

  /** End of the fault window: links heal, everyone unfreezes, someone is alive; the relay comes back on its own. */
  private heal(): void {
    this.trace('heal');
    for (const node of this.nodes) {
      const socket = node.socket;
      if (socket) {
        socket.up.release();
        socket.down.release();
        socket.up.spike.until = socket.down.spike.until = Number.NEGATIVE_INFINITY;
      }
      if (node.alive && node.frozen) this.unfreeze(node);
    }
    if (this.liveCount === 0) this.addNode();
    const relayBack = () => {
      this.disturb();
      this.phase = 'healing';
      this.phaseStartedAt = this.scheduler.now;
      this.phaseDeadline = this.scheduler.now + this.healBudget(this.liveCount + this.liveSilent);
      // A quiet ring (one leader alone) schedules nothing; these wake-ups let the phase end on time.
      this.wakeAt(this.phaseStartedAt + this.quietPeriod());
      this.wakeAt(this.phaseDeadline + 1);
    };
    if (this.relayHost !== null) relayBack();
    else this.onRelayUp = relayBack;
  }

  // ---- faults (FaultWorld) ---------------------------------------------------------------------

  now(): number {
    return this.scheduler.now;
  }

  private inject(kind: FaultKind): void {
    if (this.phase !== 'faults') return;
    this.count(kind);
    if (kind !== 'join' && kind !== 'silent-member') this.disturb();
    this.trace(`fault ${kind}`);
    injectFault(kind, this);
  }

  private count(kind: FaultKind): void {
    this.faultsInjected[kind] = (this.faultsInjected[kind] ?? 0) + 1;
  }

  private disturb(): void {
    this.lastDisturbance = this.scheduler.now;
    this.checker.setStable(null);
  }

  liveNodes(): SimNode[] {
    return this.nodes.filter((node) => node.alive);
  }

  /** The live process in state leader with the highest term, if any. */
  currentLeader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.nodes) {
      if (!node.alive || node.snapshot === null || roleOf(node.snapshot) !== 'leader') continue;
      if (best === null || node.snapshot.context.leader!.term > best.snapshot!.context.leader!.term) best = node;
    }
    return best;
  }

  addNode(silent = false): SimNode {
    const index = this.nodes.length;
    const rank = this.rng.int(0, this.rankRange - 1);
    const seed = this.rng.seed();
    const rate = this.drift === 0 ? 1 : Math.exp((this.rng.next() * 2 - 1) * Math.log(1 + this.drift));
    const node = new SimNode(index, rank, seed, rate, silent, this);
    this.nodes.push(node);
    if (silent) this.liveSilent += 1;
    else {
      this.liveCount += 1;
      this.startedCount += 1;
    }
    this.trace(`process #${index} starts${silent ? ' (silent member)' : ''} with rank ${rank}, clock rate ${rate.toFixed(3)}`);
    node.start();
    return node;
  }

  crash(node: SimNode): void {
    this.processEnded(node);
    node.crash();
  }

  /** A process is gone (crashed, or exited after leaving the ring). */
  private processEnded(node: SimNode): void {
    if (!node.alive) return;
    this.checker.forget(node.index);
    if (node.frozen) this.frozenCount -= 1;
    if (node.silent) this.liveSilent -= 1;
    else this.liveCount -= 1;
  }

  freeze(node: SimNode, durationMs: number): void {
    this.trace(`freeze #${node.index} (${node.id}) for ${durationMs} ms`);
    node.freeze();
    this.frozenCount += 1;
    this.checker.setFrozen(node.index, true);
    const serial = node.freezeSerial;
    this.scheduler.after(durationMs, () => {
      if (node.alive && node.frozen && node.freezeSerial === serial) {
        this.disturb();
        this.unfreeze(node);
      }
    });
  }

  private unfreeze(node: SimNode): void {
    this.frozenCount -= 1;
    node.unfreeze();
    this.checker.setFrozen(node.index, false);
  }

  relayRunning(): boolean {
    return this.relayHost !== null;
  }

  restartRelay(downMs: number, loseState = false): void {
    this.trace(`relay restarts, down for ${downMs} ms${loseState ? ', its state file lost' : ''}`);
    if (loseState) {
      this.relayStateTerm = 0;
      this.checker.termsDurable = false;
    }
    const relay = this.relayHost;
    this.relayHost = null;
    this.silentInRing = 0;
    for (const side of relay?.stop() ?? []) {
      const node = this.bySocket.get(side.socket.serial);
      if (node === undefined) continue;
      this.checker.setCutOff(node.index, true);
      node.relayDied(side);
    }
    this.scheduler.after(downMs, () => {
      this.relayUp();
      this.disturb();
      const then = this.onRelayUp;
      this.onRelayUp = null;
      then?.();
    });
  }

  private relayUp(): void {
    this.relayHost = new SimRelay(
      this.scheduler,
      {
        leaderTimeoutMs: this.timing.leaderTimeoutMs,
        maxPayloadBytes: this.options.maxPayloadBytes ?? DEFAULT_LIMITS.maxPayloadBytes,
        forwardTimeoutMs: this.forwardTimeoutMs,
        termFloor: this.relayStateTerm,
      },
      {
        termsChanged: (highestTerm) => {
          this.relayStateTerm = highestTerm;
        },
        closed: (side, why) => {
          const node = this.bySocket.get(side.socket.serial);
          if (node === undefined) return;
          if (node.silent && side.id !== null) this.silentInRing -= 1;
          this.checker.setCutOff(node.index, true);
          if (why !== 'close') node.closedByRelay(side);
        },
        frameFor: (side, frame) => this.bySocket.get(side.socket.serial)?.receive(side, frame),
        pingFor: (side) => this.bySocket.get(side.socket.serial)?.pinged(side),
        admitted: (side, id) => {
          const node = this.bySocket.get(side.socket.serial);
          if (node === undefined) return;
          if (node.silent) this.silentInRing += 1;
          this.checker.setCutOff(node.index, false);
          let ranks = this.idRanks.get(id);
          if (ranks === undefined) this.idRanks.set(id, (ranks = new Set()));
          ranks.add(node.rank);
        },
        delivered: (frame: ServerFrame, recipients: number) => {
          this.deliveries[frame.type] = (this.deliveries[frame.type] ?? 0) + recipients;
          this.deliveriesTotal += recipients;
        },
        electionInFlight: (change) => this.electionInFlight(change),
        broken: (message) => this.checker.fail('nothing-lost', message),
        trace: (line) => this.trace(line),
      },
    );
    this.trace('relay up');
  }

  // ---- NodeWorld -------------------------------------------------------------------------------

  relay(): SimRelay | null {
    return this.relayHost;
  }

  openSocket(node: SimNode): number {
    const serial = ++this.socketSerial;
    this.bySocket.set(serial, node);
    return serial;
  }

  observe(node: SimNode, snapshot: NodeSnapshot): void {
    if (snapshot.status === 'done') {
      // The process left the ring for good and exits.
      this.trace(`#${node.index} (${node.id}) left`);
      this.processEnded(node);
      node.alive = false;
      return;
    }
    this.checker.observe(node.index, snapshot);
  }

  emitted(node: SimNode, event: NodeEmitted): void {
    const id = node.snapshot?.context.id ?? null;
    switch (event.type) {
      case 'electionStarted':
        this.elections.started += 1;
        this.trace(`#${node.index} (${id}) starts election term ${event.term} (${event.reason})`);
        return;
      case 'electionCompleted': {
        this.elections.completed += 1;
        this.trace(`#${node.index} (${id}) completes term ${event.term}: ${event.winner.id} wins`);
        const context = node.actor!.getSnapshot().context;
        this.checker.electionCompleted(node.index, context.id, context.members, event, (winner) => this.idRanks.get(winner));
        return;
      }
      case 'leaderChanged':
        this.trace(`#${node.index} (${id}) follows ${event.leader.id} term ${event.leader.term}`);
        return;
      case 'leaseLapsed':
        this.trace(`#${node.index} (${id}) lease lapsed`);
        return;
      default:
        return;
    }
  }

  sent(_node: SimNode, frame: ClientFrame): void {
    this.framesSent[frame.type] = (this.framesSent[frame.type] ?? 0) + 1;
    if (frame.type === 'election' || frame.type === 'newLeader') this.electionFramesSent += 1;
  }

  broken(message: string): void {
    this.checker.fail('nothing-lost', message);
  }

  electionInFlight(change: 1 | -1): void {
    this.electionsInFlight += change;
  }

  trace(line: string): void {
    const text = `${String(Math.round(this.scheduler.now)).padStart(8)} ms  ${line}`;
    if (this.options.trace) this.options.trace(text);
    else {
      this.recentTrace.push(text);
      if (this.recentTrace.length > TRACE_TAIL) this.recentTrace.shift();
    }
  }

  // ---- reporting -----------------------------------------------------------------------------

  private summary(wallMs: number): SimulationSummary {
    const perFailover = this.failovers.map((record) => record.electionFrames + record.newLeaderFrames);
    const ok = this.checker.violations.length === 0;
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      faults: this.kinds,
      ok,
      violations: this.checker.violations,
      reproduce: reproduceCommand(this.options),
      elections: this.elections,
      framesSent: this.framesSent,
      deliveries: this.deliveries,
      framesLost: this.network.lost,
      faultsInjected: this.faultsInjected,
      failovers: this.failovers,
      framesPerFailover: perFailover.length === 0 ? null : perFailover.reduce((a, b) => a + b, 0) / perFailover.length,
      timeToAgreementMs: this.timeToAgreementMs,
      startupMs: this.startupMs,
      finalLeader: this.agreed(),
      virtualTimeMs: this.scheduler.now,
      steps: this.steps,
      wallMs,
      traceTail: ok ? [] : [...this.recentTrace],
    };
  }
}
