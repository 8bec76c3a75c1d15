/**
 * Model-based tests: paths generated from the node machine's own graph (xstate/graph), each
 * replayed against the real machine on a SimulatedClock over a simulated transport, asserting
 * after every step what the state must show.
 *
 * The traversal drives timers with their `xstate.after.*` events (createTestModel refuses machines
 * with invoke/after); the replay does not send those events but lets the clock run until the real
 * timer fires, so jittered delays, cancellation and re-entry are exercised for real. The checks use
 * their own notion of "highest (rank, id)" (sim/properties.ts), so a broken election rule in
 * machines/ cannot grade itself.
 */
import { createActor, fromCallback, initialTransition, SimulatedClock, transition, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMING, electionTimeoutFor, nodeMachine, type NodeEmitted, type NodeEvent, type RelayCommand } from '../machines/nodeMachine.js';
import type { ClientFrame, ElectionFrame } from '../machines/protocol.js';
import { highestCandidate } from '../sim/properties.js';

const SELF = { id: 'n2', rank: 5 };
const RING = ['n1', 'n2', 'n3'];
const LEADER = { id: 'n1', rank: 9, term: 1 };

const model = nodeMachine.provide({ actors: { relayConnection: fromCallback(() => undefined) } });
type Snapshot = SnapshotFrom<typeof model>;
type ModelEvent = NodeEvent | { type: `xstate.after.${string}` };

const TIMER_EVENTS = {
  follower: 'xstate.after.checkInterval.node.online.follower',
  checking: 'xstate.after.leaderTimeout.node.online.checking',
  awaiting: 'xstate.after.backupTimeout.node.online.awaiting',
  electing: 'xstate.after.electionTimeout.node.online.electing',
} as const;

function stateName(snapshot: Snapshot): string {
  const value = snapshot.value;
  return typeof value === 'string' ? value : Object.values(value as Record<string, string>)[0]!;
}

/**
 * Events carry context (terms, nonces), so a path is kept as event labels and each event is
 * rebuilt from the state the replay is actually in: the traversal merges states that serialize
 * alike, and the snapshots inside its paths need not chain.
 */
const labels = new WeakMap<object, string>();
function labelOf(event: ModelEvent): string {
  return labels.get(event) ?? event.type;
}
function eventsFor(snapshot: Snapshot): ModelEvent[] {
  return rawEventsFor(snapshot).map((event, index, all) => {
    const sameType = all.filter((other) => other.type === event.type);
    labels.set(event, sameType.length === 1 ? event.type : `${event.type}#${sameType.indexOf(event)}`);
    return event;
  });
}

/** The events a node can meet in each state of a three-member ring, built from what it knows. */
function rawEventsFor(snapshot: Snapshot): ModelEvent[] {
  const { context } = snapshot;
  const state = stateName(snapshot);
  if (state === 'disconnected') {
    return [
      { type: 'welcome', clientId: SELF.id, protocol: 1, members: RING, leader: LEADER },
      { type: 'welcome', clientId: SELF.id, protocol: 1, members: RING, leader: null },
      { type: 'welcome', clientId: SELF.id, protocol: 1, members: [SELF.id], leader: null },
    ];
  }
  const events: ModelEvent[] = [{ type: 'relay.closed' }, { type: 'startElection' }, { type: 'resign' }];
  const timer = TIMER_EVENTS[state as keyof typeof TIMER_EVENTS];
  if (timer) events.push({ type: timer });
  if (state === 'checking' && context.leader) {
    events.push({ type: 'answerLeader', to: SELF.id, from: context.leader.id, nonce: String(context.nonce), term: context.leader.term });
  }
  if (context.round) {
    // This node's lap comes back, once with a higher rank on it (it loses) and once without (it wins).
    const lap = (other: number): ElectionFrame => ({
      type: 'election',
      to: 'next',
      from: 'n1',
      initiator: context.round!.initiator,
      term: context.round!.term,
      eligible: [SELF, { id: 'n3', rank: other }, { id: 'n1', rank: other - 1 }],
    });
    events.push(lap(7), lap(3));
    events.push({ type: 'newLeader', to: 'all', from: 'n3', leaderId: SELF.id, rank: SELF.rank, term: context.round.term });
  }
  events.push({ type: 'election', to: 'next', from: 'n1', initiator: 'n3', term: context.term + 1, eligible: [{ id: 'n3', rank: 7 }] });
  events.push({ type: 'newLeader', to: 'all', from: 'n3', leaderId: 'n3', rank: 7, term: context.term + 1 });
  if (context.leader && context.leader.id !== SELF.id && context.members.has(context.leader.id)) {
    events.push({ type: 'ring', left: context.leader.id });
  }
  if (!context.members.has('n4')) events.push({ type: 'ring', joined: 'n4' });
  events.push({ type: 'checkLeader', to: SELF.id, from: 'n3', nonce: 'x' });
  return events;
}

/** Coarse enough to keep the graph finite, fine enough to tell the situations apart. */
function serialize(snapshot: Snapshot): string {
  const { leader, round, id, members } = snapshot.context;
  const knows = leader === null ? 'none' : leader.id === id ? 'self' : members.has(leader.id) ? 'member' : 'gone';
  return `${JSON.stringify(snapshot.value)}|${knows}|${round ? 'round' : '-'}|${members.length}`;
}

/**
 * Edge coverage: the shortest path to every (serialized) state, then that path extended by every
 * event the state can meet, so every transition of the graph is replayed at least once.
 */
const shortest = getShortestPaths(model, {
  input: { rank: SELF.rank, seed: 7 },
  events: eventsFor as never,
  serializeState: serialize as never,
  serializeEvent: ((event: ModelEvent) => labelOf(event)) as never,
});
const paths: string[][] = shortest.flatMap((path) => {
  const steps = path.steps.map((step) => labelOf(step.event as ModelEvent)).filter((label) => label !== 'xstate.init');
  return eventsFor(path.state as Snapshot).map((event) => [...steps, labelOf(event)]);
});

/** The real machine on a SimulatedClock; the transport records what it sends and emits. */
function realNode() {
  const clock = new SimulatedClock();
  const sent: ClientFrame[] = [];
  const emitted: NodeEmitted[] = [];
  let deliver: (event: NodeEvent) => void = () => undefined;
  const relayConnection = fromCallback<RelayCommand>(({ receive, sendBack }) => {
    deliver = sendBack as (event: NodeEvent) => void;
    receive((command) => {
      if (command.type === 'send') sent.push(command.frame);
      // The relay answers every ping at once, so the lease never lapses in these paths.
      if (command.type === 'ping') sendBack({ type: 'relay.pong', seq: command.seq } satisfies NodeEvent);
    });
  });
  const actor = createActor(nodeMachine.provide({ actors: { relayConnection } }), { clock, input: { rank: SELF.rank, seed: 7 } });
  for (const type of ['electionStarted', 'electionCompleted', 'leaderChanged', 'leadershipAcquired', 'leadershipLost'] as const) {
    actor.on(type, (event) => emitted.push(event as NodeEmitted));
  }
  actor.start();
  return { clock, sent, emitted, actor, deliver: (event: NodeEvent) => deliver(event) };
}

/** The longest the timer of `state` can take (base + jitter), so advancing by it must fire it. */
function longestTimer(state: string, members: number): number {
  const t = DEFAULT_TIMING;
  if (state === 'follower') return Math.ceil(t.checkIntervalMs * (1 + t.jitter)) + 1;
  if (state === 'checking') return t.leaderTimeoutMs + 1;
  return Math.ceil(electionTimeoutFor(t, members) * (1 + t.jitter)) + 1;
}

describe('model-based: every simple path of the node graph, replayed on the real machine', () => {
  it('generates a meaningful number of paths covering every state', () => {
    expect(shortest.length).toBeGreaterThan(20);
    expect(paths.length).toBeGreaterThan(200);
    const reached = new Set(shortest.map((path) => stateName(path.state as Snapshot)));
    expect([...reached].sort()).toEqual(['awaiting', 'checking', 'disconnected', 'electing', 'follower', 'leader']);
  });

  it('each step reaches the state the model predicts, and each state shows what it must', () => {
    let checkedSteps = 0;
    let infeasible = 0;
    for (const path of paths) {
      const node = realNode();
      // The model runs alongside through pure transitions; events are rebuilt from its state.
      let expected = initialTransition(model, { rank: SELF.rank, seed: 7 })[0];
      let term = 0;
      try {
        for (const [index, label] of path.entries()) {
          const where = `path ${path.join(' > ')} at step ${index}`;
          const event = eventsFor(expected).find((candidate) => labelOf(candidate) === label);
          if (event === undefined) {
            infeasible += 1;
            break;
          }
          expected = transition(model, expected, event as NodeEvent)[0];
          const before = node.actor.getSnapshot();
          const sentBefore = node.sent.length;
          const emittedBefore = node.emitted.length;
          if (event.type.startsWith('xstate.after.')) {
            // Do not send the timer event: let the real timer fire on the clock.
            node.clock.increment(longestTimer(stateName(before), before.context.members.length));
          } else if (event.type === 'startElection' || event.type === 'resign') node.actor.send(event as NodeEvent);
          else node.deliver(event as NodeEvent);

          const after = node.actor.getSnapshot();
          const sent = node.sent.slice(sentBefore);
          const emitted = node.emitted.slice(emittedBefore);
          expect(after.value, where).toEqual(expected.value);
          expect(after.context.leader, where).toEqual(expected.context.leader);
          assertState(after, sent, emitted, where);
          expect(after.context.term, `${where}: terms only grow`).toBeGreaterThanOrEqual(term);
          term = after.context.term;
          checkedSteps += 1;
        }
      } finally {
        node.actor.stop();
      }
    }
    console.log(`model: ${shortest.length} states, ${paths.length} paths, ${checkedSteps} steps replayed, ${infeasible} paths infeasible`);
    expect(infeasible).toBeLessThan(paths.length / 10);
    expect(checkedSteps).toBeGreaterThan(500);
  });
});

function assertState(snapshot: Snapshot, sent: ClientFrame[], emitted: NodeEmitted[], where: string): void {
  const { context } = snapshot;
  const state = stateName(snapshot);

  // Whatever the state: a completed election names the highest (rank, id) live entry.
  for (const event of emitted) {
    if (event.type !== 'electionCompleted') continue;
    const live = new Set([...context.members, context.id!]);
    const expected = highestCandidate(event.eligible.filter((entry) => live.has(entry.id)));
    expect({ id: event.winner.id, rank: event.winner.rank }, `${where}: winner of term ${event.term}`).toEqual(expected);
    expect(context.leader, `${where}: the completing node follows the winner`).toEqual(event.winner);
    expect(sent, `${where}: the completing node announces the winner`).toContainEqual({
      type: 'newLeader',
      to: 'all',
      leaderId: event.winner.id,
      rank: event.winner.rank,
      term: event.winner.term,
    });
  }

  switch (state) {
    case 'disconnected':
      expect(context.round, `${where}: a disconnected node runs no lap`).toBeNull();
      expect(sent, `${where}: nothing is sent while disconnected`).toEqual([]);
      break;
    case 'follower':
    case 'checking':
      expect(context.leader, `${where}: a follower knows a leader`).not.toBeNull();
      expect(context.leader!.id, `${where}: a follower does not follow itself`).not.toBe(context.id);
      for (const frame of sent.filter((frame) => frame.type === 'checkLeader')) {
        expect(state, `${where}: only checking asks the leader`).toBe('checking');
        expect(frame, `${where}: checking asks the leader`).toEqual({
          type: 'checkLeader',
          to: context.leader!.id,
          nonce: String(context.nonce),
        });
      }
      break;
    case 'awaiting':
      expect(sent.filter((frame) => frame.type === 'election'), `${where}: awaiting starts nothing`).toEqual([]);
      break;
    case 'electing': {
      expect(context.round, `${where}: electing has a lap under way`).not.toBeNull();
      const lap = sent.filter((frame): frame is ElectionFrame => frame.type === 'election');
      if (lap.length > 0) expect(lap.at(-1)!.term, `${where}: the frame sent is the lap's`).toBe(context.round!.term);
      expect(context.term, `${where}: the lap's term is the newest known`).toBe(context.round!.term);
      break;
    }
    case 'leader':
      expect(context.leader, `${where}: a leader names itself, with its own rank`).toEqual({ id: context.id, rank: context.rank, term: context.leader!.term });
      break;
    default:
      throw new Error(`${where}: unexpected state ${state}`);
  }
}
