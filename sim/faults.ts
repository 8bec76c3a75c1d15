/** The faults the simulator can inject, how `--faults` names them, and how each one is done. */
import type { NodeTiming } from '../machines/nodeMachine.js';
import type { SimNode } from './nodeHost.js';
import { roleOf } from './properties.js';
import type { Rng } from './rng.js';

export const FAULT_KINDS = [
  'crash-leader',
  'crash',
  'freeze',
  'freeze-leader',
  'join',
  'leave',
  'relay-restart',
  'relay-restart-fresh',
  'disconnect',
  'resign',
  'election',
  'silent-member',
  'stall-up',
  'stall-down',
  'link-break',
  'delay-spike',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What each fault does, for --help and docs/ALGORITHM.md. */
export const FAULT_HELP: Record<FaultKind, string> = {
  'crash-leader': 'the leader process dies: its socket closes, the relay sends ring{left}',
  crash: 'a random member dies the same way',
  freeze: 'a random member stops processing (SIGSTOP) but its socket stays open until the relay heartbeat drops it',
  'freeze-leader': 'the leader freezes',
  join: 'a new process joins with a random rank',
  leave: 'a member leaves on purpose (node.leave(): a leader hands off first, then closes)',
  'relay-restart': 'the relay restarts with its state file (--state-file): every socket closes, frames in flight are lost, nodes reconnect and resume their ids, and the relay\'s term floor survives',
  'relay-restart-fresh': 'the relay restarts and its state file is lost: the term floor starts again from 0 (terms may repeat from then on, and the run stops checking that a term names one leader over time)',
  disconnect: 'a network blip: the node sees its socket close at once, the relay only later, so resuming its id may be refused',
  resign: 'the leader resigns (the library call)',
  election: 'someone presses "start election" (SIGUSR2 / the inspector)',
  'silent-member': 'a client joins that reads everything and never sends a frame (a websocat session, a hung process); it stays',
  'stall-up':
    "a member's path to the relay loses every packet for a while: its frames (pongs included) are held and then arrive, in order, as TCP retransmits them; the relay's frames still reach it",
  'stall-down':
    "the relay's path to a member loses every packet for a while: its frames (pings included) are held and then arrive, in order; the member's frames still reach the relay",
  'link-break':
    "a member's socket breaks, as TCP gives up on a dead path: nothing more crosses it, the member sees the close within a leader timeout, and the relay, later still, takes it out of the ring (unless the lease or the heartbeat finds out first); the member reconnects",
  'delay-spike': "a member's links, both ways, are slow for a while (every frame takes up to a leader timeout longer)",
};

/** `mixed` = every kind; otherwise a comma-separated list. */
export function parseFaultList(text: string): FaultKind[] {
  if (text === 'mixed' || text === 'all') return [...FAULT_KINDS];
  if (text === 'none' || text === '') return [];
  const kinds = text.split(',').map((part) => part.trim());
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`unknown fault "${kind}"; use mixed, none or a comma-separated list of: ${FAULT_KINDS.join(', ')}`);
    }
  }
  return kinds as FaultKind[];
}

/** Whether a run is the failover benchmark: leaders crash one after another, each failover measured alone. */
export function isSequentialFailover(kinds: readonly FaultKind[]): boolean {
  return kinds.length > 0 && kinds.every((kind) => kind === 'crash-leader');
}

/** What injecting a fault needs from the simulation. */
export interface FaultWorld {
  readonly rng: Rng;
  readonly timing: NodeTiming;
  now(): number;
  liveNodes(): SimNode[];
  currentLeader(): SimNode | null;
  addNode(silent?: boolean): SimNode;
  crash(node: SimNode): void;
  freeze(node: SimNode, durationMs: number): void;
  relayRunning(): boolean;
  restartRelay(downMs: number, loseState?: boolean): void;
}

/** Injects one fault of `kind` at the current instant (a no-op when it has no victim). */
export function injectFault(kind: FaultKind, world: FaultWorld): void {
  const { rng, timing } = world;
  const live = world.liveNodes().filter((node) => !node.silent);
  const running = live.filter((node) => !node.frozen);
  const leader = world.currentLeader();
  const victim = (pool: SimNode[]) => (pool.length === 0 ? null : rng.pick(pool));
  /** A window long enough to matter: from a fraction of a leader timeout to past it. */
  const window = () => rng.int(200, Math.round(2.5 * timing.leaderTimeoutMs));
  switch (kind) {
    case 'join':
      world.addNode();
      return;
    case 'silent-member':
      world.addNode(true);
      return;
    case 'crash-leader': {
      const target = leader ?? victim(live);
      if (target && live.length > 1) world.crash(target);
      return;
    }
    case 'crash': {
      const target = victim(live);
      if (target && live.length > 1) world.crash(target);
      return;
    }
    case 'leave': {
      const target = victim(running);
      if (target && live.length > 1) target.control({ type: 'leave' });
      return;
    }
    case 'freeze':
    case 'freeze-leader': {
      const target = kind === 'freeze-leader' ? (leader && !leader.frozen ? leader : null) : victim(running);
      if (target) world.freeze(target, window());
      return;
    }
    case 'relay-restart':
    case 'relay-restart-fresh':
      if (world.relayRunning()) world.restartRelay(rng.int(50, 3000), kind === 'relay-restart-fresh');
      return;
    case 'disconnect': {
      const target = victim(running.filter((node) => node.member));
      target?.blip();
      return;
    }
    case 'resign':
      if (leader && !leader.frozen) leader.control({ type: 'resign' });
      return;
    case 'election': {
      const target = victim(running.filter((node) => node.snapshot !== null && roleOf(node.snapshot) !== 'offline'));
      target?.control({ type: 'startElection' });
      return;
    }
    case 'stall-up':
    case 'stall-down': {
      const target = rng.chance(0.5) && leader ? leader : victim(live.filter((node) => node.member));
      const socket = target?.socket;
      if (socket) (kind === 'stall-up' ? socket.up : socket.down).stallFor(window());
      return;
    }
    case 'link-break': {
      const target = rng.chance(0.5) && leader ? leader : victim(live.filter((node) => node.member));
      // The member finds out within a leader timeout (a send that fails, an RST; a later notice
      // would only come after its lease ran out), the relay after it. Not before: the lease
      // argument (docs/GUARANTEES.md) has the relay let a live member go only after a heartbeat
      // without its pong, or after the member closed; a relay that dropped a leader the moment
      // its own end broke, while the leader had not noticed, could have the ring elect a
      // successor within the old leader's lease (this fault found exactly that when the relay
      // could notice first).
      const nodeNotices = rng.int(1, timing.leaderTimeoutMs);
      target?.breakLink(nodeNotices, nodeNotices + rng.int(0, timing.leaderTimeoutMs));
      return;
    }
    case 'delay-spike': {
      const target = rng.chance(0.5) && leader ? leader : victim(live.filter((node) => node.member));
      const socket = target?.socket;
      if (!socket) return;
      const spike = { until: world.now() + window(), extraMs: rng.int(50, timing.leaderTimeoutMs) };
      socket.up.spike = spike;
      socket.down.spike = { ...spike };
      return;
    }
  }
}
