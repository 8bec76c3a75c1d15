/**
 * One checking run's fixed parts: its configuration, its timers in ticks, and the machines
 * (real, or a plant's variant) with their memo tables. Built once per run, shared by the search,
 * the replay and the tests.
 */
import type { NodeEmitted } from '../machines/nodeMachine.js';
import { memberCapacity } from '../machines/protocol.js';
import { heartbeatIntervalFor } from '../machines/timing.js';
import { DEFAULT_LIMITS } from '../relay/limits.js';
import { NodeActors, RelayActors, type TimerOp } from './actors.js';
import { ticksOf, validateConfig, type CheckConfig, type Ticks } from './config.js';
import { machinesFor } from './plants.js';
import type { Process, Timer, World } from './world.js';

export interface Model {
  readonly config: CheckConfig;
  readonly ticks: Ticks;
  readonly nodes: NodeActors;
  readonly relay: RelayActors;
}

export function createModel(config: CheckConfig): Model {
  validateConfig(config);
  const machines = machinesFor(config.plant);
  return {
    config,
    ticks: ticksOf(config),
    nodes: new NodeActors(machines.node, config),
    relay: new RelayActors(machines.relay, config, {
      maxMembers: memberCapacity(DEFAULT_LIMITS.maxPayloadBytes),
      forwardTimeoutMs: config.forwardTimeoutMs,
      // As relay/ringHost.ts: every welcome tells the node the relay's timing (unless modelling an older relay).
      ...(config.relayTellsTiming
        ? { timing: { leaderTimeoutMs: config.timing.leaderTimeoutMs, heartbeatMs: heartbeatIntervalFor(config.timing.leaderTimeoutMs) } }
        : {}),
    }),
  };
}

/** A freshly started process: the machine's initial state, connecting within `connectIn` ticks. */
export function startProcess(model: Model, rank: number, connectIn: number): Process {
  const outcome = model.nodes.initial(rank);
  if (outcome.error !== null) throw new Error(outcome.error);
  return { status: 'running', machine: outcome.state, frozen: false, timers: [], sockets: [], connectIn, closing: false, resume: null };
}

/** Every process starts in the first tick, in every order the checker cares to try. */
export function initialWorld(model: Model): World {
  const relay = model.relay.initial();
  if (relay.error !== null) throw new Error(relay.error);
  return {
    processes: Array.from({ length: model.config.nodes }, (_, index) => startProcess(model, model.config.ranks[index]!, 0)),
    relay: { machine: relay.state, timers: [], heartbeatIn: model.ticks.relayHeartbeat },
    faultsLeft: model.config.faults,
  };
}

/**
 * Applies timer operations in order. Setting an id that is already pending mirrors xstate's
 * scheduler: the new timer takes the id, and the old one can no longer be cancelled but still
 * fires (its id is marked `~orphan`).
 */
export function applyTimerOps(timers: Timer[], ops: readonly TimerOp[]): Timer[] {
  let result = timers;
  for (const op of ops) {
    const at = result.findIndex((timer) => timer.id === op.id);
    if (op.kind === 'cancel') {
      if (at !== -1) result = result.filter((_, index) => index !== at);
      continue;
    }
    if (at !== -1) result = result.map((timer, index) => (index === at ? { ...timer, id: `${timer.id}~orphan` } : timer));
    result = [...result, { id: op.id, event: op.event, left: op.ticks }];
  }
  return result;
}

export type ElectionCompleted = Extract<NodeEmitted, { type: 'electionCompleted' }>;
