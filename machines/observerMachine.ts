/**
 * A watcher of a ring (`?role=observer`) as a statechart: it never stands, never forwards, never
 * leads; it keeps the ring's members and the leader from `welcome`, `ring` and `newLeader`, and
 * holds the same lease on its link as a node (machines/lease.ts), so a relay that goes silent is
 * noticed and the link is dropped and redialled.
 *
 *   disconnected ──welcome──▶ watching ──relay.closed / lease.expired──▶ disconnected
 *        └─────────────── close ──────────────▶ closed
 *
 * What it calls the leader is what a member would name: the newest announced leader, while it is
 * a member of the ring.
 */
import { assign, enqueueActions, fromCallback, sendTo, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { supersedes } from './election.js';
import { endsHandshake, endsLease, HEARTBEAT_TIMER, leaseOnConnecting, leaseOnLinkGone, leaseOnPing, leaseOnPong, leaseOnWelcome, NO_LEASE, type LeaseState } from './lease.js';
import { MemberList } from './memberList.js';
import { heartbeatIntervalOf, leaderAfterWelcome, resolveTiming, type NodeTiming, type RelayCommand, type RelayConnectionEvent } from './nodeMachine.js';
import { MAX_TERM, type ClientId, type LeaderInfo } from './protocol.js';
import { applyRingChange } from './ring.js';

export interface ObserverInput {
  timing?: Partial<Pick<NodeTiming, 'leaderTimeoutMs' | 'heartbeatTimeoutMs'>>;
}

export interface ObserverContext extends LeaseState {
  timing: NodeTiming;
  id: ClientId | null;
  members: MemberList;
  /** The newest leader announced (it may have left since: see `watchedLeaderOf`). */
  leader: LeaderInfo | null;
  term: number;
}

export type ObserverEvent =
  | RelayConnectionEvent
  | { type: 'close' }
  | { type: 'heartbeat' }
  | { type: 'lease.expired'; seq: number };

export type ObserverEmitted =
  | { type: 'leaderChanged'; leader: LeaderInfo; previous: LeaderInfo | null }
  /** The leader left the ring and nobody leads yet. */
  | { type: 'leaderGone'; leader: LeaderInfo }
  | { type: 'leaseLapsed'; seq: number };

/** The leader an observer names: the newest announced, while it is a member. */
export function watchedLeaderOf(context: Pick<ObserverContext, 'leader' | 'members'>): LeaderInfo | null {
  return context.leader !== null && context.members.has(context.leader.id) ? context.leader : null;
}

const missingRelayConnection = fromCallback<RelayCommand>(() => {
  throw new Error('observerMachine needs a relayConnection actor: provide one with observerMachine.provide({ actors: { relayConnection } })');
});

function command(relayCommand: RelayCommand) {
  return sendTo<ObserverContext, ObserverEvent, undefined, AnyActorRef, ObserverEvent>('relay', relayCommand);
}

export const observerMachine = setup({
  types: {
    context: {} as ObserverContext,
    events: {} as ObserverEvent,
    input: {} as ObserverInput,
    emitted: {} as ObserverEmitted,
  },
  actors: { relayConnection: missingRelayConnection },
  guards: {
    isLeaseEnd: ({ context, event }) => event.type === 'lease.expired' && endsLease(context, event.seq),
    isHandshakeLeaseEnd: ({ context, event }) => event.type === 'lease.expired' && endsHandshake(context, event.seq),
    /** A newer leader, of a term an election could still follow. */
    isNewerLeader: ({ context, event }) =>
      event.type === 'newLeader' && event.term < MAX_TERM && supersedes({ id: event.leaderId, rank: event.rank, term: event.term }, context.leader),
    leaderLeft: ({ context, event }) => event.type === 'ring' && event.left !== undefined && event.left === context.leader?.id,
  },
  actions: {
    startHandshakeLease: enqueueActions(({ context, enqueue }) => leaseOnConnecting(context, enqueue)),
    /** The upgrade request's lease ran out (`endsHandshake`): nothing is waiting for a welcome any more. */
    endHandshake: assign({ handshaking: false }),
    rememberWelcome: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'welcome') return;
      const members = MemberList.from(event.members);
      // An observer never leads: no claim names it, so the node's rule picks the relay's view or its own memory.
      const leader = leaderAfterWelcome({ id: null, leader: context.leader, term: context.term }, event);
      leaseOnWelcome(context, enqueue);
      enqueue.assign({ id: event.clientId, members, leader, term: Math.max(context.term, event.term ?? 0, leader?.term ?? 0) });
      const named = watchedLeaderOf({ leader, members });
      if (named !== null && leader !== context.leader) enqueue.emit({ type: 'leaderChanged', leader: named, previous: context.leader });
      enqueue.raise({ type: 'heartbeat' }, { delay: heartbeatIntervalOf(context.timing), id: HEARTBEAT_TIMER });
    }),
    rememberMembers: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'ring') enqueue.assign({ members: applyRingChange(context.members, event) });
      if (event.type === 'ring.joined') enqueue.assign({ members: event.ids.reduce((members, id) => members.withJoined(id), context.members) });
    }),
    reportLeaderGone: enqueueActions(({ context, enqueue }) => {
      if (context.leader !== null) enqueue.emit({ type: 'leaderGone', leader: context.leader });
    }),
    adoptLeader: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'newLeader') return;
      const leader: LeaderInfo = { id: event.leaderId, rank: event.rank, term: event.term, ...(event.meta === undefined ? {} : { meta: event.meta }) };
      enqueue.assign({ leader, term: Math.max(context.term, leader.term) });
      if (watchedLeaderOf({ leader, members: context.members }) !== null) enqueue.emit({ type: 'leaderChanged', leader, previous: context.leader });
    }),
    ping: enqueueActions(({ context, enqueue }) => {
      enqueue(command({ type: 'ping', seq: leaseOnPing(context, enqueue) }));
      enqueue.raise({ type: 'heartbeat' }, { delay: heartbeatIntervalOf(context.timing), id: HEARTBEAT_TIMER });
    }),
    confirmPing: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'relay.pong') leaseOnPong(context, event.seq, enqueue);
    }),
    stopLinkTimers: enqueueActions(({ context, enqueue }) => leaseOnLinkGone(context, enqueue)),
    dropLink: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'leaseLapsed', seq: context.confirmedSeq });
      enqueue(command({ type: 'drop' }));
    }),
    closeLink: command({ type: 'close' }),
  },
}).createMachine({
  id: 'observer',
  context: ({ input }) => ({
    ...NO_LEASE,
    timing: resolveTiming(input.timing),
    id: null,
    members: MemberList.EMPTY,
    leader: null,
    term: 0,
  }),
  invoke: { id: 'relay', src: 'relayConnection' },
  initial: 'disconnected',
  on: {
    close: '.closed',
  },
  states: {
    disconnected: {
      entry: 'stopLinkTimers',
      on: {
        'relay.connecting': { actions: 'startHandshakeLease' },
        // As for a node: a handshake that takes a whole lease is dropped and dialled again.
        'lease.expired': { guard: 'isHandshakeLeaseEnd', actions: ['endHandshake', 'dropLink'] },
        welcome: { target: 'watching', actions: 'rememberWelcome' },
      },
    },
    watching: {
      on: {
        'relay.closed': 'disconnected',
        'lease.expired': { guard: 'isLeaseEnd', target: 'disconnected', actions: 'dropLink' },
        heartbeat: { actions: 'ping' },
        'relay.pong': { actions: 'confirmPing' },
        ring: [
          { guard: 'leaderLeft', actions: ['rememberMembers', 'reportLeaderGone'] },
          { actions: 'rememberMembers' },
        ],
        'ring.joined': { actions: 'rememberMembers' },
        newLeader: { guard: 'isNewerLeader', actions: 'adoptLeader' },
      },
    },
    closed: {
      type: 'final',
      entry: ['stopLinkTimers', 'closeLink'],
    },
  },
});

export type ObserverMachine = typeof observerMachine;
export type ObserverActor = ActorRefFrom<ObserverMachine>;
