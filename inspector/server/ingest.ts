/**
 * What the inspector accepts on /inspect: one text message, checked field by field before the
 * model sees it. Anyone who can reach /inspect can send anything, and the model builds strings,
 * lists and counts from what it reads; so every field it reads is checked here for type and
 * size, and the result holds only those fields (copied, never the sender's objects). A message
 * that fails is rejected whole, with a reason, and never reaches the model.
 *
 * Pure and synchronous: `parseInspectionMessage(text)` can be called directly (tests, fuzzers).
 */
import { isValidClientId, parseClientFrame, parseFrame, type ClientFrame, type Frame, type LeaderInfo } from '../../machines/protocol.js';

export const INGEST_LIMITS = {
  /** Session, parent and source ids: the producer's `<name>@<pid>/x:<n>`. */
  sessionIdLength: 256,
  /** Actor names and event types. */
  nameLength: 256,
  /**
   * Entries in any list the model keeps (members, eligible). The page cannot draw more, and it
   * bounds what one connection can make the inspector hold; `up` runs at most 200 nodes.
   */
  listEntries: 1000,
  /** A state value nests at most this deep ({ online: 'follower' } is 2). */
  stateDepth: 8,
  /** Longest state path kept, e.g. "online.follower". */
  statePathLength: 256,
} as const;

/** The facts the model reads from a machine's context (the node's and the relay's). */
export interface ContextFacts {
  id?: string | null;
  rank?: number;
  leader?: LeaderInfo | null;
  term?: number;
  members?: string[];
}

export interface SnapshotFacts {
  /** "online.follower" from { online: 'follower' }; "unknown" when the snapshot has no state value. */
  statePath: string;
  context: ContextFacts;
}

/** An event a machine received: a ring frame, the `send` command a node gives its relay link, or anything else by its type only. */
export type InspectedEvent =
  | { kind: 'frame'; type: Frame['type']; frame: Frame }
  | { kind: 'send'; type: 'send'; frame: ClientFrame }
  /** Any other event; `detail` for the few whose content is worth a line (a batch of joins). */
  | { kind: 'other'; type: string; detail?: string };

export type IngestMessage =
  | { type: '@xstate.actor'; sessionId: string; parentId: string | null; name: string | null; snapshot: SnapshotFacts | null }
  | { type: '@xstate.event'; sessionId: string; sourceId: string | null; event: InspectedEvent }
  | { type: '@xstate.snapshot'; sessionId: string; snapshot: SnapshotFacts; event: InspectedEvent | null }
  /** Another `@xstate.*` type: not read by the model, still forwarded to the Stately bridge. */
  | { type: 'other'; sourceType: string; sessionId: string | null };

export type IngestResult = { ok: true; message: IngestMessage } | { ok: false; reason: string };

/** Thrown inside the checks; turned into `{ ok: false, reason }` at the top. */
class Invalid extends Error {}

export function parseInspectionMessage(text: string): IngestResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  try {
    return { ok: true, message: readMessage(value) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message };
    throw error;
  }
}

function readMessage(value: unknown): IngestMessage {
  const record = object(value, 'message');
  const type = record.type;
  if (typeof type !== 'string') throw new Invalid('"type" must be a string');
  switch (type) {
    case '@xstate.actor':
      return {
        type,
        sessionId: sessionId(record, 'sessionId'),
        parentId: optionalSessionId(record, 'parentId'),
        name: optionalName(record, 'name'),
        snapshot: record.snapshot === undefined || record.snapshot === null ? null : snapshot(record.snapshot),
      };
    case '@xstate.event':
      return { type, sessionId: sessionId(record, 'sessionId'), sourceId: optionalSessionId(record, 'sourceId'), event: event(record.event) };
    case '@xstate.snapshot':
      return {
        type,
        sessionId: sessionId(record, 'sessionId'),
        snapshot: snapshot(record.snapshot),
        event: record.event === undefined || record.event === null ? null : event(record.event),
      };
    default:
      if (!/^@xstate\.[A-Za-z]{1,32}$/.test(type)) throw new Invalid('"type" is not an @xstate.* inspection event');
      return { type: 'other', sourceType: type, sessionId: optionalSessionId(record, 'sessionId') };
  }
}

// ---- snapshots and contexts ----

function snapshot(value: unknown): SnapshotFacts {
  const record = object(value, '"snapshot"');
  const statePath = record.value === undefined ? 'unknown' : pathOfStateValue(record.value, 0);
  if (statePath.length > INGEST_LIMITS.statePathLength) throw new Invalid('"snapshot.value" is too long');
  return { statePath, context: record.context === undefined || record.context === null ? {} : contextFacts(record.context) };
}

/** "online.follower" from { online: 'follower' }; the first region of a parallel state. */
function pathOfStateValue(value: unknown, depth: number): string {
  if (depth > INGEST_LIMITS.stateDepth) throw new Invalid('"snapshot.value" nests too deep');
  if (typeof value === 'string') {
    if (value.length === 0 || value.length > INGEST_LIMITS.nameLength) throw new Invalid('a state name must be 1-256 characters');
    return value;
  }
  const record = object(value, '"snapshot.value"');
  const keys = Object.keys(record);
  const key = keys[0];
  if (key === undefined) return 'unknown';
  if (key.length > INGEST_LIMITS.nameLength) throw new Invalid('a state name must be 1-256 characters');
  // Every region must be well formed, even the ones the path does not show.
  const paths = keys.map((name) => pathOfStateValue(record[name], depth + 1));
  const rest = paths[0]!;
  return rest === 'unknown' ? key : `${key}.${rest}`;
}

function contextFacts(value: unknown): ContextFacts {
  const record = object(value, '"snapshot.context"');
  const facts: ContextFacts = {};
  if (record.id !== undefined) {
    if (record.id !== null && !isValidClientId(record.id)) throw new Invalid('"context.id" must be a client id or null');
    facts.id = record.id;
  }
  if (record.rank !== undefined) facts.rank = count(record.rank, '"context.rank"');
  if (record.term !== undefined) facts.term = count(record.term, '"context.term"');
  if (record.leader !== undefined) facts.leader = record.leader === null ? null : leader(record.leader);
  if (record.members !== undefined) facts.members = idList(record.members, '"context.members"');
  return facts;
}

function leader(value: unknown): LeaderInfo {
  const record = object(value, '"context.leader"');
  if (!isValidClientId(record.id)) throw new Invalid('"context.leader.id" must be a client id');
  return { id: record.id, rank: count(record.rank, '"context.leader.rank"'), term: count(record.term, '"context.leader.term"') };
}

// ---- events ----

const FRAME_EVENT_TYPES = new Set<string>(['welcome', 'ring', 'error', 'election', 'newLeader', 'checkLeader', 'answerLeader']);

function event(value: unknown): InspectedEvent {
  const record = object(value, '"event"');
  const type = record.type;
  if (typeof type !== 'string' || type.length === 0 || type.length > INGEST_LIMITS.nameLength) throw new Invalid('"event.type" must be a string of 1-256 characters');
  if (FRAME_EVENT_TYPES.has(type)) {
    // A node's machine receives frames as events: the same frame rules as on the wire.
    const parsed = parseFrame(record);
    if (!parsed.ok) throw new Invalid(`"event" is a malformed ${type} frame: ${parsed.detail}`);
    return { kind: 'frame', type: parsed.frame.type, frame: withinListLimits(parsed.frame) };
  }
  if (type === 'send') {
    const parsed = parseClientFrame(record.frame);
    if (!parsed.ok) throw new Invalid(`"event.frame" of a send is not a client frame: ${parsed.detail}`);
    return { kind: 'send', type, frame: withinListLimits(parsed.frame) };
  }
  if (type === 'ring.joined') {
    // The joins one read of a node's socket brought, as one event (node/relayConnection.ts).
    const ids = idList(record.ids, '"event.ids" of ring.joined');
    return { kind: 'other', type, detail: `${ids.join(', ')} joined` };
  }
  return { kind: 'other', type };
}

function withinListLimits<F extends Frame>(frame: F): F {
  const list = frame.type === 'election' ? frame.eligible : frame.type === 'welcome' ? frame.members : null;
  if (list !== null && list.length > INGEST_LIMITS.listEntries) throw new Invalid(`a ${frame.type} frame lists more than ${INGEST_LIMITS.listEntries} entries`);
  return frame;
}

// ---- primitives ----

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Invalid(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function sessionId(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > INGEST_LIMITS.sessionIdLength) {
    throw new Invalid(`"${field}" must be a string of 1-${INGEST_LIMITS.sessionIdLength} characters`);
  }
  return value;
}

function optionalSessionId(record: Record<string, unknown>, field: string): string | null {
  return record[field] === undefined || record[field] === null ? null : sessionId(record, field);
}

function optionalName(record: Record<string, unknown>, field: string): string | null {
  const value = record[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > INGEST_LIMITS.nameLength) throw new Invalid(`"${field}" must be a string of at most ${INGEST_LIMITS.nameLength} characters`);
  return value;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Invalid(`${what} must be a non-negative integer`);
  return value;
}

function idList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new Invalid(`${what} must be an array of client ids`);
  if (value.length > INGEST_LIMITS.listEntries) throw new Invalid(`${what} has more than ${INGEST_LIMITS.listEntries} entries`);
  for (const id of value) if (!isValidClientId(id)) throw new Invalid(`${what} must be an array of client ids`);
  return (value as string[]).slice();
}
