/**
 * What a fuzz stream sends the inspector's ingest channel (`ws://.../inspect`, docs/PROTOCOL.md
 * appendix): random input, real-looking `@xstate.actor` / `@xstate.snapshot` / `@xstate.event`
 * messages with things broken (objects where strings belong, `{"toString":0,"valueOf":0}`, huge
 * arrays, deep nesting, numbers past 2^53), streams that pose as the relay or as a real node, and
 * floods of distinct actors.
 */
import type { Rng } from '../sim/rng.js';
import { textShot as text, type Shot } from './shot.js';
import { EDGE_NUMBERS, deeplyNested, randomBytes, randomJsonValue, randomString } from './values.js';

/** Who a fuzz stream pretends to be; fixed when it connects. */
export interface StreamPersona {
  /** `?name=` of the upgrade. */
  name: string;
  /** The actor name of its root actor: "node", "relay", or anything. */
  actorName: string;
  /** Prefix of its session ids, as the real producer writes them (`<name>@<pid>/`). */
  sessionPrefix: string;
  /** Ids it may claim (real members' ids among them). */
  ids: string[];
}

export interface InspectionContext {
  persona: StreamPersona;
  /** Payload limit of the ingest channel: larger messages close the stream. */
  maxBytes: number;
  heavyAllowed: boolean;
  /** Distinct actors this stream has announced so far (floods number them). */
  actorSerial: number;
}

export function makePersona(rng: Rng, members: readonly string[]): StreamPersona {
  const actorName = rng.pick(['node', 'node', 'relay', 'fuzz', '']);
  const pid = rng.int(1, 4_000_000);
  const name = rng.chance(0.8) ? `${actorName === 'relay' ? 'relay' : 'node'} ${pid}` : randomString(rng, rng.int(0, 100));
  const ids = [...members, `ghost-${rng.int(0, 999)}`, 'n1', 'n2'];
  return { name, actorName, sessionPrefix: `${name.replace(/ /g, '-')}@${pid}/`, ids };
}

/** The message a stream sends first, so that what follows is read as its root actor's. */
export function rootActor(rng: Rng, context: InspectionContext): Shot {
  const { persona } = context;
  return text('inspect:rootActor', JSON.stringify({ ...actorTemplate(rng, persona), name: persona.actorName, sessionId: `${persona.sessionPrefix}x:0` }));
}

export function inspectionShot(rng: Rng, context: InspectionContext): Shot {
  const roll = rng.int(0, 99);
  if (roll < 12) return text('inspect:randomJson', JSON.stringify(randomJsonValue(rng)) ?? 'null');
  if (roll < 17) return text('inspect:randomText', randomString(rng, rng.int(0, 200)));
  if (roll < 20) return { kind: 'inspect:binary', data: randomBytes(rng, rng.int(0, 200)), binary: true };
  if (roll < 45) return text('inspect:valid', JSON.stringify(validMessage(rng, context)));
  if (roll < 80) return mutated(rng, context);
  if (roll < 93) {
    // A flood of distinct actors: each a root actor of its own, as if a process started many.
    context.actorSerial += 1;
    const message = { ...actorTemplate(rng, context.persona), sessionId: `${context.persona.sessionPrefix}flood:${context.actorSerial}`, name: rng.pick(['node', 'relay', 'x']) };
    if (rng.chance(0.5)) Object.assign(message, { parentId: `${context.persona.sessionPrefix}x:0` });
    return text('inspect:actorFlood', JSON.stringify(message));
  }
  if (roll < 97 || !context.heavyAllowed) return text('inspect:deepValue', deepValueMessage(rng, context));
  return text('inspect:oversized', JSON.stringify({ type: '@xstate.event', sessionId: 'x', event: { type: 'x', pad: 'x'.repeat(context.maxBytes + rng.int(1, 4096)) } }));
}

// ---- real-looking messages ----

function nodeContext(rng: Rng, persona: StreamPersona): Record<string, unknown> {
  const id = rng.pick(persona.ids);
  return {
    rank: rng.int(0, 1_000_000),
    id,
    members: persona.ids.slice(0, rng.int(0, persona.ids.length)),
    leader: rng.chance(0.3) ? null : { id: rng.pick(persona.ids), rank: rng.int(0, 1_000_000), term: rng.int(0, 1000) },
    term: rng.int(0, 1000),
  };
}

function actorTemplate(rng: Rng, persona: StreamPersona): Record<string, unknown> {
  const sessionId = `${persona.sessionPrefix}x:0`;
  return {
    type: '@xstate.actor',
    name: persona.actorName,
    sessionId,
    rootId: sessionId,
    definition: '{"id":"node"}',
    snapshot: { status: 'active', value: 'disconnected', context: nodeContext(rng, persona) },
    _version: '0.7.2',
    createdAt: String(Date.now()),
    id: null,
  };
}

function frameEvent(rng: Rng, persona: StreamPersona): Record<string, unknown> {
  const id = rng.pick(persona.ids);
  return rng.pick<Record<string, unknown>>([
    { type: 'welcome', clientId: id, protocol: 1, members: persona.ids, leader: null, term: rng.int(0, 100) },
    { type: 'ring', left: id },
    { type: 'election', to: 'next', from: id, initiator: id, term: rng.int(0, 100), eligible: [{ id, rank: 5 }] },
    { type: 'newLeader', to: 'all', from: id, leaderId: id, rank: 5, term: rng.int(0, 100) },
    { type: 'send', frame: { type: 'checkLeader', to: id, nonce: '3' } },
    { type: 'send', frame: { type: 'newLeader', to: 'all', leaderId: id, rank: 1, term: rng.int(0, 100) } },
    { type: 'startElection' },
  ]);
}

function validMessage(rng: Rng, context: InspectionContext): Record<string, unknown> {
  const { persona } = context;
  const root = `${persona.sessionPrefix}x:0`;
  switch (rng.int(0, 2)) {
    case 0:
      return actorTemplate(rng, persona);
    case 1: {
      const value = rng.pick<unknown>(['disconnected', { online: 'follower' }, { online: 'leader' }, { online: 'electing' }, 'left']);
      return { type: '@xstate.snapshot', sessionId: root, rootId: root, snapshot: { status: 'active', value, context: nodeContext(rng, persona) }, event: frameEvent(rng, persona) };
    }
    default:
      // Events to the root and, as a node does, `send` commands from the root to its relay actor.
      return rng.chance(0.5)
        ? { type: '@xstate.event', sessionId: root, rootId: root, event: frameEvent(rng, persona) }
        : { type: '@xstate.event', sessionId: `${persona.sessionPrefix}x:1`, sourceId: root, rootId: root, event: frameEvent(rng, persona) };
  }
}

// ---- mutations ----

/** Values that break code which trusts a field's type: objects that are not strings, lists too long to keep. */
function hostileValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => ({ toString: 0, valueOf: 0 }),
    () => ({ toString: 'x', valueOf: 'y', length: 1e9 }),
    () => ['n1'],
    () => Array.from({ length: rng.pick([1000, 1001, 5000, 50_000]) }, (_, index) => `n${index}`),
    () => Array.from({ length: rng.int(1, 2000) }, () => ({ id: 'n1', rank: 1 })),
    () => rng.pick(EDGE_NUMBERS),
    () => 'x'.repeat(rng.pick([256, 257, 10_000])),
    () => randomJsonValue(rng, 3),
    () => null,
  ])();
}

/** Paths into a message where the model reads something. */
const TARGETS: readonly (readonly string[])[] = [
  ['type'],
  ['sessionId'],
  ['parentId'],
  ['sourceId'],
  ['name'],
  ['snapshot'],
  ['snapshot', 'value'],
  ['snapshot', 'context'],
  ['snapshot', 'context', 'id'],
  ['snapshot', 'context', 'rank'],
  ['snapshot', 'context', 'term'],
  ['snapshot', 'context', 'members'],
  ['snapshot', 'context', 'leader'],
  ['snapshot', 'context', 'leader', 'id'],
  ['snapshot', 'context', 'leader', 'term'],
  ['event'],
  ['event', 'type'],
  ['event', 'frame'],
  ['event', 'eligible'],
  ['event', 'members'],
];

function mutated(rng: Rng, context: InspectionContext): Shot {
  const message = validMessage(rng, context);
  const label = `inspect:mutated:${String(message.type).replace('@xstate.', '')}`;
  const mutations = rng.int(1, 3);
  for (let index = 0; index < mutations; index += 1) setPath(message, rng.pick(TARGETS), hostileValue(rng));
  return text(label, JSON.stringify(message));
}

function setPath(record: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at: Record<string, unknown> = record;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null) {
      const created: Record<string, unknown> = {};
      at[key] = created;
      at = created;
    } else at = next as Record<string, unknown>;
  }
  at[path[path.length - 1]!] = value;
}

/** A snapshot whose state value nests past the limit (8), or a message nested far deeper than any parser should need. */
function deepValueMessage(rng: Rng, context: InspectionContext): string {
  const root = `${context.persona.sessionPrefix}x:0`;
  if (rng.chance(0.5)) {
    let value: unknown = 'leaf';
    for (let depth = rng.int(7, 12); depth > 0; depth -= 1) value = { [`s${depth}`]: value };
    return JSON.stringify({ type: '@xstate.snapshot', sessionId: root, snapshot: { value, context: {} } });
  }
  return `{"type":"@xstate.snapshot","sessionId":"${root}","snapshot":{"value":${deeplyNested(rng, rng.chance(0.9) ? rng.int(1000, 5000) : rng.int(5000, 100_000))}}}`;
}
