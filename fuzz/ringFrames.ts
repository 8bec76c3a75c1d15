/**
 * What a fuzz member sends the relay: one "shot" at a time, from three families.
 *
 * - `random`: shapeless input (any JSON value, text, bytes, deep nesting, invalid UTF-8, frames
 *   past the payload limit).
 * - `mutated`: a valid frame of every type (docs/PROTOCOL.md) with one to three things broken:
 *   wrong types, missing fields, numbers JSON cannot hold, ids at and past the length limit,
 *   unknown targets, a spoofed `from`, duplicate entries, relay-only types.
 * - `hostile`: frames the relay must accept, because every member is trusted, but that a buggy
 *   member would send: announcing itself or others (or non-members) leader of large terms, terms
 *   past what the relay allows, elections with absurd or giant `eligible` lists, tampered laps,
 *   `checkLeader` floods, spoofed `answerLeader`.
 *
 * Every shot carries its kind, so a run can say what it threw.
 */
import { LIMITS, TERM_CATCH_UP, type Candidate, type ClientId } from '../machines/protocol.js';
import type { Rng } from '../sim/rng.js';
import type { RingKnowledge } from './ringKnowledge.js';
import { textShot as text, type Shot } from './shot.js';
import { EDGE_NUMBERS, awkwardString, deeplyNested, invalidUtf8, randomBytes, randomJsonValue, randomString } from './values.js';

export interface ShotContext {
  knowledge: RingKnowledge;
  /** The relay's payload limit: larger messages close the socket. */
  maxPayloadBytes: number;
  /** Whether a shot of a sizeable part of the payload limit may be thrown now (the run rations them). */
  heavyAllowed: boolean;
  /** Whether shots that make the relay close the socket (invalid UTF-8, oversized) may be thrown. */
  closingAllowed: boolean;
}

export const RING_FAMILIES = ['random', 'mutated', 'hostile'] as const;
export type RingFamily = (typeof RING_FAMILIES)[number];

/** Shots that cost the relay (and each node they reach) a payload's worth of work. */
export function isHeavy(kind: string): boolean {
  return kind === 'random:oversized' || kind === 'hostile:giantElection' || kind === 'mutated:giantEligible';
}

export function ringShot(rng: Rng, family: RingFamily, context: ShotContext): Shot {
  switch (family) {
    case 'random':
      return randomShot(rng, context);
    case 'mutated':
      return mutatedShot(rng, context);
    case 'hostile':
      return hostileShot(rng, context);
  }
}

// ---- random ----

function randomShot(rng: Rng, context: ShotContext): Shot {
  const roll = rng.int(0, 99);
  if (roll < 35) return text('random:json', JSON.stringify(randomJsonValue(rng)) ?? 'null');
  if (roll < 55) {
    // An object that names a real type, so parsing gets past the first check.
    const value = { ...(randomJsonValue(rng, 2) as object), type: rng.pick(['election', 'newLeader', 'checkLeader', 'answerLeader', 'welcome', 'ring', 'error']) };
    return text('random:typed', JSON.stringify(value));
  }
  if (roll < 72) return text('random:text', randomString(rng, rng.int(0, 300)));
  if (roll < 85) return { kind: 'random:binary', data: rng.chance(0.3) ? Buffer.from(JSON.stringify({ type: 'checkLeader', to: 'all', nonce: '1' })) : randomBytes(rng, rng.int(0, 300)), binary: true };
  if (roll < 97) {
    // Mostly a few thousand levels; now and then as deep as the payload limit allows.
    const deepest = Math.min(200_000, Math.floor(context.maxPayloadBytes / 6));
    return text('random:nested', deeplyNested(rng, rng.chance(0.9) ? rng.int(100, 5000) : rng.int(5000, deepest)));
  }
  // The relay closes the socket for these two: rare, so that most members live long enough to matter.
  if (!context.closingAllowed) return text('random:json', '{}');
  if (roll < 99 || !context.heavyAllowed) return rng.chance(0.25) ? { kind: 'random:invalidUtf8', data: invalidUtf8(rng), binary: false } : text('random:json', '{}');
  return text('random:oversized', `{"type":"checkLeader","to":"all","nonce":"${'x'.repeat(context.maxPayloadBytes + rng.int(1, 4096))}"}`);
}

// ---- valid frames, the base of mutations ----

/** A valid frame of `type` as a plain object (relay-only types too: a client sending them must be refused). */
function validFrame(rng: Rng, type: string, knowledge: RingKnowledge): Record<string, unknown> {
  const self = knowledge.self ?? 'n1';
  const someone = pickMember(rng, knowledge);
  const term = knowledge.highestTerm + rng.int(0, 3);
  switch (type) {
    case 'election':
      return { type, to: 'next', initiator: self, term, eligible: [{ id: self, rank: rng.int(0, 1_000_000) }] };
    case 'newLeader':
      return { type, to: 'all', leaderId: someone, rank: knowledge.ranks.get(someone) ?? rng.int(0, 1_000_000), term };
    case 'checkLeader':
      return { type, to: someone, nonce: String(rng.int(1, 1000)) };
    case 'answerLeader':
      return { type, to: someone, nonce: String(rng.int(1, 1000)), term };
    case 'welcome':
      return { type, clientId: self, protocol: 1, members: knowledge.members.toArray(), leader: knowledge.leader, term };
    case 'ring':
      return rng.chance(0.5) ? { type, joined: fakeId(rng) } : { type, left: someone };
    default:
      return { type: 'error', code: 'bad_frame', detail: 'fuzz' };
  }
}

const ALL_TYPES = ['election', 'newLeader', 'checkLeader', 'answerLeader', 'welcome', 'ring', 'error'] as const;

// ---- mutated ----

/** Numbers written as raw JSON text: values JSON.stringify cannot produce (huge, -0, 2^53+1) and text JSON forbids. */
const RAW_NUMBERS = ['1e400', '-1e400', '9007199254740993', '9007199254740992', '-0', '1.0', '1e2', '0.1', '00', '0x10', 'NaN', 'Infinity', '+1', '1_000'];
/** Stands in a frame for a raw number until the frame is encoded. */
const RAW_MARKER = '\u0000raw\u0000';

/** What a mutation asks for beyond changing the frame in place. */
type MutationResult = void | { raw: string } | { whole: string } | { giant: true };
type Mutation = (rng: Rng, frame: Record<string, unknown>, context: ShotContext) => MutationResult;

function mutatedShot(rng: Rng, context: ShotContext): Shot {
  const type = rng.pick(ALL_TYPES);
  const frame = validFrame(rng, type, context.knowledge);
  let raw: string | null = null;
  let whole: string | null = null;
  const mutations = rng.int(1, 3);
  for (let index = 0; index < mutations; index += 1) {
    const result = rng.pick(MUTATIONS)(rng, frame, context);
    if (!result) continue;
    if ('giant' in result) return text('mutated:giantEligible', giantEligible(rng, context, frame));
    if ('raw' in result) raw = result.raw;
    if ('whole' in result) whole = result.whole;
  }
  let encoded = whole ?? JSON.stringify(frame);
  if (raw !== null) encoded = encoded.replace(JSON.stringify(RAW_MARKER), raw);
  return text(`mutated:${type}`, encoded);
}

function someField(rng: Rng, frame: Record<string, unknown>): string {
  const keys = Object.keys(frame);
  return keys.length === 0 ? 'type' : rng.pick(keys);
}

const MUTATIONS: Mutation[] = [
  // A field goes missing.
  (rng, frame) => {
    delete frame[someField(rng, frame)];
  },
  // A field of the wrong type.
  (rng, frame) => {
    frame[someField(rng, frame)] = randomJsonValue(rng, 2);
  },
  // Numbers at and past the protocol's integers.
  (rng, frame) => {
    frame[rng.pick(['term', 'rank', 'protocol'])] = rng.pick(EDGE_NUMBERS);
  },
  // A number written as text JSON.stringify would never produce.
  (rng, frame) => {
    frame[rng.pick(['term', 'rank'])] = RAW_MARKER;
    return { raw: rng.pick(RAW_NUMBERS) };
  },
  // Ids and nonces at and just past the length limit, or with forbidden characters.
  (rng, frame) => {
    const field = rng.pick(['to', 'from', 'initiator', 'leaderId', 'nonce', 'clientId', 'joined', 'left']);
    frame[field] = rng.pick([
      'a'.repeat(LIMITS.idLength),
      'a'.repeat(LIMITS.idLength + 1),
      'x'.repeat(rng.int(65, 5000)),
      '',
      'n 1',
      'n/1',
      'n1\n',
      'ñ1',
      'next',
      'all',
    ]);
  },
  // A target nobody holds.
  (rng, frame) => {
    frame.to = fakeId(rng);
  },
  // Someone else's id as the sender.
  (rng, frame, context) => {
    frame.from = rng.chance(0.7) ? pickMember(rng, context.knowledge) : fakeId(rng);
  },
  // eligible: duplicates, holes, wrong entries.
  (rng, frame) => {
    const entry: Candidate = { id: 'n1', rank: 1 };
    frame.eligible = rng.pick<unknown>([
      [entry, entry],
      [entry, { id: 'n1', rank: 2 }],
      [entry, null],
      [entry, { id: 'n2' }],
      [entry, ['n2', 3]],
      { 0: entry, length: 1 },
      'n1',
    ]);
  },
  // A type the client may not send, no type, or a made-up one.
  (rng, frame) => {
    frame.type = rng.pick<unknown>(['welcome', 'ring', 'error', 'Election', 'election ', '__proto__', 'toString', 'constructor', 42, null, ['election'], {}]);
  },
  // Extra fields the relay must drop rather than forward.
  (rng, frame) => {
    Object.defineProperty(frame, rng.pick(['__proto__', 'constructor', 'extra', 'from ', 'to\u0000']), { value: randomJsonValue(rng, 2), enumerable: true, writable: true, configurable: true });
  },
  // The frame wrapped: in an array, or as a JSON string of itself.
  (rng, frame) => ({ whole: JSON.stringify(rng.chance(0.5) ? [frame] : JSON.stringify(frame)) }),
  // A giant eligible list (rationed: it costs every node on the lap a payload's work).
  (_rng, frame, context) => (frame.type === 'election' && context.heavyAllowed ? { giant: true } : undefined),
];

// ---- hostile but valid ----

const HOSTILE_KINDS = [
  'selfLeader',
  'memberLeader',
  'ghostLeader',
  'whisperLeader',
  'termPastCeiling',
  'election',
  'absurdElection',
  'tamperedLap',
  'checkFlood',
  'answerSpoof',
  'giantElection',
] as const;

function hostileShot(rng: Rng, context: ShotContext): Shot {
  const knowledge = context.knowledge;
  const self = knowledge.self ?? 'n1';
  const kind = rng.pick(HOSTILE_KINDS);
  // Terms just above the ring's, or as far above as the relay lets a frame go.
  const term = rng.chance(0.5) ? knowledge.highestTerm + rng.int(1, 3) : knowledge.highestTerm + rng.int(1, TERM_CATCH_UP);
  const label = `hostile:${kind}`;
  switch (kind) {
    case 'selfLeader':
      return text(label, JSON.stringify({ type: 'newLeader', to: 'all', leaderId: self, rank: rng.pick([0, 1, Number.MAX_SAFE_INTEGER]), term }));
    case 'memberLeader': {
      const leader = pickMember(rng, knowledge);
      const rank = rng.chance(0.7) ? (knowledge.ranks.get(leader) ?? rng.int(0, 1_000_000)) : rng.int(0, Number.MAX_SAFE_INTEGER);
      return text(label, JSON.stringify({ type: 'newLeader', to: 'all', leaderId: leader, rank, term }));
    }
    case 'ghostLeader':
      return text(label, JSON.stringify({ type: 'newLeader', to: 'all', leaderId: fakeId(rng), rank: rng.int(0, Number.MAX_SAFE_INTEGER), term }));
    case 'whisperLeader': {
      // One member is told someone else leads: the others never hear of it.
      const leader = rng.chance(0.5) ? pickMember(rng, knowledge) : self;
      return text(label, JSON.stringify({ type: 'newLeader', to: pickMember(rng, knowledge), leaderId: leader, rank: knowledge.ranks.get(leader) ?? rng.int(0, 1_000_000), term }));
    }
    case 'termPastCeiling':
      return text(label, JSON.stringify({ type: 'newLeader', to: 'all', leaderId: self, rank: 1, term: Math.min(Number.MAX_SAFE_INTEGER, knowledge.highestTerm + TERM_CATCH_UP * rng.int(2, 1000)) }));
    case 'election': {
      // A lap in someone's name (or ours), to next or to one member.
      const initiator = rng.chance(0.5) ? self : pickMember(rng, knowledge);
      return text(label, JSON.stringify({ type: 'election', to: rng.chance(0.8) ? 'next' : pickMember(rng, knowledge), initiator, term, eligible: [{ id: self, rank: rng.int(0, Number.MAX_SAFE_INTEGER) }] }));
    }
    case 'absurdElection': {
      const entries = rng.int(0, 200);
      const eligible = Array.from({ length: entries }, (_, index) => ({ id: rng.chance(0.2) ? pickMember(rng, knowledge) : `g${index}`, rank: rng.pick([0, Number.MAX_SAFE_INTEGER, rng.int(0, 1_000_000)]) }));
      return text(label, JSON.stringify({ type: 'election', to: 'next', initiator: pickMember(rng, knowledge), term, eligible: dedupe(eligible) }));
    }
    case 'tamperedLap': {
      // The lap this member was handed, passed on late with its entries reordered, dropped or re-ranked.
      const held = knowledge.heldElection;
      if (held === null) return text(label, JSON.stringify({ type: 'election', to: 'next', initiator: self, term, eligible: [] }));
      const eligible = held.eligible.filter(() => rng.chance(0.7)).map((entry) => (rng.chance(0.3) ? { ...entry, rank: Number.MAX_SAFE_INTEGER } : entry));
      if (rng.chance(0.5)) eligible.reverse();
      return text(label, JSON.stringify({ type: 'election', to: 'next', initiator: held.initiator, term: held.term, eligible }));
    }
    case 'checkFlood':
      return text(label, JSON.stringify({ type: 'checkLeader', to: rng.chance(0.6) && knowledge.leader ? knowledge.leader.id : pickMember(rng, knowledge), nonce: String(rng.int(1, 10_000)) }));
    case 'answerSpoof': {
      const asked = knowledge.nonces.length > 0 ? rng.pick(knowledge.nonces) : { from: pickMember(rng, knowledge), nonce: String(rng.int(1, 100)) };
      return text(label, JSON.stringify({ type: 'answerLeader', to: asked.from, nonce: asked.nonce, term: rng.chance(0.5) ? knowledge.highestTerm : term }));
    }
    case 'giantElection':
      if (!context.heavyAllowed) return text('hostile:checkFlood', JSON.stringify({ type: 'checkLeader', to: pickMember(rng, knowledge), nonce: '1' }));
      return text(label, giantEligible(rng, context, { type: 'election', to: 'next', initiator: self, term }));
  }
}

/**
 * An election frame whose `eligible` fills a good part of the payload limit (a lap of a huge ring
 * of strangers), built as text: an array of that size would cost the fuzzer more than the relay.
 * Half of them end just under the limit, so that the next member's forward, one entry longer,
 * crosses it.
 */
function giantEligible(rng: Rng, context: ShotContext, frame: Record<string, unknown>): string {
  const { eligible: _replaced, ...rest } = frame;
  const head = `${JSON.stringify(rest).slice(0, -1)},"eligible":[`;
  const target = rng.chance(0.5) ? context.maxPayloadBytes - rng.int(1, 100) : Math.floor(context.maxPayloadBytes * (0.3 + 0.6 * rng.next()));
  // Fixed-width entries ({"id":"g0000001","rank":1000000}, 32 bytes), then one entry whose id
  // length makes the frame exactly `target` bytes.
  const entry = (index: number) => `{"id":"g${String(index).padStart(7, '0')}","rank":${1_000_000 + ((index * 7919) % 8_999_999)}}`;
  const lastEntryMin = '{"id":"x","rank":0}'.length;
  const count = Math.min(LIMITS.eligibleEntries - 1, Math.max(0, Math.floor((target - head.length - 2 - lastEntryMin - 1) / 33)));
  const parts = Array.from({ length: count }, (_, index) => entry(index));
  const used = head.length + parts.length * 33 + 2;
  const idLength = Math.max(1, Math.min(LIMITS.idLength, target - used - (lastEntryMin - 1)));
  parts.push(`{"id":"${'x'.repeat(idLength)}","rank":0}`);
  return `${head}${parts.join(',')}]}`;
}

// ---- helpers ----

/** A live member (not this one, when there is another), or a plausible id. */
function pickMember(rng: Rng, knowledge: RingKnowledge): ClientId {
  const others = knowledge.others();
  if (others.length > 0) return rng.pick(others);
  return knowledge.self ?? 'n1';
}

/** A valid id that no member holds (the relay hands out `n<k>`). */
function fakeId(rng: Rng): ClientId {
  return rng.chance(0.5) ? `ghost-${rng.int(0, 1_000_000)}` : `z${awkwardString(rng).replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 40)}`;
}

function dedupe(entries: Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return entries.filter((entry) => (seen.has(entry.id) ? false : (seen.add(entry.id), true)));
}
