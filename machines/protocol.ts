/**
 * Wire protocol v1: every frame that crosses a WebSocket goes through this module.
 *
 * `parseFrame` turns untrusted input (text or an already-parsed value) into a typed
 * frame or an error with a stable code; `encodeFrame` is its inverse. docs/PROTOCOL.md
 * is the human-readable copy of this file and must change with it.
 */
import type { MemberList } from './memberList.js';
import type { RelayTiming } from './timing.js';

export const PROTOCOL_VERSION = 1 as const;

/** Limits that keep one bad frame from costing the relay more than a frame's worth of work. */
export const LIMITS = {
  idLength: 64,
  nonceLength: 64,
  eligibleEntries: 100_000,
  membersEntries: 100_000,
  detailLength: 512,
  /** A member's `host` label (`?host=` at join): a hostname, for logs and /status. */
  hostLength: 253,
  /** A member's metadata (`?meta=`), as URL-encoded in the join URL. */
  metaEncodedBytes: 1024,
  ringNameLength: 64,
} as const;

/**
 * The largest term a frame may carry: the largest integer JSON numbers hold exactly. A node never
 * adopts it (it could not start the election after it), so its own terms stay at most this.
 */
export const MAX_TERM = Number.MAX_SAFE_INTEGER;

/**
 * How much, in all, one relay run lets frames lift a ring's terms beyond what an election needs
 * (machines/relayMachine.ts, `judgeTerm`). An election needs one term above the highest the relay
 * has let through, an announcement or an answer none; more is a catch-up: members that know terms
 * this relay never saw (it restarted without `--state-file`, or a node's own election frame was
 * lost on the way). Honest catch-ups are as small as the elections missed; a hostile member can
 * spend the whole allowance once, and after that lifts the term by at most one per frame, so the
 * term space (2^53) cannot be used up.
 */
export const TERM_CATCH_UP = 2 ** 32;

/**
 * The most bytes one `eligible` entry can take on the wire, `{"id":"<64 chars>","rank":<16 digits>},`:
 * what a relay reserves per member so that an election frame listing the whole ring fits its
 * payload limit.
 */
export const MAX_ENTRY_BYTES = 100;
/** Room for the rest of an election frame (type, to, from, initiator, term). */
export const ELECTION_FRAME_OVERHEAD_BYTES = 256;

/**
 * How many members a ring may have so that an election frame listing all of them, and one entry
 * more, fits `maxPayloadBytes`. The relay passes on laps of up to that many entries (longer ones
 * can only be padded: relayMachine's `lapTooLong`), so the next member's forward, one entry
 * longer, always fits too: no member is closed for carrying a lap it was handed.
 */
export function memberCapacity(maxPayloadBytes: number): number {
  return Math.max(0, Math.floor((maxPayloadBytes - ELECTION_FRAME_OVERHEAD_BYTES) / MAX_ENTRY_BYTES) - 1);
}

export type ClientId = string;

const HOST_PATTERN = /^[A-Za-z0-9._-]{1,253}$/;

/** Whether `host` may label a member: a hostname (1-253 of A-Z a-z 0-9 . _ -). */
export function isValidHost(host: unknown): host is string {
  return typeof host === 'string' && HOST_PATTERN.test(host);
}

/**
 * Whether `id` may name a member: 1-64 of [A-Za-z0-9._:-], and not a routing keyword. A loop over
 * character codes rather than a regular expression: it runs for every entry of every `election`
 * frame, at the relay and at every node, so it is on the per-hop path.
 */
export function isValidClientId(id: unknown): id is ClientId {
  if (typeof id !== 'string' || id.length === 0 || id.length > LIMITS.idLength) return false;
  for (let index = 0; index < id.length; index += 1) {
    const code = id.charCodeAt(index);
    const letter = (code >= 97 && code <= 122) || (code >= 65 && code <= 90);
    // 48-58 is 0-9 and ':'; 46 '.', 95 '_', 45 '-'.
    if (!letter && !(code >= 48 && code <= 58) && code !== 46 && code !== 95 && code !== 45) return false;
  }
  return id !== 'next' && id !== 'all';
}

/** A node as it stands in an election: its id and its rank. */
export interface Candidate {
  id: ClientId;
  rank: number;
}

/** Any JSON value, as metadata may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a candidate says about itself when it joins (`?meta=`): where the leader can be reached,
 * say `{ "url": "http://10.0.0.5:8080" }`. A JSON object of at most 1 KB (URL-encoded). The relay
 * keeps it and hands the leader's along with the leader (`newLeader.meta`, `welcome.leader.meta`).
 */
export type Meta = { [key: string]: JsonValue };

/** The leader a node (or the relay) knows, with the term that chose it, and its metadata if it gave any. */
export interface LeaderInfo {
  id: ClientId;
  rank: number;
  term: number;
  meta?: Meta;
}

/** The ring a connection joins when its path names none: `/` and any path but `/rings/<name>`. */
export const DEFAULT_RING = 'default';

const RING_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Whether `name` may name a ring: 1-64 of A-Z a-z 0-9 . _ - */
export function isValidRingName(name: unknown): name is string {
  return typeof name === 'string' && RING_NAME_PATTERN.test(name);
}

/** How a connection takes part: a member stands in elections; an observer only watches. */
export type Role = 'member' | 'observer';

/**
 * Reads `?meta=` (already URL-decoded by the URL parser): a JSON object of at most 1 KB as it
 * stood encoded in the URL. Returns the object, or why it is refused.
 */
export function parseMeta(decoded: string, encodedLength: number): { ok: true; meta: Meta } | { ok: false; reason: string } {
  if (encodedLength > LIMITS.metaEncodedBytes) return { ok: false, reason: `meta must be at most ${LIMITS.metaEncodedBytes} bytes URL-encoded, got ${encodedLength}` };
  let value: unknown;
  try {
    value = JSON.parse(decoded);
  } catch {
    return { ok: false, reason: 'meta must be a URL-encoded JSON object, e.g. ?meta=%7B%22url%22%3A%22http%3A%2F%2F10.0.0.5%3A8080%22%7D' };
  }
  if (!isMeta(value)) return { ok: false, reason: 'meta must be a JSON object (not an array, string or number)' };
  return { ok: true, meta: value };
}

/** Whether `value` is metadata: a JSON object (parsed from JSON, so every value in it is JSON). */
export function isMeta(value: unknown): value is Meta {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where a client frame goes: the next live member, every other member, or one member. */
export type Target = 'next' | 'all' | ClientId;

export const ERROR_CODES = [
  'bad_json',
  'bad_frame',
  'bad_term',
  'unknown_type',
  'unknown_target',
  'too_large',
  'unauthorized',
  'rate_limited',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

// ---- frames a node sends (with `to`) and receives back from the relay (with `from` stamped) ----

interface Routed {
  to: Target;
  /** Stamped by the relay with the sender's id; a client never chooses it. */
  from?: ClientId;
}

export interface ElectionFrame extends Routed {
  type: 'election';
  initiator: ClientId;
  term: number;
  eligible: Candidate[];
}

export interface NewLeaderFrame extends Routed {
  type: 'newLeader';
  leaderId: ClientId;
  rank: number;
  term: number;
  /** The leader's metadata, stamped by the relay from what the leader gave at join. */
  meta?: Meta;
}

export interface CheckLeaderFrame extends Routed {
  type: 'checkLeader';
  nonce: string;
}

export interface AnswerLeaderFrame extends Routed {
  type: 'answerLeader';
  nonce: string;
  term: number;
}

/** Frames a client may send to the relay. */
export type ClientFrame = ElectionFrame | NewLeaderFrame | CheckLeaderFrame | AnswerLeaderFrame;

// ---- frames only the relay originates ----

export interface WelcomeFrame {
  type: 'welcome';
  clientId: ClientId;
  protocol: typeof PROTOCOL_VERSION;
  members: ClientId[];
  /** The leader the relay reports: the last one announced to all, while it is still a member. */
  leader: LeaderInfo | null;
  /**
   * The highest term the relay has seen (0 on a fresh relay). A joiner's first election is above
   * it. Optional on the wire: older relays leave it out.
   */
  term?: number;
  /** `observer` for a connection that joined with `?role=observer`; members get no `role`. */
  role?: 'observer';
  /**
   * The relay's timing (machines/timing.ts): a node's lease must be shorter than `heartbeatMs`,
   * and a node follows the relay's `leaderTimeoutMs`. Optional on the wire: older relays leave it out.
   */
  timing?: RelayTiming;
}

/**
 * One change to the ring: exactly one of `joined` (appended at the end of ring order) or `left`.
 * The full list comes once, in `welcome`; a client keeps it up to date from these frames, which
 * the relay sends in order on the same socket. (Carrying the list in every `ring` frame made a
 * ring of N cost O(N³) bytes to assemble.)
 */
export type RingFrame = { type: 'ring'; joined: ClientId; left?: never } | { type: 'ring'; left: ClientId; joined?: never };

export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  detail: string;
}

export type RelayFrame = WelcomeFrame | RingFrame | ErrorFrame;

/** Anything a client can receive: relay frames and forwarded client frames (with `from`). */
export type ServerFrame = RelayFrame | ClientFrame;

export type Frame = ServerFrame;
export type FrameType = Frame['type'];

/**
 * A `welcome` as the relay machine emits it: the member list is the machine's own `MemberList`,
 * which encodes as `WelcomeFrame`'s array. A copy of the N ids for every joiner's welcome made
 * assembling a ring of N allocate O(N²) ids, and measurably raised the relay's memory per member
 * (bench/README.md, "Memory").
 */
export type OutgoingWelcome = Omit<WelcomeFrame, 'members'> & { members: MemberList };

/** A frame as the relay machine emits it for delivery. */
export type OutgoingFrame = Exclude<ServerFrame, WelcomeFrame> | OutgoingWelcome;

/** The frame as a client reads it off the wire, for hosts that hand frames to machines without encoding them. */
export function wireFrame(frame: OutgoingFrame): ServerFrame {
  return frame.type === 'welcome' ? { ...frame, members: frame.members.toArray() } : frame;
}

export const CLIENT_FRAME_TYPES = ['election', 'newLeader', 'checkLeader', 'answerLeader'] as const;
export const RELAY_FRAME_TYPES = ['welcome', 'ring', 'error'] as const;

export type ParseResult<F> = { ok: true; frame: F } | { ok: false; code: ErrorCode; detail: string };

/** Orders candidates by (rank, id): the election rule's notion of "higher". */
export function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
}

export function encodeFrame(frame: Frame | OutgoingFrame): string {
  return JSON.stringify(frame);
}

/**
 * Parses any frame (client or relay). `input` is raw text from a socket or a value that
 * was already JSON-parsed. Unknown extra fields are dropped, never forwarded.
 */
export function parseFrame(input: unknown): ParseResult<Frame> {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      return fail('bad_json', `frame is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('bad_frame', 'frame must be a JSON object');
  }
  const record = value as Record<string, unknown>;
  if (typeof record.type !== 'string') return fail('bad_frame', 'field "type" must be a string');
  const parser = PARSERS[record.type as FrameType];
  if (!Object.hasOwn(PARSERS, record.type) || !parser) {
    return fail('unknown_type', `unknown frame type ${JSON.stringify(truncate(record.type))}`);
  }
  try {
    return { ok: true, frame: parser(record) };
  } catch (error) {
    if (error instanceof FieldError) return fail('bad_frame', error.message);
    throw error;
  }
}

/** Parses a frame a client sent to the relay: only the four node-to-node types are allowed. */
export function parseClientFrame(input: unknown): ParseResult<ClientFrame> {
  const result = parseFrame(input);
  if (!result.ok) return result;
  if (!isClientFrame(result.frame)) {
    return fail('bad_frame', `clients may not send "${result.frame.type}" frames`);
  }
  return result as ParseResult<ClientFrame>;
}

export function isClientFrame(frame: Frame): frame is ClientFrame {
  return (CLIENT_FRAME_TYPES as readonly string[]).includes(frame.type);
}

// ---- field validation ----

class FieldError extends Error {}

function fail(code: ErrorCode, detail: string): { ok: false; code: ErrorCode; detail: string } {
  return { ok: false, code, detail: truncate(detail) };
}

function truncate(text: string): string {
  return text.length > LIMITS.detailLength ? `${text.slice(0, LIMITS.detailLength)}…` : text;
}

const CLIENT_ID_RULE = `a client id (1-${LIMITS.idLength} of A-Z a-z 0-9 . _ : -, not "next" or "all")`;

function clientId(record: Record<string, unknown>, field: string): ClientId {
  const value = record[field];
  if (!isValidClientId(value)) throw new FieldError(`field "${field}" must be ${CLIENT_ID_RULE}`);
  return value;
}

function optionalClientId(record: Record<string, unknown>, field: string): ClientId | undefined {
  return record[field] === undefined ? undefined : clientId(record, field);
}

function count(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new FieldError(`field "${field}" must be a non-negative integer`);
  }
  return value;
}

function nonce(record: Record<string, unknown>): string {
  const value = record.nonce;
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.nonceLength) {
    throw new FieldError(`field "nonce" must be a string of 1-${LIMITS.nonceLength} characters`);
  }
  return value;
}

function target(record: Record<string, unknown>): Target {
  const value = record.to;
  if (value === 'next' || value === 'all' || isValidClientId(value)) return value;
  throw new FieldError(`field "to" must be "next", "all" or ${CLIENT_ID_RULE}`);
}

function idList(record: Record<string, unknown>, field: string): ClientId[] {
  const value = record[field];
  if (!Array.isArray(value) || value.length > LIMITS.membersEntries) {
    throw new FieldError(`field "${field}" must be an array of client ids`);
  }
  // A plain loop: `ring` frames list every member and reach every member, so this runs N² times per N joins.
  for (let index = 0; index < value.length; index += 1) {
    if (!isValidClientId(value[index])) throw new FieldError(`field "${field}[${index}]" must be ${CLIENT_ID_RULE}`);
  }
  return (value as ClientId[]).slice();
}

/**
 * An `eligible` list: one pass, no allocation per entry beyond the entry itself (messages are only
 * built for the entry that fails). It runs at every hop of every lap.
 */
function candidateList(entries: unknown[]): Candidate[] {
  const result: Candidate[] = new Array<Candidate>(entries.length);
  const seen = new Set<ClientId>();
  for (let index = 0; index < entries.length; index += 1) {
    const entry = entries[index];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new FieldError(`eligible[${index}] must be an object {id, rank}`);
    }
    const { id, rank } = entry as { id?: unknown; rank?: unknown };
    if (!isValidClientId(id)) throw new FieldError(`eligible[${index}]: field "id" must be ${CLIENT_ID_RULE}`);
    if (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank < 0) {
      throw new FieldError(`eligible[${index}]: field "rank" must be a non-negative integer`);
    }
    if (seen.has(id)) throw new FieldError('field "eligible" lists an id twice');
    seen.add(id);
    result[index] = { id, rank };
  }
  return result;
}

/** A `meta` field: absent, or a JSON object whose encoding fits twice the join limit (it may be re-escaped). */
/** `welcome.timing`: three positive integers, in ms. */
function relayTiming(value: unknown): RelayTiming {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FieldError('field "timing" must be an object {leaderTimeoutMs, heartbeatMs, forwardTimeoutMs}');
  }
  const record = value as Record<string, unknown>;
  const positive = (field: keyof RelayTiming) => {
    const ms = count(record, field);
    if (ms < 1) throw new FieldError(`field "timing.${field}" must be at least 1`);
    return ms;
  };
  return { leaderTimeoutMs: positive('leaderTimeoutMs'), heartbeatMs: positive('heartbeatMs'), forwardTimeoutMs: positive('forwardTimeoutMs') };
}

function optionalMeta(record: Record<string, unknown>, field: string): Meta | undefined {
  const value = record[field];
  if (value === undefined) return undefined;
  if (!isMeta(value) || JSON.stringify(value).length > 2 * LIMITS.metaEncodedBytes) {
    throw new FieldError(`field "${field}" must be a JSON object of at most ${LIMITS.metaEncodedBytes} bytes`);
  }
  return value;
}

function candidate(value: unknown, where: string): Candidate {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FieldError(`${where} must be an object {id, rank}`);
  }
  const record = value as Record<string, unknown>;
  try {
    return { id: clientId(record, 'id'), rank: count(record, 'rank') };
  } catch (error) {
    throw new FieldError(`${where}: ${(error as Error).message}`);
  }
}

function routed(record: Record<string, unknown>): Routed {
  const from = optionalClientId(record, 'from');
  return from === undefined ? { to: target(record) } : { to: target(record), from };
}

const PARSERS: Record<FrameType, (record: Record<string, unknown>) => Frame> = {
  election(record) {
    const eligible = record.eligible;
    if (!Array.isArray(eligible) || eligible.length > LIMITS.eligibleEntries) {
      throw new FieldError('field "eligible" must be an array of {id, rank}');
    }
    const candidates = candidateList(eligible);
    return {
      type: 'election',
      ...routed(record),
      initiator: clientId(record, 'initiator'),
      term: count(record, 'term'),
      eligible: candidates,
    };
  },
  newLeader(record) {
    const frame: NewLeaderFrame = {
      type: 'newLeader',
      ...routed(record),
      leaderId: clientId(record, 'leaderId'),
      rank: count(record, 'rank'),
      term: count(record, 'term'),
    };
    // Only the relay's `meta` means anything (it stamps the leader's own); a client's is dropped there.
    const meta = optionalMeta(record, 'meta');
    if (meta !== undefined) frame.meta = meta;
    return frame;
  },
  checkLeader(record) {
    return { type: 'checkLeader', ...routed(record), nonce: nonce(record) };
  },
  answerLeader(record) {
    return { type: 'answerLeader', ...routed(record), nonce: nonce(record), term: count(record, 'term') };
  },
  welcome(record) {
    if (record.protocol !== PROTOCOL_VERSION) {
      throw new FieldError(`field "protocol" must be ${PROTOCOL_VERSION}`);
    }
    let leader: LeaderInfo | null = null;
    if (record.leader !== null) {
      const info = candidate(record.leader, 'field "leader"');
      const told = record.leader as Record<string, unknown>;
      leader = { ...info, term: count(told, 'term') };
      const meta = optionalMeta(told, 'meta');
      if (meta !== undefined) leader.meta = meta;
    }
    const welcome: WelcomeFrame = {
      type: 'welcome',
      clientId: clientId(record, 'clientId'),
      protocol: PROTOCOL_VERSION,
      members: idList(record, 'members'),
      leader,
    };
    if (record.term !== undefined) welcome.term = count(record, 'term');
    if (record.role === 'observer') welcome.role = 'observer';
    if (record.timing !== undefined) welcome.timing = relayTiming(record.timing);
    return welcome;
  },
  ring(record) {
    const joined = optionalClientId(record, 'joined');
    const left = optionalClientId(record, 'left');
    if ((joined === undefined) === (left === undefined)) throw new FieldError('a ring frame has exactly one of "joined" and "left"');
    return joined === undefined ? { type: 'ring', left: left! } : { type: 'ring', joined };
  },
  error(record) {
    const code = record.code;
    if (typeof code !== 'string' || !(ERROR_CODES as readonly string[]).includes(code)) {
      throw new FieldError(`field "code" must be one of ${ERROR_CODES.join(', ')}`);
    }
    const detail = typeof record.detail === 'string' ? truncate(record.detail) : '';
    return { type: 'error', code: code as ErrorCode, detail };
  },
};
