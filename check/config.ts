/**
 * What one exhaustive check explores: how many processes, which faults and how many, the timing of
 * the machines, and the bounds that keep the state space finite. docs/ALGORITHM.md ("Exhaustive
 * checking") explains the time model these numbers feed.
 *
 * Time is discrete: a tick is `msPerTick` ms, and every delay the machines ask for must be a whole
 * number of ticks (a delay of 2.5 ticks cannot be represented, so it is refused rather than
 * rounded: rounding would silently change the timing relations the lease depends on).
 */
import { electionTimeoutFor, forwardTimeoutFor, handOffTimeoutFor, heartbeatIntervalFor, heartbeatIntervalOf, resolveTiming, type NodeTiming } from '../machines/timing.js';

export const FAULT_KINDS = ['crash', 'freeze', 'cut', 'join', 'leave', 'restart', 'election', 'resign'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_HELP: Record<FaultKind, string> = {
  crash: 'a process dies: its socket closes behind the frames it already sent',
  freeze: 'a process stops (SIGSTOP) for as long as the checker likes: no timers, no reads; on thaw its overdue timers fire first',
  cut: "a member's socket is partitioned: everything in flight and sent on it is lost, neither side sees a close",
  join: 'a new process joins (rank from --ranks)',
  leave: 'a process leaves on purpose (a leader hands off first)',
  restart: 'the relay restarts: every member socket closes, frames in flight on them are lost, nodes reconnect and ask to resume',
  election: 'someone presses "start election" on a connected process (the inspector, SIGUSR2)',
  resign: 'the leader resigns (the library call)',
};

export interface CheckConfig {
  /** Processes at the start. */
  nodes: number;
  /** How many faults one run may inject (the fault budget). */
  faults: number;
  /** Which faults may be injected. */
  faultKinds: FaultKind[];
  /** Rank of process i: the first `nodes` start, the rest are joiners. */
  ranks: number[];
  msPerTick: number;
  /** The nodes' timing in ms (jitter must be 0: a jittered delay is a random draw, not a choice the checker can enumerate). */
  timing: NodeTiming;
  /** The relay's forward timeout in ms (default: its heartbeat interval, as relay/limits.ts). */
  forwardTimeoutMs: number;
  /** A frame reaches the other end within this many ticks (0: before time moves on), at a moment the checker chooses. */
  linkDelayTicks: number;
  /** A (re)connect happens within this many ticks after the process decides to connect. */
  reconnectTicks: number;
  /** States where a term exceeds this are counted, not explored: terms grow without bound otherwise. */
  termCap: number;
  /** Stop after this many distinct states (0: no limit). */
  maxStates: number;
  /** A planted bug to check against (check/plants.ts), or none. */
  plant: string | null;
  /**
   * The relay tells its timing in `welcome.timing` (as relay/ringHost.ts does), so a node whose
   * lease the relay's heartbeat would not outlast refuses to join (property `timing`). False
   * models an older relay that does not: such a node joins, and only its behaviour can show it.
   */
  relayTellsTiming: boolean;
}

export const DEFAULT_MS_PER_TICK = 100;

/**
 * The default timing, in ticks of 100 ms: check every 4, leader timeout 8, election (and backup)
 * timeout 5, lease 3 (so a node pings every tick), relay heartbeat 4 (= leader timeout / 2, as
 * relay/limits.ts derives it) and forward timeout 4. The relations safety depends on are the real
 * defaults' (lease < relay heartbeat < leader timeout, forward timeout < election timeout); the
 * values are scaled down because every tick a timer can be away multiplies the states.
 */
export const DEFAULT_TIMING: NodeTiming = {
  checkIntervalMs: 400,
  leaderTimeoutMs: 800,
  electionTimeoutMs: 500,
  electionHopMs: 0,
  heartbeatTimeoutMs: 300,
  jitter: 0,
};

export function defaultConfig(overrides: Partial<CheckConfig> = {}): CheckConfig {
  const nodes = overrides.nodes ?? 3;
  const faults = overrides.faults ?? 2;
  const timing = resolveTiming({ ...DEFAULT_TIMING, ...overrides.timing });
  const config: CheckConfig = {
    nodes,
    faults,
    faultKinds: [...FAULT_KINDS],
    ranks: Array.from({ length: nodes + faults }, (_, index) => index + 1),
    msPerTick: DEFAULT_MS_PER_TICK,
    forwardTimeoutMs: forwardTimeoutFor(timing.leaderTimeoutMs),
    linkDelayTicks: 0,
    reconnectTicks: 1,
    termCap: 5,
    maxStates: 0,
    plant: null,
    relayTellsTiming: true,
    ...overrides,
    timing,
  };
  validateConfig(config);
  return config;
}

/** Every timer of the model, in ticks. */
export interface Ticks {
  nodeHeartbeat: number;
  lease: number;
  checkInterval: number;
  leaderTimeout: number;
  relayHeartbeat: number;
  forwardTimeout: number;
}

export function ticksOf(config: CheckConfig): Ticks {
  const t = (ms: number, what: string) => toTicks(config, ms, what);
  return {
    nodeHeartbeat: t(heartbeatIntervalOf(config.timing), 'the node heartbeat interval (lease / 3, at least 10 ms)'),
    lease: t(config.timing.heartbeatTimeoutMs, 'the lease (heartbeatTimeoutMs)'),
    checkInterval: t(config.timing.checkIntervalMs, 'checkIntervalMs'),
    leaderTimeout: t(config.timing.leaderTimeoutMs, 'leaderTimeoutMs'),
    relayHeartbeat: t(heartbeatIntervalFor(config.timing.leaderTimeoutMs), "the relay's heartbeat interval (leader timeout / 2)"),
    forwardTimeout: t(config.forwardTimeoutMs, "the relay's forward timeout"),
  };
}

/** `ms` as a whole number of ticks, or a clear error naming the delay. */
export function toTicks(config: Pick<CheckConfig, 'msPerTick'>, ms: number, what: string): number {
  const ticks = ms / config.msPerTick;
  if (!Number.isInteger(ticks) || ticks < 1) {
    throw new Error(`${what} is ${ms} ms, not a whole number (>= 1) of ${config.msPerTick} ms ticks: choose timings that are`);
  }
  return ticks;
}

export function validateConfig(config: CheckConfig): void {
  const fail = (message: string) => {
    throw new Error(`check config: ${message}`);
  };
  if (!Number.isInteger(config.nodes) || config.nodes < 1 || config.nodes > 6) fail(`nodes must be 1..6, got ${config.nodes}`);
  if (!Number.isInteger(config.faults) || config.faults < 0) fail(`faults must be a non-negative integer, got ${config.faults}`);
  if (config.ranks.length < config.nodes + (config.faultKinds.includes('join') ? config.faults : 0)) {
    fail(`ranks lists ${config.ranks.length} processes; ${config.nodes} nodes plus up to ${config.faults} joiners need more`);
  }
  if (typeof config.relayTellsTiming !== 'boolean') fail(`relayTellsTiming must be true or false, got ${String(config.relayTellsTiming)}`);
  if (config.timing.jitter !== 0) fail('timing.jitter must be 0: the checker enumerates choices, it cannot enumerate random draws');
  for (const kind of config.faultKinds) if (!(FAULT_KINDS as readonly string[]).includes(kind)) fail(`unknown fault kind "${kind}"`);
  for (const [name, value] of [
    ['linkDelayTicks', config.linkDelayTicks],
    ['reconnectTicks', config.reconnectTicks],
    ['termCap', config.termCap],
    ['maxStates', config.maxStates],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got ${value}`);
  }
  ticksOf(config);
  const members = config.ranks.length;
  toTicks(config, electionTimeoutFor(config.timing, 1), 'the election timeout for one member');
  toTicks(config, electionTimeoutFor(config.timing, members), `the election timeout for ${members} members`);
  toTicks(config, handOffTimeoutFor(config.timing, members), 'the hand-off timeout');
}
