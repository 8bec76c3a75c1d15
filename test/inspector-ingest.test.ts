/**
 * The checks every /inspect message passes before the model reads it (inspector/server/ingest.ts):
 * what the producer really sends is accepted and reduced to the fields the model reads; a message
 * with any of those fields of the wrong type or size is rejected whole, with a reason. (That a
 * rejected message cannot hurt the running inspector is tested on a live one in
 * inspector-resilience.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { INGEST_LIMITS, parseInspectionMessage, type IngestMessage } from '../inspector/server/ingest.js';

const nodeSnapshot = {
  status: 'active',
  value: { online: 'follower' },
  context: { rank: 7, id: 'n2', members: ['n1', 'n2'], leader: { id: 'n1', rank: 9, term: 3 }, term: 3, timing: { checkIntervalMs: 1000 }, round: null, nonce: 4 },
};
const actor = { type: '@xstate.actor', name: 'node', sessionId: 'node-1@1/x:0', rootId: 'node-1@1/x:0', definition: '{"id":"node"}', snapshot: nodeSnapshot, _version: '0.7.2', createdAt: '1', id: null };
const sendEvent = { type: '@xstate.event', sessionId: 'node-1@1/x:1', sourceId: 'node-1@1/x:0', event: { type: 'send', frame: { type: 'checkLeader', to: 'n1', nonce: '3' } } };
const snapshotMessage = { type: '@xstate.snapshot', sessionId: 'node-1@1/x:0', snapshot: nodeSnapshot, event: { type: 'answerLeader', to: 'n2', nonce: '3', term: 3, from: 'n1' } };

function accepted(message: unknown): IngestMessage {
  const result = parseInspectionMessage(JSON.stringify(message));
  if (!result.ok) throw new Error(`rejected: ${result.reason}`);
  return result.message;
}

function rejection(message: unknown): string {
  const result = parseInspectionMessage(typeof message === 'string' ? message : JSON.stringify(message));
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(message)}`);
  return result.reason;
}

/** `base` with the value at `path` replaced (undefined deletes it). */
function withField(base: object, path: string, value: unknown): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  if (value === undefined) delete target[keys.at(-1)!];
  else target[keys.at(-1)!] = value;
  return copy;
}

describe('inspection ingest: what is accepted', () => {
  it("keeps only the fields the model reads, as plain values, from the producer's messages", () => {
    expect(accepted(actor)).toEqual({
      type: '@xstate.actor',
      sessionId: 'node-1@1/x:0',
      parentId: null,
      name: 'node',
      snapshot: { statePath: 'online.follower', context: { id: 'n2', rank: 7, term: 3, leader: { id: 'n1', rank: 9, term: 3 }, members: ['n1', 'n2'] } },
    });
    expect(accepted(sendEvent)).toEqual({ type: '@xstate.event', sessionId: 'node-1@1/x:1', sourceId: 'node-1@1/x:0', event: { kind: 'send', type: 'send', frame: { type: 'checkLeader', to: 'n1', nonce: '3' } } });
    expect(accepted(snapshotMessage)).toMatchObject({ type: '@xstate.snapshot', event: { kind: 'frame', type: 'answerLeader', frame: { type: 'answerLeader', from: 'n1', term: 3 } } });
    // Events that are not frames are kept by their type alone.
    expect(accepted({ type: '@xstate.event', sessionId: 's', event: { type: 'relay.closed', reason: { huge: 'x'.repeat(1000) } } })).toMatchObject({ event: { kind: 'other', type: 'relay.closed' } });
    // A batch of joins says who joined; a malformed one is refused like a malformed frame.
    expect(accepted({ type: '@xstate.event', sessionId: 's', event: { type: 'ring.joined', ids: ['n8', 'n9'] } })).toMatchObject({
      event: { kind: 'other', type: 'ring.joined', detail: 'n8, n9 joined' },
    });
    expect(rejection({ type: '@xstate.event', sessionId: 's', event: { type: 'ring.joined', ids: [{ id: 'n8' }] } })).toMatch(/ring\.joined/);
    // A child actor's snapshot (a callback actor) has no state value and no context.
    expect(accepted({ type: '@xstate.actor', sessionId: 's:1', parentId: 's:0', snapshot: { status: 'active' } })).toMatchObject({ snapshot: { statePath: 'unknown', context: {} } });
    // Other @xstate.* types are passed on (to the Stately bridge), not read.
    expect(accepted({ type: '@xstate.microstep', sessionId: 's' })).toEqual({ type: 'other', sourceType: '@xstate.microstep', sessionId: 's' });
  });

  it('never hands on an object where the model expects a string or a number', () => {
    const message = accepted(actor);
    if (message.type !== '@xstate.actor' || message.snapshot === null) throw new Error('unexpected');
    const { leader, members } = message.snapshot.context;
    expect(typeof leader!.id).toBe('string');
    expect(members).not.toBe(nodeSnapshot.context.members);
  });
});

describe('inspection ingest: what is rejected', () => {
  const poison = { toString: 0, valueOf: 0 };

  it.each([
    ['the reported crash: leader.id is an object', withField(actor, 'snapshot.context.leader.id', poison)],
    ['context.id is a number', withField(actor, 'snapshot.context.id', 7)],
    ['context.id is not a client id', withField(actor, 'snapshot.context.id', 'all')],
    ['context.rank is a string', withField(actor, 'snapshot.context.rank', 'high')],
    ['context.rank is negative', withField(actor, 'snapshot.context.rank', -1)],
    ['context.rank is not an integer', withField(actor, 'snapshot.context.rank', 1.5)],
    ['context.term is an object', withField(actor, 'snapshot.context.term', poison)],
    ['context.leader is a string', withField(actor, 'snapshot.context.leader', 'nope')],
    ['context.leader.term is missing', withField(actor, 'snapshot.context.leader.term', undefined)],
    ['context.members is an object', withField(actor, 'snapshot.context.members', poison)],
    ['context.members holds an object', withField(actor, 'snapshot.context.members', ['n1', poison])],
    ['context.members is over the limit', withField(actor, 'snapshot.context.members', Array.from({ length: INGEST_LIMITS.listEntries + 1 }, (_, index) => `n${index}`))],
    ['context is an array', withField(actor, 'snapshot.context', [])],
    ['the state value is a number', withField(actor, 'snapshot.value', 7)],
    ['a nested state value is an object with toString', withField(actor, 'snapshot.value', { online: poison })],
    ['the state value nests too deep', withField(actor, 'snapshot.value', JSON.parse(`${'{"a":'.repeat(20)}"b"${'}'.repeat(20)}`))],
    ['the sessionId is an object', withField(actor, 'sessionId', poison)],
    ['the sessionId is too long', withField(actor, 'sessionId', 'x'.repeat(INGEST_LIMITS.sessionIdLength + 1))],
    ['the name is an object', withField(actor, 'name', poison)],
    ['the parentId is a number', withField(actor, 'parentId', 3)],
    ['a snapshot message without a snapshot', withField(snapshotMessage, 'snapshot', undefined)],
    ['an event message without an event', withField(sendEvent, 'event', undefined)],
    ['the event type is an object', withField(sendEvent, 'event.type', poison)],
    ['a sent frame with an object nonce', withField(sendEvent, 'event.frame.nonce', poison)],
    ['a sent frame that is not a client frame', withField(sendEvent, 'event.frame', { type: 'welcome' })],
    ['a received election frame with a bad eligible list', { ...snapshotMessage, event: { type: 'election', to: 'next', initiator: 'n1', term: 2, eligible: [{ id: poison, rank: 1 }] } }],
    ['a received welcome frame with an object clientId', { ...snapshotMessage, event: { type: 'welcome', clientId: poison, protocol: 1, members: [], leader: null } }],
    ['an election frame over the list limit', withField(sendEvent, 'event.frame', { type: 'election', to: 'next', initiator: 'n0', term: 1, eligible: Array.from({ length: INGEST_LIMITS.listEntries + 1 }, (_, index) => ({ id: `n${index}`, rank: 1 })) })],
    ['the type is not an inspection event', { type: 'hello' }],
    ['the type is an object', { type: poison }],
  ])('%s', (_what, message) => {
    expect(rejection(message)).toMatch(/\w/);
  });

  it('rejects what is not a JSON object', () => {
    for (const text of ['{not json', '42', 'null', '[]', '"@xstate.actor"']) expect(rejection(text)).toMatch(/\w/);
  });
});
