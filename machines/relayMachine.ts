/**
 * The relay as a statechart: ring membership in join order, routing of `to`, the last
 * announced leader (for `welcome`), and the `ring` frames that tell everyone of a change.
 *
 * It has no sockets. The host (relay/ or sim/) sends it `join`, `leave` and `frame` events
 * and carries out the `deliver` events it emits, in order.
 */
import { enqueueActions, setup, type ActorRefFrom } from 'xstate';
import { supersedes } from './election.js';
import { PROTOCOL_VERSION, isValidClientId, type ClientFrame, type ClientId, type LeaderInfo, type ServerFrame } from './protocol.js';
import { ringAfter } from './ring.js';

export interface RelayContext {
  /** Members in ring order (join order). */
  members: ClientId[];
  /** The last leader announced through this relay, for `welcome`; it may have left since. */
  leader: LeaderInfo | null;
  /** Ids handed out so far, for `nextClientId`. */
  issued: number;
}

export type RelayEvent =
  | { type: 'join'; id: ClientId }
  | { type: 'leave'; id: ClientId }
  | { type: 'frame'; from: ClientId; frame: ClientFrame };

/** One frame to hand to each of `to`, in order; the host encodes it once. */
export type RelayEmitted = { type: 'deliver'; to: ClientId[]; frame: ServerFrame };

export const relayMachine = setup({
  types: {
    context: {} as RelayContext,
    events: {} as RelayEvent,
    emitted: {} as RelayEmitted,
  },
  guards: {
    isNewMember: ({ context, event }) => event.type === 'join' && !context.members.includes(event.id),
    isMember: ({ context, event }) =>
      (event.type === 'leave' && context.members.includes(event.id)) ||
      (event.type === 'frame' && context.members.includes(event.from)),
  },
  actions: {
    admit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'join') return;
      const members = [...context.members, event.id];
      enqueue.assign({ members, issued: context.issued + 1 });
      enqueue.emit({
        type: 'deliver',
        to: [event.id],
        frame: { type: 'welcome', clientId: event.id, protocol: PROTOCOL_VERSION, members, leader: context.leader },
      });
      if (context.members.length > 0) {
        enqueue.emit({ type: 'deliver', to: context.members, frame: { type: 'ring', joined: event.id } });
      }
    }),
    release: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'leave') return;
      const members = context.members.filter((member) => member !== event.id);
      enqueue.assign({ members });
      if (members.length > 0) enqueue.emit({ type: 'deliver', to: members, frame: { type: 'ring', left: event.id } });
    }),
    route: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'frame') return;
      const frame = { ...event.frame, from: event.from };
      const to = recipients(context.members, event.from, frame.to);
      if (to === null) {
        enqueue.emit({
          type: 'deliver',
          to: [event.from],
          frame: { type: 'error', code: 'unknown_target', detail: `no member ${JSON.stringify(frame.to)} in the ring` },
        });
        return;
      }
      if (frame.type === 'newLeader') {
        const announced = { id: frame.leaderId, rank: frame.rank, term: frame.term };
        if (supersedes(announced, context.leader)) enqueue.assign({ leader: announced });
      }
      if (to.length > 0) enqueue.emit({ type: 'deliver', to, frame });
    }),
  },
}).createMachine({
  id: 'relay',
  context: { members: [], leader: null, issued: 0 },
  initial: 'serving',
  states: {
    serving: {
      on: {
        join: { guard: 'isNewMember', actions: 'admit' },
        leave: { guard: 'isMember', actions: 'release' },
        frame: { guard: 'isMember', actions: 'route' },
      },
    },
  },
});

/** Who receives a frame sent by `from` to `to`; null when `to` names no member. */
export function recipients(members: readonly ClientId[], from: ClientId, to: string): ClientId[] | null {
  if (to === 'next') {
    const next = ringAfter(members, from);
    return next === null ? [] : [next];
  }
  if (to === 'all') return members.filter((member) => member !== from);
  return members.includes(to) ? [to] : null;
}

/**
 * The id for a new connection: the one it asks to resume when no live member holds it
 * (so a relay restart need not change who leads), otherwise a fresh `n<k>`.
 */
export function nextClientId(context: RelayContext, resume?: string | null): ClientId {
  if (isValidClientId(resume) && !context.members.includes(resume)) return resume;
  const taken = new Set(context.members);
  let counter = context.issued + 1;
  while (taken.has(`n${counter}`)) counter += 1;
  return `n${counter}`;
}

export type RelayMachine = typeof relayMachine;
export type RelayActor = ActorRefFrom<RelayMachine>;
