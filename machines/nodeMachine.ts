/**
 * One ring member as a statechart. It decides; the invoked `relay` actor only carries frames.
 *
 *   disconnected ──welcome──▶ online ─┬─ follower ──checkInterval──▶ checking ──leaderTimeout──▶ electing
 *        ▲                            ├─ awaiting (leader gone, someone else takes over; backup timer)
 *        └──────relay.closed──────────┼─ electing (a lap is under way; electionTimeout restarts it)
 *                                     └─ leader
 *
 * Timers are XState delays (visible in the inspector, driven by a SimulatedClock in tests);
 * their jitter comes from a seeded PRNG kept in context so the machine stays pure.
 */
import { assign, emit, enqueueActions, fromCallback, sendTo, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { decideElection, initiateElection, supersedes, type ElectionDecision, type ElectionRound, type ElectionView } from './election.js';
import type {
  AnswerLeaderFrame,
  Candidate,
  CheckLeaderFrame,
  ClientFrame,
  ClientId,
  ElectionFrame,
  ErrorFrame,
  LeaderInfo,
  NewLeaderFrame,
  RingFrame,
  WelcomeFrame,
} from './protocol.js';
import { jittered } from './random.js';
import { applyRingChange, successorOf } from './ring.js';

export interface NodeTiming {
  /** How often a follower asks the leader whether it is alive (CHECK_INTERVAL_MS). */
  checkIntervalMs: number;
  /** How long a follower waits for `answerLeader` before it starts an election (LEADER_TIMEOUT_MS). */
  leaderTimeoutMs: number;
  /** How long a lap may take before the node starts a fresh one (ELECTION_TIMEOUT_MS), on top of `electionHopMs` per member. */
  electionTimeoutMs: number;
  /**
   * Time allowed per ring member on top of `electionTimeoutMs`: a lap visits every member, so a
   * fixed timeout that suits 5 nodes would restart (and so never finish) every lap of 1000.
   */
  electionHopMs: number;
  /** Spread of every timer, as a fraction of its base (0.2 = ±20%). */
  jitter: number;
}

export const DEFAULT_TIMING: NodeTiming = {
  checkIntervalMs: 1000,
  leaderTimeoutMs: 5000,
  electionTimeoutMs: 3000,
  electionHopMs: 20,
  jitter: 0.2,
};

/** How long a node waits for a lap over `members` members to finish, before jitter. */
export function electionTimeoutFor(timing: NodeTiming, members: number): number {
  return timing.electionTimeoutMs + timing.electionHopMs * Math.max(1, members);
}

export interface NodeInput {
  rank: number;
  /** Seed of the node's jitter; any integer. */
  seed: number;
  timing?: Partial<NodeTiming>;
}

export interface NodeContext {
  rank: number;
  timing: NodeTiming;
  /** Assigned by the relay in `welcome`; kept across reconnects so it can be resumed. */
  id: ClientId | null;
  members: ClientId[];
  leader: LeaderInfo | null;
  /** Highest term seen in any frame. */
  term: number;
  round: ElectionRound | null;
  /** False while this node hands leadership off after `resign`. */
  standing: boolean;
  /** Counter behind `checkLeader` nonces; the pending one is `String(nonce)`. */
  nonce: number;
  random: number;
  /** The jittered delay of the timer the current state is about to start. */
  nextDelay: number;
}

/** What the relay connection tells the machine: a frame from the relay, or that the socket closed. */
export type RelayConnectionEvent = WelcomeFrame | RingFrame | ErrorFrame | ClientFrame | { type: 'relay.closed'; reason?: string };

/** Commands from outside: the inspector's button, and the library's resign. */
export type ControlEvent = { type: 'startElection' } | { type: 'resign' };

export type NodeEvent = RelayConnectionEvent | ControlEvent;

/** What the machine asks of the relay connection. */
export type RelayCommand = { type: 'send'; frame: ClientFrame };

/** Domain events for adapters: logs, the library's callbacks, the inspector's timeline. */
export type NodeEmitted =
  | { type: 'electionStarted'; term: number; initiator: ClientId; reason: ElectionReason }
  | { type: 'electionCompleted'; term: number; winner: LeaderInfo; eligible: Candidate[] }
  | { type: 'leaderChanged'; leader: LeaderInfo; previous: LeaderInfo | null }
  | { type: 'leadershipAcquired'; term: number }
  | { type: 'leadershipLost'; term: number }
  | { type: 'membershipChanged'; members: ClientId[]; joined?: ClientId; left?: ClientId }
  | { type: 'frameDropped'; frame: ElectionFrame; reason: string }
  | { type: 'relayError'; code: string; detail: string };

export type ElectionReason = 'leaderLeft' | 'memberLeft' | 'leaderTimeout' | 'electionTimeout' | 'noLeader' | 'requested' | 'resign';

/** The placeholder connection: hosts must `.provide()` a real one (node/) or a simulated one (sim/, tests). */
const missingRelayConnection = fromCallback<RelayCommand>(() => {
  throw new Error('nodeMachine needs a relayConnection actor: provide one with nodeMachine.provide({ actors: { relayConnection } })');
});

/** Hands one frame to the invoked relay connection. */
function sendFrame(frame: ClientFrame) {
  return sendTo<NodeContext, NodeEvent, undefined, AnyActorRef, NodeEvent>('relay', { type: 'send', frame } satisfies RelayCommand);
}

function viewOf(context: NodeContext): ElectionView {
  return {
    self: { id: context.id ?? '', rank: context.rank },
    members: context.members,
    term: context.term,
    leader: context.leader,
    round: context.round,
    standing: context.standing,
  };
}

/**
 * One `election` event is looked at by up to three guards and then one action, all with the same
 * context: decide once per (event, context) so a hop costs one pass over `eligible`, not four.
 */
const decisions = new WeakMap<object, { context: NodeContext; decision: ElectionDecision }>();

function electionDecision(context: NodeContext, event: NodeEvent): ElectionDecision | null {
  if (event.type !== 'election' || context.id === null) return null;
  const cached = decisions.get(event);
  if (cached !== undefined && cached.context === context) return cached.decision;
  const decision = decideElection(viewOf(context), event);
  decisions.set(event, { context, decision });
  return decision;
}

function announcedLeader(event: NodeEvent): LeaderInfo | null {
  return event.type === 'newLeader' ? { id: event.leaderId, rank: event.rank, term: event.term } : null;
}

/**
 * Whom a node follows after `welcome`. Ids outlive processes (a relay restart hands out `n1`
 * again; a refused `?resume=` gives a new one), so a leader named by id alone may be someone
 * else: a claim naming the node's own id counts only if the node kept its id and remembers
 * leading itself. Between the node's memory and the relay's, the later term wins, and on a tie
 * the relay's (the ring has been following it while this node was away).
 */
export function leaderAfterWelcome(context: Pick<NodeContext, 'id' | 'leader'>, welcome: WelcomeFrame): LeaderInfo | null {
  const resumed = context.id !== null && context.id === welcome.clientId;
  const selfClaim = (leader: LeaderInfo | null) => leader !== null && (leader.id === context.id || leader.id === welcome.clientId);
  let known = context.leader;
  if (selfClaim(known) && !(resumed && known!.id === welcome.clientId)) known = null;
  let told = welcome.leader;
  if (told !== null && told.id === welcome.clientId && !(resumed && known !== null && known.id === told.id && known.term === told.term)) told = null;
  if (known === null) return told;
  if (told === null) return known;
  return told.term >= known.term ? told : known;
}

export const nodeMachine = setup({
  types: {
    context: {} as NodeContext,
    events: {} as NodeEvent,
    input: {} as NodeInput,
    emitted: {} as NodeEmitted,
  },
  actors: {
    relayConnection: missingRelayConnection,
  },
  delays: {
    checkInterval: ({ context }) => context.nextDelay,
    leaderTimeout: ({ context }) => context.timing.leaderTimeoutMs,
    electionTimeout: ({ context }) => context.nextDelay,
    backupTimeout: ({ context }) => context.nextDelay,
  },
  guards: {
    isLeaderSelf: ({ context }) => context.leader !== null && context.leader.id === context.id,
    knowsLiveLeader: ({ context }) => context.leader !== null && context.members.includes(context.leader.id),
    completesElectionAsWinner: ({ context, event }) => {
      const decision = electionDecision(context, event);
      return decision?.kind === 'complete' && decision.winner.id === context.id;
    },
    completesElection: ({ context, event }) => electionDecision(context, event)?.kind === 'complete',
    forwardsElection: ({ context, event }) => electionDecision(context, event)?.kind === 'forward',
    /** My win, announced by the node that completed the lap: my id and rank, in a term whose frame I joined. */
    announcesSelf: ({ context, event }) => {
      const leader = announcedLeader(event);
      return (
        leader !== null &&
        leader.id === context.id &&
        leader.rank === context.rank &&
        context.round?.term === leader.term &&
        supersedes(leader, context.leader)
      );
    },
    /** The leader this node already knows, announcing itself again after it reconnected. */
    reannouncesKnownLeader: ({ context, event }) => {
      const leader = announcedLeader(event);
      return leader !== null && leader.id !== context.id && leader.id === context.leader?.id && leader.term === context.leader.term;
    },
    announcesOther: ({ context, event }) => {
      const leader = announcedLeader(event);
      return leader !== null && leader.id !== context.id && supersedes(leader, context.leader);
    },
    leaderLeftAndITakeOver: ({ context, event }) =>
      event.type === 'ring' &&
      event.left !== undefined &&
      event.left === context.leader?.id &&
      successorOf(context.members, event.left, applyRingChange(context.members, event)) === context.id,
    leaderLeft: ({ context, event }) =>
      event.type === 'ring' && event.left !== undefined && event.left === context.leader?.id,
    /** A member left while a lap was under way: its successor restarts, in case the frame died with it. */
    laneBrokenAndITakeOver: ({ context, event }) =>
      event.type === 'ring' &&
      event.left !== undefined &&
      successorOf(context.members, event.left, applyRingChange(context.members, event)) === context.id,
    isAnswerFromLeader: ({ context, event }) =>
      event.type === 'answerLeader' && event.from === context.leader?.id && event.nonce === String(context.nonce),
    canHandOff: ({ context }) => context.members.some((member) => member !== context.id),
  },
  actions: {
    rememberWelcome: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'welcome') return;
      const leader = leaderAfterWelcome(context, event);
      if (leader !== context.leader && leader !== null) enqueue.emit({ type: 'leaderChanged', leader, previous: context.leader });
      enqueue.assign({
        id: event.clientId,
        members: event.members,
        leader,
        term: Math.max(context.term, leader?.term ?? 0, event.leader?.term ?? 0),
        round: null,
        standing: true,
      });
    }),
    rememberMembers: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ring') return;
      const members = applyRingChange(context.members, event);
      enqueue.emit({
        type: 'membershipChanged',
        members,
        ...(event.joined === undefined ? {} : { joined: event.joined }),
        ...(event.left === undefined ? {} : { left: event.left }),
      });
      enqueue.assign({ members });
    }),
    forgetRound: assign({ round: null }),

    adoptAnnouncedLeader: enqueueActions(({ context, event, enqueue }) => {
      const leader = announcedLeader(event);
      if (leader === null || !supersedes(leader, context.leader)) return;
      enqueue.emit({ type: 'leaderChanged', leader, previous: context.leader });
      enqueue.assign({
        leader,
        term: Math.max(context.term, leader.term),
        round: context.round !== null && context.round.term > leader.term ? context.round : null,
        standing: true,
      });
    }),

    startElection: enqueueActions(({ context, enqueue }, reason: ElectionReason) => {
      // A resigning node stands aside, unless nobody is left to hand off to.
      const standing = context.standing || context.members.every((member) => member === context.id);
      const { frame, round } = initiateElection({ ...viewOf(context), standing });
      enqueue.emit({ type: 'electionStarted', term: round.term, initiator: round.initiator, reason });
      enqueue.assign({ round, term: round.term, standing });
      enqueue(sendFrame(frame));
    }),
    standAside: assign({ standing: false }),

    passElectionOn: enqueueActions(({ context, event, enqueue }) => {
      const decision = electionDecision(context, event);
      if (decision?.kind !== 'forward') return;
      enqueue.assign({ round: decision.round, term: Math.max(context.term, decision.round.term) });
      enqueue(sendFrame(decision.frame));
    }),
    completeElection: enqueueActions(({ context, event, enqueue }) => {
      const decision = electionDecision(context, event);
      if (decision?.kind !== 'complete') return;
      const { winner } = decision;
      enqueue.emit({ type: 'electionCompleted', term: winner.term, winner, eligible: decision.eligible });
      enqueue.emit({ type: 'leaderChanged', leader: winner, previous: context.leader });
      enqueue.assign({ leader: winner, term: Math.max(context.term, winner.term), round: null, standing: true });
      enqueue(sendFrame({ type: 'newLeader', to: 'all', leaderId: winner.id, rank: winner.rank, term: winner.term }));
    }),
    reportDroppedElection: enqueueActions(({ context, event, enqueue }) => {
      const decision = electionDecision(context, event);
      if (event.type === 'election' && decision?.kind === 'drop') {
        enqueue.emit({ type: 'frameDropped', frame: event, reason: decision.reason });
      }
    }),

    announceSelf: enqueueActions(({ context, enqueue }) => {
      if (context.leader === null) return;
      const { id, rank, term } = context.leader;
      enqueue(sendFrame({ type: 'newLeader', to: 'all', leaderId: id, rank, term }));
    }),
    askLeader: enqueueActions(({ context, enqueue }) => {
      if (context.leader === null) return;
      const nonce = context.nonce + 1;
      enqueue.assign({ nonce });
      enqueue(sendFrame({ type: 'checkLeader', to: context.leader.id, nonce: String(nonce) }));
    }),
    answerCheck: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'checkLeader' || event.from === undefined || context.leader === null) return;
      enqueue(sendFrame({ type: 'answerLeader', to: event.from, nonce: event.nonce, term: context.leader.term }));
    }),
    /** A follower asked by someone who thinks it leads tells them who does. */
    redirectCheck: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'checkLeader' || event.from === undefined) return;
      const leader = context.leader;
      if (leader === null || leader.id === context.id || leader.id === event.from) return;
      enqueue(sendFrame({ type: 'newLeader', to: event.from, leaderId: leader.id, rank: leader.rank, term: leader.term }));
    }),
    reportRelayError: emit(({ event }) =>
      event.type === 'error'
        ? { type: 'relayError' as const, code: event.code, detail: event.detail }
        : { type: 'relayError' as const, code: 'unexpected', detail: event.type },
    ),

    jitterCheck: assign(({ context }) => {
      const next = jittered(context.timing.checkIntervalMs, context.timing.jitter, context.random);
      return { nextDelay: next.delay, random: next.state };
    }),
    jitterElection: assign(({ context }) => {
      const next = jittered(electionTimeoutFor(context.timing, context.members.length), context.timing.jitter, context.random);
      return { nextDelay: next.delay, random: next.state };
    }),
    announceLeadership: emit(({ context }) => ({ type: 'leadershipAcquired' as const, term: context.leader?.term ?? context.term })),
    renounceLeadership: emit(({ context }) => ({ type: 'leadershipLost' as const, term: context.leader?.term ?? context.term })),
  },
}).createMachine({
  id: 'node',
  context: ({ input }) => ({
    rank: input.rank,
    timing: { ...DEFAULT_TIMING, ...input.timing },
    id: null,
    members: [],
    leader: null,
    term: 0,
    round: null,
    standing: true,
    nonce: 0,
    random: input.seed | 0,
    nextDelay: 0,
  }),
  invoke: { id: 'relay', src: 'relayConnection' },
  initial: 'disconnected',
  states: {
    disconnected: {
      on: {
        welcome: { target: 'online.route', actions: 'rememberWelcome' },
      },
    },
    online: {
      initial: 'route',
      on: {
        'relay.closed': { target: 'disconnected', actions: 'forgetRound' },
        startElection: { target: '.electing', reenter: true, actions: { type: 'startElection', params: 'requested' } },
        newLeader: [
          { guard: 'announcesSelf', target: '.leader', actions: 'adoptAnnouncedLeader' },
          { guard: 'announcesOther', target: '.follower', actions: 'adoptAnnouncedLeader' },
        ],
        election: [
          { guard: 'completesElectionAsWinner', target: '.leader', actions: 'completeElection' },
          { guard: 'completesElection', target: '.follower', actions: 'completeElection' },
          { guard: 'forwardsElection', target: '.electing', reenter: true, actions: 'passElectionOn' },
          { actions: 'reportDroppedElection' },
        ],
        ring: [
          {
            guard: 'leaderLeftAndITakeOver',
            target: '.electing',
            reenter: true,
            actions: ['rememberMembers', { type: 'startElection', params: 'leaderLeft' }],
          },
          { guard: 'leaderLeft', target: '.awaiting', actions: 'rememberMembers' },
          { actions: 'rememberMembers' },
        ],
        checkLeader: { actions: 'redirectCheck' },
        error: { actions: 'reportRelayError' },
      },
      states: {
        /**
         * Transient: picks the state that fits what `welcome` told us. A node that finds itself
         * alone does not elect itself at once: the relay may just have restarted, and members that
         * know newer terms (or lead) may still be reconnecting; `awaiting` gives them a backup
         * timer's worth of time to come back and re-announce the leader.
         */
        route: {
          always: [
            { guard: 'isLeaderSelf', target: 'leader', actions: 'announceSelf' },
            { guard: 'knowsLiveLeader', target: 'follower' },
            { target: 'awaiting' },
          ],
        },
        follower: {
          entry: 'jitterCheck',
          after: { checkInterval: { target: 'checking', actions: 'askLeader' } },
        },
        checking: {
          on: { answerLeader: { guard: 'isAnswerFromLeader', target: 'follower' } },
          after: { leaderTimeout: { target: 'electing', actions: { type: 'startElection', params: 'leaderTimeout' } } },
        },
        /** The leader is gone or unknown and another node is expected to act; a backup timer covers it not doing so. */
        awaiting: {
          entry: 'jitterElection',
          on: {
            newLeader: { guard: 'reannouncesKnownLeader', target: 'follower' },
            ring: [
              {
                guard: 'laneBrokenAndITakeOver',
                target: 'electing',
                actions: ['rememberMembers', { type: 'startElection', params: 'memberLeft' }],
              },
              { actions: 'rememberMembers' },
            ],
          },
          after: { backupTimeout: { target: 'electing', actions: { type: 'startElection', params: 'noLeader' } } },
        },
        electing: {
          entry: 'jitterElection',
          on: {
            ring: [
              {
                guard: 'laneBrokenAndITakeOver',
                target: 'electing',
                reenter: true,
                actions: ['rememberMembers', { type: 'startElection', params: 'memberLeft' }],
              },
              { actions: 'rememberMembers' },
            ],
          },
          after: {
            electionTimeout: {
              target: 'electing',
              reenter: true,
              actions: { type: 'startElection', params: 'electionTimeout' },
            },
          },
        },
        leader: {
          entry: 'announceLeadership',
          exit: 'renounceLeadership',
          on: {
            checkLeader: { actions: 'answerCheck' },
            resign: { guard: 'canHandOff', target: 'electing', actions: ['standAside', { type: 'startElection', params: 'resign' }] },
          },
        },
      },
    },
  },
});

export type NodeMachine = typeof nodeMachine;
export type NodeActor = ActorRefFrom<NodeMachine>;
