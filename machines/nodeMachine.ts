/**
 * One ring member as a statechart. It decides; the invoked `relay` actor only carries frames and
 * reports facts (the upgrade went out, a frame came, a pong came back, the socket closed).
 *
 *   disconnected ──welcome──▶ online ─┬─ follower ──checkInterval──▶ checking ──leaderTimeout──▶ electing
 *        ▲   │                        ├─ awaiting (leader gone, someone else takes over; backup timer)
 *        │   └──leave──▶ left         ├─ electing (a lap is under way; electionTimeout restarts it)
 *        │                            ├─ leader
 *        └─ relay.closed /            └─ handingOff (leaving: a resign lap, then left)
 *           lease.expired
 *
 * The lease. A node may only act on what it knows while its link to the relay demonstrably works
 * both ways. Every `heartbeat` it asks the connection to ping the relay with a sequence number and
 * sets a timer (`lease.expired`) for that ping, `heartbeatTimeoutMs` out; the pong confirms the
 * link worked when that ping was sent. When the timer of the latest confirmed ping fires, no round
 * trip has been confirmed for a whole lease: the node drops the link and goes to `disconnected`,
 * so a leader stops leading before the relay can have dropped it (docs/GUARANTEES.md).
 *
 * Election frames are judged by one rule (machines/election.ts): the guards of the `election`
 * transitions read its outcome, the chosen transition's action its whole verdict (`judgmentOf`),
 * from the same context; each outcome is a transition of its own. No state outside the context.
 *
 * Timers are XState delays (visible in the inspector, driven by a SimulatedClock in tests); their
 * jitter comes from a seeded PRNG kept in context, so the machine stays pure.
 */
import { assign, emit, enqueueActions, fromCallback, not, raise, sendTo, setup, type ActorRefFrom, type AnyActorRef } from 'xstate';
import { decideElection, electionOutcome, initiateElection, supersedes, type DropReason, type ElectionOutcome, type ElectionRound, type ElectionView } from './election.js';
import {
  MAX_TERM,
  type AnswerLeaderFrame,
  type Candidate,
  type CheckLeaderFrame,
  type ClientFrame,
  type ClientId,
  type ElectionFrame,
  type ErrorFrame,
  type LeaderInfo,
  type Meta,
  type NewLeaderFrame,
  type RingFrame,
  type WelcomeFrame,
} from './protocol.js';
import { jittered } from './random.js';
import { endsHandshake, endsLease, HEARTBEAT_TIMER, leaseOnConnecting, leaseOnLinkGone, leaseOnPing, leaseOnPong, leaseOnWelcome, type LeaseState } from './lease.js';
import { MemberList } from './memberList.js';
import { applyRingChange, successorOf } from './ring.js';
import { electionTimeoutFor, handOffTimeoutFor, heartbeatIntervalOf, resolveTiming, timingAfterWelcome, type NodeTiming } from './timing.js';

export {
  DEFAULT_TIMING,
  electionTimeoutFor,
  handOffTimeoutFor,
  heartbeatIntervalOf,
  resolveTiming,
  type NodeTiming,
} from './timing.js';

export interface NodeInput {
  rank: number;
  /** What this node gave the relay as its metadata (`?meta=`), which the relay stamps on its announcements. */
  meta?: Meta | undefined;
  /** Seed of the node's jitter; any integer. */
  seed: number;
  timing?: Partial<NodeTiming>;
}

export interface NodeContext extends LeaseState {
  rank: number;
  /** This node's own metadata, as the relay has it: what the ring is told when this node leads. */
  meta: Meta | undefined;
  /** The timing in force: the host's, then the relay's leader timeout from each `welcome.timing`. */
  timing: NodeTiming;
  /**
   * The lease the host fixed (`timing.heartbeatTimeoutMs` given), or null when it is derived from
   * the leader timeout and so follows the relay's. A fixed lease the relay's heartbeat would not
   * outlast is refused at `welcome` (machines/timing.ts, `timingAfterWelcome`).
   */
  fixedLeaseMs: number | null;
  /** Assigned by the relay in `welcome`; kept across reconnects so it can be resumed. */
  id: ClientId | null;
  /** Ring order, as `welcome` and each `ring` change told it. */
  members: MemberList;
  /** The newest leader this node knows of (it may have left since: see `liveLeaderOf`). */
  leader: LeaderInfo | null;
  /**
   * Set while `leader` is one this node's own lap chose and has not reported yet (`leaderChanged`):
   * the report waits for the relay to hand the announcement back, stamped with the leader's
   * metadata, so a program hears of the leader once, with its metadata. `previous` is the leader
   * reported before it.
   */
  unreported: { previous: LeaderInfo | null } | null;
  /** Highest term seen in any frame. */
  term: number;
  round: ElectionRound | null;
  /** False while this node hands leadership off (resign) or leaves: it passes frames on without entering them. */
  standing: boolean;
  /** Set once `leave` was asked for: this node never stands or leads again. */
  leaving: boolean;
  /** Counter behind `checkLeader` nonces; the pending one is `String(nonce)`. */
  nonce: number;
  random: number;
  /** The jittered delay of the timer the current state is about to start. */
  nextDelay: number;
}

/** What the relay connection tells the machine: facts about the link, and frames from the relay. */
export type RelayConnectionEvent =
  | WelcomeFrame
  | RingFrame
  | ErrorFrame
  | ClientFrame
  /** The upgrade request went out: the handshake is the first round trip of the lease. */
  | { type: 'relay.connecting' }
  /** The relay answered ping `seq`. */
  | { type: 'relay.pong'; seq: number }
  | { type: 'relay.closed'; reason?: string }
  /**
   * Several `ring {joined}` frames that arrived together, in order: one event instead of one per
   * frame (a connection may batch what one read of its socket brought; node/relayConnection.ts).
   * A join changes nothing but the member list in any state, so the batch is the same as the
   * frames one by one.
   */
  | { type: 'ring.joined'; ids: ClientId[] };

/** Commands from outside: the inspector's button, and the library's resign and leave. */
export type ControlEvent = { type: 'startElection' } | { type: 'resign' } | { type: 'leave' };

/** Events the machine raises for itself: its link timers. */
export type InternalEvent =
  | { type: 'heartbeat' }
  | { type: 'lease.expired'; seq: number }
;

export type NodeEvent = RelayConnectionEvent | ControlEvent | InternalEvent;

/** What the machine asks of the relay connection. */
export type RelayCommand =
  | { type: 'send'; frame: ClientFrame }
  /** Ping the relay; report the pong as `relay.pong` with this `seq`. */
  | { type: 'ping'; seq: number }
  /** The link is dead: cut it and reconnect. */
  | { type: 'drop' }
  /** Leave for good: close the socket politely and do not reconnect. */
  | { type: 'close' };

/** Domain events for adapters: logs, the library's callbacks, the inspector's timeline. */
export type NodeEmitted =
  | { type: 'electionStarted'; term: number; initiator: ClientId; reason: ElectionReason }
  | { type: 'electionCompleted'; term: number; winner: LeaderInfo; eligible: Candidate[] }
  | { type: 'leaderChanged'; leader: LeaderInfo; previous: LeaderInfo | null }
  | { type: 'leadershipAcquired'; term: number }
  | { type: 'leadershipLost'; term: number }
  | { type: 'membershipChanged'; members: MemberList; joined?: ClientId; left?: ClientId }
  | { type: 'frameDropped'; frame: ElectionFrame; reason: string }
  | { type: 'relayError'; code: string; detail: string }
  /** No round trip confirmed for a whole lease: the link is being dropped. */
  | { type: 'leaseLapsed'; seq: number }
  /** A leaving leader's hand-off lap did not produce another leader in time; it leaves anyway. */
  | { type: 'handOffTimedOut' }
  /** The relay's `welcome.timing` changed this node's leader timeout or lease: it follows the relay's. */
  | { type: 'timingFollowed'; leaderTimeoutMs: number; leaseMs: number; previous: { leaderTimeoutMs: number; leaseMs: number } }
  /** The relay's heartbeat is not longer than this node's fixed lease: it leaves rather than join unsafely. */
  | { type: 'timingRefused'; detail: string }
  /** An election this node was asked to start cannot be held: no term above the highest it knows is left. */
  | { type: 'termsExhausted'; term: number }
  /**
   * A requested election waits: the node is `awaiting`, where a leader the relay does not know
   * (it restarted) may still hold its lease; the backup timer starts the election.
   */
  | { type: 'electionDeferred'; reason: ElectionReason };

export type ElectionReason = 'leaderLeft' | 'memberLeft' | 'leaderTimeout' | 'electionTimeout' | 'noLeader' | 'requested' | 'resign';

/** The placeholder connection: hosts must `.provide()` a real one (node/) or a simulated one (sim/, tests). */
const missingRelayConnection = fromCallback<RelayCommand>(() => {
  throw new Error('nodeMachine needs a relayConnection actor: provide one with nodeMachine.provide({ actors: { relayConnection } })');
});

/** Hands one command to the invoked relay connection. */
function command(relayCommand: RelayCommand) {
  return sendTo<NodeContext, NodeEvent, undefined, AnyActorRef, NodeEvent>('relay', relayCommand);
}

function sendFrame(frame: ClientFrame) {
  return command({ type: 'send', frame });
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

function announcedLeader(event: NodeEvent): LeaderInfo | null {
  if (event.type !== 'newLeader') return null;
  return { id: event.leaderId, rank: event.rank, term: event.term, ...(event.meta === undefined ? {} : { meta: event.meta }) };
}

/** The same leader (id, rank, term), told again with metadata this node did not have. */
function bringsMeta(known: LeaderInfo | null, announced: LeaderInfo | null): boolean {
  return (
    known !== null &&
    announced?.meta !== undefined &&
    announced.id === known.id &&
    announced.rank === known.rank &&
    announced.term === known.term &&
    JSON.stringify(announced.meta) !== JSON.stringify(known.meta)
  );
}

/** The relay's copy of the announcement of `known`, the leader this node's lap chose: same id, rank and term. */
function handsBack(known: LeaderInfo | null, announced: LeaderInfo | null): boolean {
  return known !== null && announced !== null && announced.id === known.id && announced.rank === known.rank && announced.term === known.term;
}

/** The leader a program was last told of (`leaderChanged`): the known one, unless that is not reported yet. */
function lastReported(context: Pick<NodeContext, 'leader' | 'unreported'>): LeaderInfo | null {
  return context.unreported === null ? context.leader : context.unreported.previous;
}

/** A term this node can take on: one it could still start the next election after. */
function followable(term: number): boolean {
  return term < MAX_TERM;
}


/**
 * The leader this node can name to others: the newest it knows, while that leader is a member of
 * the ring (or this node itself). A leader that left is remembered for its term, not named.
 */
export function liveLeaderOf(context: Pick<NodeContext, 'leader' | 'members' | 'id'>): LeaderInfo | null {
  const { leader } = context;
  if (leader === null) return null;
  return leader.id === context.id || context.members.has(leader.id) ? leader : null;
}

/**
 * The leader a program is told of (the library's `leader()`): the last one reported, while it is
 * a member (or this node), so that it changes when `leaderChanged` says so and names the leader
 * with its metadata.
 */
export function reportedLeaderOf(context: Pick<NodeContext, 'leader' | 'unreported' | 'members' | 'id'>): LeaderInfo | null {
  return liveLeaderOf({ leader: lastReported(context), members: context.members, id: context.id });
}

/**
 * Whom a node follows after `welcome`. Ids outlive processes (a relay restart hands out `n1`
 * again; a refused `?resume=` gives a new one), so a leader named by id alone may be someone
 * else: a claim naming the node's own id counts only if the node kept its id, remembers leading
 * itself, and has seen no newer term since (a leader that resigned or passed on a newer lap no
 * longer leads, whatever it remembers). A remembered leader older than the relay's highest term is out of date (an
 * election of a newer term ran or runs while this node was away): it is not followed or
 * reclaimed. Between the node's memory and the relay's, the later term wins, and on a tie the
 * relay's (the ring has been following it while this node was away).
 */
export function leaderAfterWelcome(context: Pick<NodeContext, 'id' | 'leader' | 'term'>, welcome: WelcomeFrame): LeaderInfo | null {
  const resumed = context.id !== null && context.id === welcome.clientId;
  const selfClaim = (leader: LeaderInfo | null) => leader !== null && (leader.id === context.id || leader.id === welcome.clientId);
  let known = context.leader;
  if (selfClaim(known) && !(resumed && known!.id === welcome.clientId && known!.term === context.term)) known = null;
  if (known !== null && welcome.term !== undefined && known.term < welcome.term) known = null;
  let told = welcome.leader;
  if (told !== null && told.id === welcome.clientId && !(resumed && known !== null && known.id === told.id && known.term === told.term)) told = null;
  if (told !== null && !followable(told.term)) told = null;
  if (known === null) return told;
  if (told === null) return known;
  return told.term >= known.term ? told : known;
}

/** The `startElection` action for one reason. */
function startElectionBecause(reason: ElectionReason) {
  return { type: 'startElection', params: reason } as const;
}

/** What one election frame comes to: forwarded, a completed lap, or dropped (and why). */
export type ElectionJudgment =
  | { kind: 'forward'; frame: ElectionFrame; round: ElectionRound }
  | { kind: 'complete'; winner: LeaderInfo; round: ElectionRound; eligible: Candidate[] }
  | { kind: 'drop'; reason: DropReason };

/**
 * The verdict on one election frame in this context. Guards ask only for its kind
 * (`outcomeOf`, which builds nothing); the chosen transition's action asks for the whole verdict
 * here, against the context it runs in. That is the context the guards read: the only actions
 * that run between a guard and the transition's own (exit actions of the states it leaves) emit,
 * and none changes what the rule reads (id, members, term, leader, round, standing).
 */
export function judgmentOf(context: NodeContext, frame: ElectionFrame): ElectionJudgment {
  return followable(frame.term) ? decideElection(viewOf(context), frame) : { kind: 'drop', reason: 'unfollowable' };
}

const UNFOLLOWABLE: ElectionOutcome = { kind: 'drop', reason: 'unfollowable' };

/** For guards: what the frame comes to in this context, without building the forwarded frame. */
function outcomeOf(context: NodeContext, event: NodeEvent): ElectionOutcome | null {
  if (event.type !== 'election') return null;
  return followable(event.term) ? electionOutcome(viewOf(context), event) : UNFOLLOWABLE;
}

type Judged<K extends ElectionJudgment['kind']> = Extract<ElectionJudgment, { kind: K }>;

/** For actions: the frame's verdict, if it is `kind`. */
function verdictOf<K extends ElectionJudgment['kind']>(context: NodeContext, event: NodeEvent, kind: K): Judged<K> | null {
  if (event.type !== 'election') return null;
  const judgment = judgmentOf(context, event);
  return judgment.kind === kind ? (judgment as Judged<K>) : null;
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
    handOffTimeout: ({ context }) => handOffTimeoutFor(context.timing, context.members.length),
  },
  guards: {
    isLeaderSelf: ({ context }) => !context.leaving && context.leader !== null && context.leader.id === context.id,
    knowsLiveLeader: ({ context }) => context.leader !== null && context.members.has(context.leader.id),
    isLeaving: ({ context }) => context.leaving,
    refusesRelayTiming: ({ context, event }) =>
      event.type === 'welcome' && timingAfterWelcome(context.timing, context.fixedLeaseMs, event.timing).kind === 'refuse',
    /**
     * The timer of the latest confirmed ping, or of any later one, ends the lease: a whole lease
     * has passed since the last ping the relay answered. (Timers of older pings were cancelled
     * when a newer pong came; a pong that comes after its ping's timer fired is too late to count.)
     */
    isLeaseEnd: ({ context, event }) => event.type === 'lease.expired' && endsLease(context, event.seq),
    isHandshakeLeaseEnd: ({ context, event }) => event.type === 'lease.expired' && endsHandshake(context, event.seq),
    forwardsElection: ({ context, event }) => outcomeOf(context, event)?.kind === 'forward',
    completesElection: ({ context, event }) => outcomeOf(context, event)?.kind === 'complete',
    wonByMe: ({ context, event }) =>
      !context.leaving && outcomeOf(context, event)?.kind === 'complete' && verdictOf(context, event, 'complete')?.winner.id === context.id,
    /** My win, announced by the node that completed the lap: my id and rank, in a term whose frame I joined. */
    announcesSelf: ({ context, event }) => {
      const leader = announcedLeader(event);
      return (
        leader !== null &&
        !context.leaving &&
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
    bringsLeaderMeta: ({ context, event }) => bringsMeta(context.leader, announcedLeader(event)),
    /** The relay hands back the announcement of the leader this node's lap chose (and has not reported yet). */
    handsBackMyAnnouncement: ({ context, event }) => context.unreported !== null && handsBack(context.leader, announcedLeader(event)),
    announcesOther: ({ context, event }) => {
      const leader = announcedLeader(event);
      return leader !== null && leader.id !== context.id && followable(leader.term) && supersedes(leader, context.leader);
    },
    leaderLeftAndITakeOver: ({ context, event }) =>
      event.type === 'ring' &&
      event.left !== undefined &&
      event.left === context.leader?.id &&
      successorOf(context.members, event.left, applyRingChange(context.members, event)) === context.id,
    memberLeft: ({ event }) => event.type === 'ring' && event.left !== undefined,
    lastOtherLeft: ({ context, event }) =>
      event.type === 'ring' && event.left !== undefined && applyRingChange(context.members, event).every((member) => member === context.id),
    leaderLeft: ({ context, event }) =>
      event.type === 'ring' && event.left !== undefined && event.left === context.leader?.id,
    /** A member left while a lap was under way: its successor restarts, in case the frame died with it. */
    laneBrokenAndITakeOver: ({ context, event }) =>
      event.type === 'ring' &&
      event.left !== undefined &&
      successorOf(context.members, event.left, applyRingChange(context.members, event)) === context.id,
    /**
     * The leader's answer: its id, this check's nonce, and the term this node believes it leads.
     * An answer in another term means this node was told a leadership the leader does not hold (a
     * member announced it in a term the leader never won): no answer, so the leader timeout ends it.
     */
    isAnswerFromLeader: ({ context, event }) =>
      event.type === 'answerLeader' &&
      event.from === context.leader?.id &&
      event.nonce === String(context.nonce) &&
      event.term === context.leader?.term,
    canHandOff: ({ context }) => context.members.some((member) => member !== context.id),
  },
  actions: {
    // ---- the link and its lease (machines/lease.ts has the arithmetic) ----
    startHandshakeLease: enqueueActions(({ context, enqueue }) => leaseOnConnecting(context, enqueue)),
    /** The upgrade request's lease ran out (`endsHandshake`): nothing is waiting for a welcome any more. */
    endHandshake: assign({ handshaking: false }),
    confirmHandshake: enqueueActions(({ context, enqueue }) => leaseOnWelcome(context, enqueue)),
    scheduleHeartbeat: enqueueActions(({ context, enqueue }) => {
      enqueue.raise({ type: 'heartbeat' }, { delay: heartbeatIntervalOf(context.timing), id: HEARTBEAT_TIMER });
    }),
    ping: enqueueActions(({ context, enqueue }) => {
      enqueue(command({ type: 'ping', seq: leaseOnPing(context, enqueue) }));
    }),
    confirmPing: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'relay.pong') leaseOnPong(context, event.seq, enqueue);
    }),
    /**
     * The link is gone (entering `disconnected` or `left`): its timers end, every ping still
     * waiting and the next heartbeat. (Not an exit action of `online`: transitions that restart a
     * substate re-enter `online` without the link going anywhere.)
     */
    stopLinkTimers: enqueueActions(({ context, enqueue }) => leaseOnLinkGone(context, enqueue)),
    /**
     * The lease ran out: cut the link. A leader also forgets that it led: cut off (or frozen) for a
     * whole lease, it cannot know whether the ring has elected someone else meanwhile, so it must
     * not reclaim the lead when it reconnects; the relay's `welcome` tells it who leads.
     */
    dropLink: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'leaseLapsed', seq: context.confirmedSeq });
      if (context.leader !== null && context.leader.id === context.id) enqueue.assign({ leader: null });
      enqueue(command({ type: 'drop' }));
    }),
    closeLink: command({ type: 'close' }),

    // ---- the relay's timing (machines/timing.ts) ----
    followRelayTiming: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'welcome') return;
      const verdict = timingAfterWelcome(context.timing, context.fixedLeaseMs, event.timing);
      if (verdict.kind !== 'follow' || verdict.timing === context.timing) return;
      const { timing } = verdict;
      enqueue.emit({
        type: 'timingFollowed',
        leaderTimeoutMs: timing.leaderTimeoutMs,
        leaseMs: timing.heartbeatTimeoutMs,
        previous: { leaderTimeoutMs: context.timing.leaderTimeoutMs, leaseMs: context.timing.heartbeatTimeoutMs },
      });
      enqueue.assign({ timing });
    }),
    reportTimingRefused: emit(({ context, event }) => {
      const verdict = event.type === 'welcome' ? timingAfterWelcome(context.timing, context.fixedLeaseMs, event.timing) : null;
      return { type: 'timingRefused' as const, detail: verdict?.kind === 'refuse' ? verdict.detail : 'unexpected' };
    }),

    // ---- membership ----
    rememberWelcome: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'welcome') return;
      const leader = leaderAfterWelcome(context, event);
      const members = MemberList.from(event.members);
      const liveNow = liveLeaderOf({ leader, members, id: event.clientId });
      // A leader this node's lap chose is reported now if the link went before the relay handed
      // the announcement back (with the welcome's metadata, when the welcome names it).
      if ((leader !== context.leader || context.unreported !== null) && liveNow !== null) {
        enqueue.emit({ type: 'leaderChanged', leader: liveNow, previous: lastReported(context) });
      }
      // Every term the relay tells counts, followable or not: a node never elects below a term it
      // was told (an unfollowable one leaves it no election to hold: see startElection).
      const relayTerm = Math.min(event.term ?? 0, MAX_TERM);
      const toldTerm = event.leader === null ? 0 : Math.min(event.leader.term, MAX_TERM);
      enqueue.assign({
        id: event.clientId,
        members,
        leader,
        unreported: null,
        term: Math.max(context.term, leader?.term ?? 0, toldTerm, relayTerm),
        round: null,
        standing: !context.leaving,
      });
    }),
    /** A `ring` change, or a batch of joins (`ring.joined`), each told as it is applied. */
    rememberMembers: enqueueActions(({ context, event, enqueue }) => {
      const changes: Array<Pick<RingFrame, 'joined' | 'left'>> =
        event.type === 'ring.joined' ? event.ids.map((joined) => ({ joined })) : event.type === 'ring' ? [event] : [];
      let { members } = context;
      for (const change of changes) {
        members = applyRingChange(members, change);
        const { joined, left } = change;
        enqueue.emit({ type: 'membershipChanged', members, ...(joined === undefined ? {} : { joined }), ...(left === undefined ? {} : { left }) });
      }
      enqueue.assign({ members });
    }),
    forgetRound: assign({ round: null }),
    markLeaving: assign({ leaving: true, standing: false }),

    learnLeaderMeta: enqueueActions(({ context, event, enqueue }) => {
      const announced = announcedLeader(event);
      if (announced === null || context.leader === null) return;
      const leader = { ...context.leader, meta: announced.meta! };
      enqueue.emit({ type: 'leaderChanged', leader, previous: context.leader });
      enqueue.assign({ leader });
    }),
    /** The relay's copy of this node's own announcement: the leader its lap chose, reported now, with its metadata. */
    reportMyAnnouncement: enqueueActions(({ context, event, enqueue }) => {
      const announced = announcedLeader(event);
      if (announced === null || context.unreported === null) return;
      enqueue.emit({ type: 'leaderChanged', leader: announced, previous: context.unreported.previous });
      enqueue.assign({ leader: announced, unreported: null });
    }),
    adoptAnnouncedLeader: enqueueActions(({ context, event, enqueue }) => {
      const leader = announcedLeader(event);
      if (leader === null || !supersedes(leader, context.leader)) return;
      enqueue.emit({ type: 'leaderChanged', leader, previous: lastReported(context) });
      enqueue.assign({
        leader,
        unreported: null,
        term: Math.max(context.term, leader.term),
        round: context.round !== null && context.round.term > leader.term ? context.round : null,
        standing: !context.leaving,
      });
    }),

    // ---- elections ----
    // `params` is an ElectionReason; call sites build it with startElectionBecause(), which checks
    // it (typing it here makes TypeScript lose the types of the whole actions record).
    startElection: enqueueActions(({ context, enqueue }, params: unknown) => {
      const reason = params as ElectionReason;
      // The next term would be one no node follows: holding the election cannot elect anyone, and
      // electing below the term this node knows would send the fencing token backwards.
      if (!followable(context.term + 1)) {
        enqueue.emit({ type: 'termsExhausted', term: context.term });
        return;
      }
      // A resigning leader's lap does not carry it (unless nobody else is in the ring); if that lap
      // fails, its next one does: a ring with a leader that wanted to step down beats one with none.
      // A leaving node never stands.
      const alone = context.members.every((member) => member === context.id);
      const standing = !context.leaving && (reason !== 'resign' || alone);
      const { frame, round } = initiateElection({ ...viewOf(context), standing });
      enqueue.emit({ type: 'electionStarted', term: round.term, initiator: round.initiator, reason });
      enqueue.assign({ round, term: round.term, standing });
      enqueue(sendFrame(frame));
    }),

    passElectionOn: enqueueActions(({ context, event, enqueue }) => {
      const judged = verdictOf(context, event, 'forward');
      if (judged === null) return;
      enqueue.assign({ round: judged.round, term: Math.max(context.term, judged.round.term) });
      enqueue(sendFrame(judged.frame));
    }),
    completeElection: enqueueActions(({ context, event, enqueue }) => {
      const judged = verdictOf(context, event, 'complete');
      if (judged === null) return;
      const { winner } = judged;
      enqueue.emit({ type: 'electionCompleted', term: winner.term, winner, eligible: judged.eligible });
      const announcement = { type: 'newLeader', leaderId: winner.id, rank: winner.rank, term: winner.term } as const;
      const common = { term: Math.max(context.term, winner.term), round: null, standing: !context.leaving };
      if (winner.id === context.id) {
        // Its own win: it knows its own metadata, so it reports the leader now, complete.
        const leader = context.meta === undefined ? winner : { ...winner, meta: context.meta };
        enqueue.emit({ type: 'leaderChanged', leader, previous: lastReported(context) });
        enqueue.assign({ ...common, leader, unreported: null });
        enqueue(sendFrame({ ...announcement, to: 'all' }));
        return;
      }
      // Not reported yet: the relay stamps the winner's metadata on announcements, and this node
      // knows only the winner's id and rank. It addresses a copy to itself, which every relay
      // hands back stamped (when the winner has metadata the copy of the broadcast comes back too;
      // whichever comes first is reported, once).
      enqueue.assign({ ...common, leader: winner, unreported: { previous: lastReported(context) } });
      enqueue(sendFrame({ ...announcement, to: 'all' }));
      if (context.id !== null) enqueue(sendFrame({ ...announcement, to: context.id }));
    }),
    reportDroppedElection: emit(({ context, event }) => {
      const frame = event as ElectionFrame;
      const outcome = outcomeOf(context, event);
      return { type: 'frameDropped' as const, frame, reason: outcome?.kind === 'drop' ? outcome.reason : 'unexpected' };
    }),

    // ---- leadership and checks ----
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
      const leader = liveLeaderOf(context);
      if (leader === null || leader.id === context.id || leader.id === event.from) return;
      enqueue(sendFrame({ type: 'newLeader', to: event.from, leaderId: leader.id, rank: leader.rank, term: leader.term }));
    }),
    reportRelayError: emit(({ event }) =>
      event.type === 'error'
        ? { type: 'relayError' as const, code: event.code, detail: event.detail }
        : { type: 'relayError' as const, code: 'unexpected', detail: event.type },
    ),
    reportHandOffTimeout: emit({ type: 'handOffTimedOut' as const }),

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
    meta: input.meta,
    timing: resolveTiming(input.timing),
    fixedLeaseMs: input.timing?.heartbeatTimeoutMs ?? null,
    id: null,
    members: MemberList.EMPTY,
    leader: null,
    unreported: null,
    term: 0,
    round: null,
    standing: true,
    leaving: false,
    nonce: 0,
    pingSeq: 0,
    confirmedSeq: 0,
    handshaking: false,
    random: input.seed | 0,
    nextDelay: 0,
  }),
  invoke: { id: 'relay', src: 'relayConnection' },
  initial: 'disconnected',
  states: {
    disconnected: {
      entry: 'stopLinkTimers',
      on: {
        'relay.connecting': { actions: 'startHandshakeLease' },
        // The upgrade request's round trip took a whole lease: drop the link and dial again
        // (machines/lease.ts, `endsHandshake`), rather than trust a welcome that may be stale.
        'lease.expired': { guard: 'isHandshakeLeaseEnd', actions: ['endHandshake', 'dropLink'] },
        welcome: [
          // A lease the relay's heartbeat would not outlast cannot be run safely: leave, with the reason.
          { guard: 'refusesRelayTiming', target: 'left', actions: ['reportTimingRefused', 'markLeaving'] },
          { target: 'online', actions: ['followRelayTiming', 'rememberWelcome', 'confirmHandshake', 'scheduleHeartbeat'] },
        ],
        leave: { target: 'left', actions: 'markLeaving' },
      },
    },
    online: {
      initial: 'route',
      on: {
        'relay.closed': { target: 'disconnected', actions: 'forgetRound' },
        'lease.expired': { guard: 'isLeaseEnd', target: 'disconnected', actions: ['forgetRound', 'dropLink'] },
        heartbeat: { actions: ['ping', 'scheduleHeartbeat'] },
        'relay.pong': { actions: 'confirmPing' },
        leave: { target: 'left', actions: 'markLeaving' },
        startElection: { guard: not('isLeaving'), target: '.electing', reenter: true, actions: startElectionBecause('requested') },
        newLeader: [
          { guard: 'announcesSelf', target: '.leader', actions: 'adoptAnnouncedLeader' },
          { guard: 'announcesOther', target: '.route', actions: 'adoptAnnouncedLeader' },
          { guard: 'handsBackMyAnnouncement', actions: 'reportMyAnnouncement' },
          { guard: 'bringsLeaderMeta', actions: 'learnLeaderMeta' },
        ],
        election: [
          { guard: 'forwardsElection', target: '.electing', reenter: true, actions: 'passElectionOn' },
          { guard: 'wonByMe', target: '.leader', actions: 'completeElection' },
          { guard: 'completesElection', target: '.follower', actions: 'completeElection' },
          { actions: 'reportDroppedElection' },
        ],
        ring: [
          {
            guard: 'leaderLeftAndITakeOver',
            target: '.electing',
            reenter: true,
            actions: ['rememberMembers', startElectionBecause('leaderLeft')],
          },
          { guard: 'leaderLeft', target: '.awaiting', actions: 'rememberMembers' },
          { actions: 'rememberMembers' },
        ],
        'ring.joined': { actions: 'rememberMembers' },
        checkLeader: { actions: 'redirectCheck' },
        error: { actions: 'reportRelayError' },
      },
      states: {
        /**
         * Transient: picks the state that fits what this node knows (after `welcome` or an
         * announcement). A node that finds itself alone does not elect itself at once: the relay
         * may just have restarted, and members that know newer terms (or lead) may still be
         * reconnecting; `awaiting` gives them a backup timer's worth of time to come back.
         */
        route: {
          always: [
            { guard: 'isLeaving', target: '#node.left' },
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
          after: { leaderTimeout: { target: 'electing', actions: startElectionBecause('leaderTimeout') } },
        },
        /** The leader is gone or unknown and another node is expected to act; a backup timer covers it not doing so. */
        awaiting: {
          entry: 'jitterElection',
          on: {
            newLeader: { guard: 'reannouncesKnownLeader', target: 'route' },
            // Not at once: after a relay restart the old leader may be reconnecting with its lease
            // still running, and the backup timer is what outlasts that lease (docs/ALGORITHM.md).
            startElection: { actions: emit({ type: 'electionDeferred', reason: 'requested' }) },
            ring: [
              {
                guard: 'laneBrokenAndITakeOver',
                target: 'electing',
                actions: ['rememberMembers', startElectionBecause('memberLeft')],
              },
              { actions: 'rememberMembers' },
            ],
          },
          after: { backupTimeout: { target: 'electing', actions: startElectionBecause('noLeader') } },
        },
        electing: {
          entry: 'jitterElection',
          on: {
            ring: [
              {
                guard: 'laneBrokenAndITakeOver',
                target: 'electing',
                reenter: true,
                actions: ['rememberMembers', startElectionBecause('memberLeft')],
              },
              { actions: 'rememberMembers' },
            ],
          },
          after: {
            electionTimeout: {
              target: 'electing',
              reenter: true,
              actions: startElectionBecause('electionTimeout'),
            },
          },
        },
        leader: {
          entry: 'announceLeadership',
          exit: 'renounceLeadership',
          on: {
            checkLeader: { actions: 'answerCheck' },
            resign: { guard: 'canHandOff', target: 'electing', actions: startElectionBecause('resign') },
            leave: [
              {
                guard: 'canHandOff',
                target: 'handingOff',
                actions: ['markLeaving', startElectionBecause('resign')],
              },
              { target: '#node.left', actions: 'markLeaving' },
            ],
          },
        },
        /**
         * A leader that is leaving: one lap without it elects its successor; once anyone else is
         * announced (or the link goes, or the lap takes too long) it leaves. It passes frames on
         * but never stands again, so it cannot be elected while it leaves. When its own lap
         * completes, it leaves once the relay hands its announcement back (the successor is then
         * reported with its metadata).
         */
        handingOff: {
          on: {
            newLeader: [
              { guard: 'handsBackMyAnnouncement', target: '#node.left', actions: 'reportMyAnnouncement' },
              { guard: 'announcesOther', target: '#node.left', actions: 'adoptAnnouncedLeader' },
            ],
            election: [
              { guard: 'forwardsElection', actions: 'passElectionOn' },
              { guard: 'completesElection', actions: 'completeElection' },
              { actions: 'reportDroppedElection' },
            ],
            'relay.closed': '#node.left',
            'lease.expired': { guard: 'isLeaseEnd', target: '#node.left' },
            // A member that leaves mid-lap may take the hand-off frame with it: hand off again,
            // unless nobody is left to hand off to.
            ring: [
              { guard: 'lastOtherLeft', target: '#node.left', actions: 'rememberMembers' },
              { guard: 'memberLeft', actions: ['rememberMembers', startElectionBecause('resign')] },
              { actions: 'rememberMembers' },
            ],
            leave: {},
          },
          after: { handOffTimeout: { target: '#node.left', actions: 'reportHandOffTimeout' } },
        },
      },
    },
    /** Gone for good: the connection closes and does not come back. */
    left: {
      type: 'final',
      entry: ['stopLinkTimers', 'closeLink'],
    },
  },
});

export type NodeMachine = typeof nodeMachine;
export type NodeActor = ActorRefFrom<NodeMachine>;
