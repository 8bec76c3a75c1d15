/**
 * The relay as a statechart: it keeps the ring's membership and decides everything the relay
 * decides. Ids and resume, admission up to the ring's capacity, where every frame goes, which
 * terms it lets through, which leader it reports (in `welcome` and /status), when a failover
 * starts and ends, and which members the ring routes around because they hold the election frame
 * without passing it on.
 *
 * It has no sockets and no clock of its own (its one timer is an XState delay). The host (relay/
 * or sim/) sends it `connect`, `disconnect` and `frame` events and carries out what it emits, in
 * order: `admitted`/`refused` answers to `connect`, `deliver` (a frame for some members),
 * `rejected` (an error frame for one member), `termsChanged` (what must outlive the relay
 * changed: recorded before the emits after it are carried out), and facts for logs and metrics.
 */
import { emit, enqueueActions, not, setup, type ActorRefFrom } from 'xstate';
import { opensElection, supersedes } from './election.js';
import { MemberList } from './memberList.js';
import { ProfileBook, type MemberProfile } from './relayProfiles.js';
import type { RelayTiming } from './timing.js';
import {
  PROTOCOL_VERSION,
  TERM_CATCH_UP,
  isValidClientId,
  type ClientFrame,
  type ClientId,
  type ElectionFrame,
  type ErrorCode,
  type LeaderInfo,
  type Meta,
  type OutgoingFrame,
  type OutgoingWelcome,
  type Role,
} from './protocol.js';

export interface RelayInput {
  /** The most members the ring admits (at most `memberCapacity` of the payload limit). */
  maxMembers: number;
  /**
   * How long a member may hold the ring's current election frame without passing anything on
   * before the relay hands the frame to the member after it and routes `next` around it.
   */
  forwardTimeoutMs: number;
  /** Terms at or below this were used before this relay started (0 when unknown). */
  termFloor?: number;
  /**
   * The leader timeout and heartbeat the host runs with (machines/timing.ts): told to every
   * member in `welcome.timing`, with `forwardTimeoutMs`. Left out, welcomes carry no timing.
   */
  timing?: Omit<RelayTiming, 'forwardTimeoutMs'>;
}

export { ProfileBook, type MemberProfile } from './relayProfiles.js';

/** A member holding the ring's election frame: what to pass on for it, and the timer's serial. */
interface Held {
  frame: ElectionFrame;
  serial: number;
}

export interface RelayContext {
  maxMembers: number;
  forwardTimeoutMs: number;
  /** What `welcome.timing` tells members, or null when the host gave no timing. */
  timing: RelayTiming | null;
  /**
   * Members in ring order (join order). A `MemberList`: a join appends without copying the list
   * (versions share one backing array, as in the node machine), and a position is one lookup.
   */
  members: MemberList;
  /** Connections that watch (`?role=observer`): told of joins, leaves and leaders; never in ring order. */
  observers: MemberList;
  /** What each member and observer told the relay about itself, by id. */
  profiles: ProfileBook;
  /** Members that held the election frame and did not pass it on: `next` skips them until they send a frame. */
  bypassed: ClientId[];
  /** The leader the relay reports: the last announced to all, and always a member (else null). */
  leader: LeaderInfo | null;
  /** The reported leader that left, until the next announcement: a failover is under way. */
  departedLeader: LeaderInfo | null;
  /** The highest term in any frame the relay let through (or the floor it started with). */
  highestTerm: number;
  /** What is left of this run's catch-up allowance (TERM_CATCH_UP; `judgeTerm`). */
  catchUpLeft: number;
  /** Ids handed out so far, for fresh ids. */
  issued: number;
  /** The ring's current lap: the greatest (term, initiator) sent to `next` since the last announcement. */
  lap: { term: number; initiator: ClientId } | null;
  /** The highest term announced to all: laps of that term or older are over, whatever frames of them still travel. */
  settledTerm: number;
  /** Members the current lap's frame was handed to that have not passed anything on yet. */
  holding: Record<ClientId, Held>;
  /** Serial of the last forward timer, so a stale timer is recognised. */
  serial: number;
}

export type RelayEvent =
  /**
   * A socket was upgraded; `connection` is the host's handle for it until `admitted` names its id.
   * `id` (`?id=`): the id it must have, refused (`id_taken`) while a live connection holds it;
   * `resume` (`?resume=`): the id it would like back, else a fresh one.
   */
  | { type: 'connect'; connection: number; resume: string | null; host: string | null; role?: Role; meta?: Meta | null; id?: ClientId | null }
  | { type: 'disconnect'; id: ClientId }
  | { type: 'frame'; from: ClientId; frame: ClientFrame }
  | { type: 'forward.overdue'; holder: ClientId; serial: number };

export type RelayEmitted =
  | { type: 'admitted'; connection: number; id: ClientId; resumed: boolean; members: number; role: Role }
  /** `code` is absent for a full ring (the first reason there was), `id_taken` for a held `?id=`. */
  | { type: 'refused'; connection: number; reason: string; code?: 'ring_full' | 'id_taken' }
  /** One frame to hand to each of `to`, in order; the host encodes it once. `to` may be a context list: never change it. */
  | { type: 'deliver'; to: Recipients; frame: OutgoingFrame }
  /** An error frame for one member: its frame was refused. */
  | { type: 'rejected'; to: ClientId; code: ErrorCode; detail: string }
  | { type: 'departed'; id: ClientId; members: number; wasLeader: boolean; role: Role }
  | { type: 'electionStarted'; by: ClientId; initiator: ClientId; term: number }
  /** The reported leader changed; `endsFailover` when the previous one had left the ring. */
  | { type: 'leaderChanged'; leader: LeaderInfo; previous: LeaderInfo | null; announcedBy: ClientId; endsFailover: boolean }
  /** The reported leader left the ring: a failover starts. */
  | { type: 'leaderLost'; leader: LeaderInfo }
  | { type: 'bypassed'; id: ClientId; term: number; passedTo: ClientId }
  | { type: 'restored'; id: ClientId }
  /**
   * The highest term let through, or the reported leader, changed. Emitted before the `deliver`
   * of the frame that changed them, so a host that keeps terms across restarts (a state file)
   * records them before any member can act on that frame. Never emitted when neither changed.
   */
  | { type: 'termsChanged'; highestTerm: number; leader: LeaderInfo | null };

/** Whom a `deliver` is for, in order: an array, or one of the context's member lists itself. */
export type Recipients = Iterable<ClientId> & { readonly length: number };

/**
 * What routing reads of a ring order: the machine's `MemberList`, or a plain array (the
 * inspector's copy of a relay snapshot).
 */
export interface RingOrder {
  readonly length: number;
  at(index: number): ClientId | undefined;
  indexOf(id: ClientId): number;
}

/** Whether the relay can take one more member (or observer). Hosts ask before upgrading, to refuse with HTTP 503. */
export function hasRoom(context: Pick<RelayContext, 'members' | 'observers' | 'maxMembers'>, role: Role = 'member'): boolean {
  return (role === 'member' ? context.members.length : context.observers.length) < context.maxMembers;
}

/** Whether a live member or observer holds `id`: an explicit id request (`?id=`) for it is refused. Hosts ask before upgrading, to refuse with HTTP 409. */
export function idIsTaken(context: Pick<RelayContext, 'members' | 'observers'>, id: ClientId): boolean {
  return context.members.has(id) || context.observers.has(id);
}

/**
 * The id for a new connection: the one it asks to resume when that is a valid id no live member
 * holds (so a relay restart need not change who leads), otherwise a fresh `n<k>`.
 */
export function nextClientId(context: Pick<RelayContext, 'members' | 'observers' | 'issued'>, resume?: string | null): ClientId {
  const held = (id: ClientId) => idIsTaken(context, id);
  if (isValidClientId(resume) && !held(resume)) return resume;
  let counter = context.issued + 1;
  while (held(`n${counter}`)) counter += 1;
  return `n${counter}`;
}

/**
 * The member `next` means for `from`: the first member after it in ring order that is not routed
 * around; `from` itself when there is no other (a ring of one is its own next). Null when `from`
 * is not a member.
 */
export function forwarderAfter(members: RingOrder, from: ClientId, bypassed: readonly ClientId[]): ClientId | null {
  const index = members.indexOf(from);
  if (index === -1) return null;
  for (let step = 1; step < members.length; step += 1) {
    const candidate = members.at((index + step) % members.length)!;
    if (bypassed.length === 0 || !bypassed.includes(candidate)) return candidate;
  }
  return from;
}

/** Which members receive a frame `from` sends `to`; null when `to` names no member. */
export function recipients(context: { members: RingOrder; bypassed: readonly ClientId[] }, from: ClientId, to: string): ClientId[] | null {
  const { members } = context;
  if (to === 'next') {
    const next = forwarderAfter(members, from, context.bypassed);
    return next === null ? [] : [next];
  }
  if (to === 'all') {
    const everyoneElse: ClientId[] = [];
    for (let index = 0; index < members.length; index += 1) {
      const member = members.at(index)!;
      if (member !== from) everyoneElse.push(member);
    }
    return everyoneElse;
  }
  return members.indexOf(to) !== -1 ? [to] : null;
}

/** `members` in ring order from position `start` round to the one before it: who hears of a leave, successor first. */
function ringOrderFrom(members: MemberList, start: number): ClientId[] {
  const ordered: ClientId[] = [];
  for (let step = 0; step < members.length; step += 1) ordered.push(members.at((start + step) % members.length)!);
  return ordered;
}

/**
 * The most a frame's term may exceed the ring's highest term without a catch-up: one for an
 * election (the next election's term), none for an announcement or an answer (they name a term
 * some lap already carried through this relay).
 */
export function termStepOf(frame: ClientFrame): number {
  return frame.type === 'election' ? 1 : 0;
}

/** Whether a frame's term may go through, and what is left of the catch-up allowance after it. */
export type TermJudgment = { ok: true; catchUpLeft: number } | { ok: false; ceiling: number };

/**
 * The term rule. A frame may carry any term up to the ring's highest term plus its step
 * (`termStepOf`); beyond that only by drawing the excess from the run's catch-up allowance
 * (TERM_CATCH_UP), which members that know terms this relay never saw need once (a restart
 * without a state file, an election frame of theirs that was lost). So within one relay run the
 * highest term is at most the floor, plus the allowance, plus one per frame let through: honest
 * terms grow by one per lap, and no member can exhaust the term space (docs/PROTOCOL.md, Terms).
 */
export function judgeTerm(context: Pick<RelayContext, 'highestTerm' | 'catchUpLeft'>, frame: ClientFrame): TermJudgment {
  const term = termOf(frame);
  if (term === null) return { ok: true, catchUpLeft: context.catchUpLeft };
  const excess = term - (context.highestTerm + termStepOf(frame));
  if (excess <= 0) return { ok: true, catchUpLeft: context.catchUpLeft };
  if (excess <= context.catchUpLeft) return { ok: true, catchUpLeft: context.catchUpLeft - excess };
  return { ok: false, ceiling: context.highestTerm + termStepOf(frame) + context.catchUpLeft };
}

function termOf(frame: ClientFrame): number | null {
  return frame.type === 'checkLeader' ? null : frame.term;
}

/** Whether `frame` is (or replaces) the ring's current lap. */
function leadsLap(lap: RelayContext['lap'], frame: ElectionFrame): boolean {
  if (lap === null || frame.term > lap.term) return true;
  return frame.term === lap.term && frame.initiator >= lap.initiator;
}

/** The `welcome` for `id`: the ring's members, its leader and term, and the relay's timing when it has one. */
function welcomeOf(context: RelayContext, id: ClientId, members: MemberList): OutgoingWelcome {
  const welcome: OutgoingWelcome = { type: 'welcome', clientId: id, protocol: PROTOCOL_VERSION, members, leader: context.leader, term: context.highestTerm };
  if (context.timing !== null) welcome.timing = context.timing;
  return welcome;
}

/**
 * The frame as the relay passes it on: the sender's, with `from` set. (`Object.assign`, not a
 * spread: the same object, about a tenth of the cost in V8 for these frames, once per frame.)
 */
function stamped<F extends ClientFrame>(frame: F, from: ClientId): F {
  return Object.assign({}, frame, { from });
}

function overdueTimerId(holder: ClientId, serial: number): string {
  return `forward:${holder}:${serial}`;
}

/**
 * `record` without `key` (the same object when it has none). Copied key by key rather than with
 * an object rest pattern, which costs V8 about ten times as much: `holding` changes on every
 * election hop.
 */
function withoutKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!Object.hasOwn(record, key)) return record;
  const rest: Record<string, T> = {};
  for (const other in record) if (other !== key) rest[other] = record[other]!;
  return rest;
}

/** `record` with `key` set to `value`, as a new object (see withoutKey for why not a spread). */
function withKey<T>(record: Record<string, T>, key: string, value: T): Record<string, T> {
  const copy = Object.assign({}, record);
  copy[key] = value;
  return copy;
}

export const relayMachine = setup({
  types: {
    context: {} as RelayContext,
    events: {} as RelayEvent,
    emitted: {} as RelayEmitted,
    input: {} as RelayInput,
  },
  guards: {
    ringIsFull: ({ context, event }) => event.type === 'connect' && !hasRoom(context, event.role ?? 'member'),
    idTaken: ({ context, event }) => event.type === 'connect' && event.id != null && idIsTaken(context, event.id),
    isObserver: ({ context, event }) =>
      (event.type === 'disconnect' && context.observers.has(event.id)) || (event.type === 'frame' && context.observers.has(event.from)),
    isMember: ({ context, event }) =>
      (event.type === 'disconnect' && context.members.has(event.id)) || (event.type === 'frame' && context.members.has(event.from)),
    termOutOfRange: ({ context, event }) => event.type === 'frame' && !judgeTerm(context, event.frame).ok,
    /**
     * An election frame listing more candidates than the ring can hold members. An honest lap
     * lists each member once, plus any that left during it: only padding (or a full ring with
     * churn during one lap, which the election timeout then retries) makes one this long, and
     * passing it on would hand the next member a frame it cannot forward within the payload
     * limit (memberCapacity).
     */
    lapTooLong: ({ context, event }) =>
      event.type === 'frame' && event.frame.type === 'election' && event.frame.eligible.length > context.maxMembers,
    targetUnknown: ({ context, event }) =>
      event.type === 'frame' && event.frame.to !== 'next' && event.frame.to !== 'all' && !context.members.has(event.frame.to),
    /**
     * A leader check or its answer, from a member the ring does not route around, to someone: it
     * passes every check below (no term above the ceiling, no lap, a known target) and changes
     * nothing the relay remembers, so it is tried first and costs one guard.
     */
    routesPlainly: ({ context, event }) => {
      if (event.type !== 'frame') return false;
      const { frame, from } = event;
      if (frame.type !== 'checkLeader' && (frame.type !== 'answerLeader' || frame.term > context.highestTerm)) return false;
      const { members } = context;
      if (!members.has(from) || (context.bypassed.length > 0 && context.bypassed.includes(from))) return false;
      const { to } = frame;
      return to === 'next' || (to === 'all' ? members.length > 1 : members.has(to));
    },
    /**
     * The holder sat on the lap's frame for the whole forward timeout, and the lap may go on
     * without it: it is not the frame's initiator nor listed in it. A member the frame lists is
     * the one that completes the lap (or may be), and may lead from it: read late (a paused
     * process), that completion starts its lease after the frame was handed over, so a timeout
     * counted from the hand-over proves nothing about it. Routing newer laps around it could
     * elect a successor while it leads. Such a holder is left to the heartbeat, which drops it
     * if it is gone; and routing around it would not finish this lap anyway, as nobody else
     * completes it while it is a member.
     */
    canRouteAroundHolder: ({ context, event }) => {
      if (event.type !== 'forward.overdue') return false;
      const held = context.holding[event.holder];
      if (held?.serial !== event.serial || !context.members.has(event.holder)) return false;
      const { frame } = held;
      return frame.initiator !== event.holder && !frame.eligible.some((candidate) => candidate.id === event.holder);
    },
  },
  actions: {
    refuse: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connect') return;
      enqueue.emit({
        type: 'refused',
        connection: event.connection,
        reason: `the ring is full: this relay admits ${context.maxMembers} members`,
      });
    }),
    refuseTakenId: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'connect' || event.id == null) return;
      enqueue.emit({ type: 'refused', connection: event.connection, reason: `the id ${event.id} is taken by a live member`, code: 'id_taken' });
    }),
    admit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connect') return;
      const id = event.id ?? nextClientId(context, event.resume);
      const role = event.role ?? 'member';
      const profile: MemberProfile = {
        ...(event.host === null ? {} : { host: event.host }),
        ...(event.meta === undefined || event.meta === null ? {} : { meta: event.meta }),
      };
      const profiles = context.profiles.with(id, profile);
      if (role === 'observer') {
        enqueue.assign({ observers: context.observers.withJoined(id), issued: context.issued + 1, profiles });
        enqueue.emit({ type: 'admitted', connection: event.connection, id, resumed: id === event.resume, members: context.members.length, role });
        enqueue.emit({
          type: 'deliver',
          to: [id],
          frame: { ...welcomeOf(context, id, context.members), role },
        });
        return;
      }
      // No copy: the list grows in place under older versions, which keep their length.
      const members = context.members.withJoined(id);
      enqueue.assign({ members, issued: context.issued + 1, profiles });
      enqueue.emit({ type: 'admitted', connection: event.connection, id, resumed: id === event.resume, members: members.length, role });
      enqueue.emit({
        type: 'deliver',
        to: [id],
        frame: welcomeOf(context, id, members),
      });
      // Everyone before the joiner: the previous member list itself when nobody watches (no copy of N ids per join;
      // the welcome above carries the list itself too, and the host encodes it as an array).
      const others = context.observers.length === 0 ? context.members : [...context.members, ...context.observers];
      if (others.length > 0) enqueue.emit({ type: 'deliver', to: others, frame: { type: 'ring', joined: id } });
    }),
    releaseObserver: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'disconnect') return;
      enqueue.assign({ observers: context.observers.withoutLeft(event.id), profiles: context.profiles.without(event.id) });
      enqueue.emit({ type: 'departed', id: event.id, members: context.members.length, wasLeader: false, role: 'observer' });
    }),
    rejectObserverFrame: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'frame') return;
      enqueue.emit({ type: 'rejected', to: event.from, code: 'bad_frame', detail: 'observers (?role=observer) only watch: they send no frames' });
    }),
    release: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'disconnect') return;
      const { id } = event;
      const members = context.members.withoutLeft(id);
      const wasLeader = context.leader?.id === id;
      const held = context.holding[id];
      if (held !== undefined) enqueue.cancel(overdueTimerId(id, held.serial));
      enqueue.assign({
        members,
        profiles: context.profiles.without(id),
        bypassed: context.bypassed.includes(id) ? context.bypassed.filter((member) => member !== id) : context.bypassed,
        holding: withoutKey(context.holding, id),
        ...(wasLeader ? { leader: null, departedLeader: context.leader } : {}),
      });
      enqueue.emit({ type: 'departed', id, members: members.length, wasLeader, role: 'member' });
      if (wasLeader) enqueue.emit({ type: 'leaderLost', leader: context.leader! });
      // The leaver's successor is told first: it is the member that acts on this frame (it starts
      // the election, or restarts a lap the leaver may have taken with it), and each write wakes a
      // member that may take the CPU from the relay before the next write (bench/README.md).
      const others = [...ringOrderFrom(members, Math.max(context.members.indexOf(id), 0)), ...context.observers];
      if (others.length > 0) enqueue.emit({ type: 'deliver', to: others, frame: { type: 'ring', left: id } });
    }),
    rejectTerm: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'frame') return;
      const judged = judgeTerm(context, event.frame);
      const ceiling = judged.ok ? context.highestTerm : judged.ceiling;
      const step = termStepOf(event.frame) === 1 ? 'an election may go one above it' : 'an announcement or answer may not go above it';
      enqueue.emit({
        type: 'rejected',
        to: event.from,
        code: 'bad_term',
        detail: `term ${termOf(event.frame)} is above ${ceiling}: the highest term this relay has let through is ${context.highestTerm} (${step}), and the ring's catch-up allowance has ${context.catchUpLeft} left`,
      });
    }),
    rejectLongLap: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'frame' || event.frame.type !== 'election') return;
      enqueue.emit({
        type: 'rejected',
        to: event.from,
        code: 'bad_frame',
        detail: `eligible lists ${event.frame.eligible.length} candidates; this ring holds at most ${context.maxMembers} members`,
      });
    }),
    rejectTarget: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'frame') return;
      enqueue.emit({ type: 'rejected', to: event.from, code: 'unknown_target', detail: `no member ${JSON.stringify(event.frame.to)} in the ring` });
    }),
    /** The common case, kept cheap (one emit, no assign): `routesPlainly` made sure someone receives it. */
    deliverPlainly: emit(({ context, event }) => {
      const { from, frame } = event as Extract<RelayEvent, { type: 'frame' }>;
      return { type: 'deliver', to: recipients(context, from, frame.to) ?? [], frame: stamped(frame, from) } as const;
    }),
    route: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'frame') return;
      const { from } = event;
      const frame = stamped(event.frame, from);
      let { bypassed, holding, lap, serial, leader, departedLeader, settledTerm } = context;
      const term = termOf(frame);
      const highestTerm = term === null ? context.highestTerm : Math.max(context.highestTerm, term);
      // `termOutOfRange` let it through: what it drew from the catch-up allowance, if anything.
      const judged = judgeTerm(context, frame);
      const catchUpLeft = judged.ok ? judged.catchUpLeft : context.catchUpLeft;

      // A member that sends anything is alive and reading: the ring stops routing around it.
      if (bypassed.includes(from)) {
        bypassed = bypassed.filter((member) => member !== from);
        enqueue.emit({ type: 'restored', id: from });
      }
      // Passing an election on, or announcing its outcome, settles what this member held.
      if ((frame.type === 'election' || frame.type === 'newLeader') && holding[from] !== undefined) {
        enqueue.cancel(overdueTimerId(from, holding[from]!.serial));
        holding = withoutKey(holding, from);
      }

      let to = recipients({ members: context.members, bypassed }, from, frame.to) ?? [];
      if (frame.type === 'election') {
        if (opensElection(from, frame)) enqueue.emit({ type: 'electionStarted', by: from, initiator: frame.initiator, term: frame.term });
        const holder = to[0];
        if (frame.to === 'next' && holder !== undefined && frame.term > context.settledTerm && leadsLap(lap, frame)) {
          lap = { term: frame.term, initiator: frame.initiator };
          serial += 1;
          const previous = holding[holder];
          if (previous !== undefined) enqueue.cancel(overdueTimerId(holder, previous.serial));
          holding = withKey(holding, holder, { frame, serial });
          enqueue.raise(
            { type: 'forward.overdue', holder, serial },
            { delay: context.forwardTimeoutMs, id: overdueTimerId(holder, serial) },
          );
        }
      } else if (frame.type === 'newLeader') {
        // The leader's metadata is the relay's to give: what that member said about itself at join.
        // The sender gets the stamped copy too: the node that completed a lap knows the winner's
        // id and rank from the frame, but not what the winner told the relay.
        const meta = context.profiles.get(frame.leaderId)?.meta;
        delete frame.meta;
        if (meta !== undefined) {
          frame.meta = meta;
          if (frame.to === 'all') to = [...to, from];
        }
      }
      if (frame.type === 'newLeader' && frame.to === 'all') {
        // Observers hear who leads, and nothing else.
        if (context.observers.length > 0) to = [...to, ...context.observers];
        // An announcement to all ends the laps of its term and older: nobody owes them a forward.
        settledTerm = Math.max(settledTerm, frame.term);
        if (lap !== null && frame.term >= lap.term) {
          for (const [holder, held] of Object.entries(holding)) enqueue.cancel(overdueTimerId(holder, held.serial));
          holding = {};
          lap = null;
        }
        const announced: LeaderInfo = { id: frame.leaderId, rank: frame.rank, term: frame.term, ...(frame.meta === undefined ? {} : { meta: frame.meta }) };
        const previous = leader ?? departedLeader;
        if (context.members.has(announced.id) && supersedes(announced, previous)) {
          enqueue.emit({ type: 'leaderChanged', leader: announced, previous, announcedBy: from, endsFailover: departedLeader !== null });
          leader = announced;
          departedLeader = null;
        }
      }
      enqueue.assign({ bypassed, holding, lap, serial, leader, departedLeader, highestTerm, settledTerm, catchUpLeft });
      if (highestTerm !== context.highestTerm || leader !== context.leader) enqueue.emit({ type: 'termsChanged', highestTerm, leader });
      if (to.length > 0) enqueue.emit({ type: 'deliver', to, frame });
    }),
    /** The holder sat on the lap's frame for the whole forward timeout: pass it on without it. */
    bypassHolder: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'forward.overdue') return;
      const { holder } = event;
      const held = context.holding[holder]!;
      const bypassed = [...context.bypassed, holder];
      const next = forwarderAfter(context.members, holder, bypassed);
      const holding = withoutKey(context.holding, holder);
      if (next === null || next === holder) {
        // Nobody else to pass it to: every other member is routed around too.
        enqueue.assign({ bypassed, holding });
        enqueue.emit({ type: 'bypassed', id: holder, term: held.frame.term, passedTo: holder });
        return;
      }
      const serial = context.serial + 1;
      enqueue.assign({ bypassed, serial, holding: withKey(holding, next, { frame: held.frame, serial }) });
      enqueue.raise({ type: 'forward.overdue', holder: next, serial }, { delay: context.forwardTimeoutMs, id: overdueTimerId(next, serial) });
      enqueue.emit({ type: 'bypassed', id: holder, term: held.frame.term, passedTo: next });
      enqueue.emit({ type: 'deliver', to: [next], frame: held.frame });
    }),
  },
}).createMachine({
  id: 'relay',
  context: ({ input }) => ({
    maxMembers: input.maxMembers,
    forwardTimeoutMs: input.forwardTimeoutMs,
    timing: input.timing === undefined ? null : { ...input.timing, forwardTimeoutMs: input.forwardTimeoutMs },
    members: MemberList.EMPTY,
    observers: MemberList.EMPTY,
    profiles: ProfileBook.empty,
    bypassed: [],
    leader: null,
    departedLeader: null,
    highestTerm: input.termFloor ?? 0,
    catchUpLeft: TERM_CATCH_UP,
    issued: 0,
    lap: null,
    settledTerm: 0,
    holding: {},
    serial: 0,
  }),
  initial: 'serving',
  states: {
    serving: {
      on: {
        connect: [{ guard: 'ringIsFull', actions: 'refuse' }, { guard: 'idTaken', actions: 'refuseTakenId' }, { actions: 'admit' }],
        disconnect: [
          { guard: 'isMember', actions: 'release' },
          { guard: 'isObserver', actions: 'releaseObserver' },
        ],
        frame: [
          { guard: 'routesPlainly', actions: 'deliverPlainly' },
          { guard: 'isObserver', actions: 'rejectObserverFrame' },
          // A frame still in flight from a connection that already left is dropped.
          { guard: not('isMember') },
          { guard: 'termOutOfRange', actions: 'rejectTerm' },
          { guard: 'lapTooLong', actions: 'rejectLongLap' },
          { guard: 'targetUnknown', actions: 'rejectTarget' },
          { actions: 'route' },
        ],
        'forward.overdue': { guard: 'canRouteAroundHolder', actions: 'bypassHolder' },
      },
    },
  },
});

export type RelayMachine = typeof relayMachine;
export type RelayActor = ActorRefFrom<RelayMachine>;
