/**
 * What the relay forwards for a member's frame when it reuses the received text instead of
 * encoding the frame again (relay/forwardedMessage.ts): always exactly the frame it parsed with
 * `from` stamped (never an unknown field, whatever the sender packed in), and, for a frame sent
 * as the relay would encode it, the same bytes `JSON.stringify` would write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, parseClientFrame, type ClientFrame } from '../machines/protocol.js';
import { forwardedMessage } from '../relay/forwardedMessage.js';
import { textMessage } from '../relay/outbox.js';
import { startRelay, type RunningRelay } from '../relay/server.js';
import { TestClient, memoryLogger } from './relayHelpers.js';

/** The payload of an unmasked server-to-client text message. */
function payloadOf(message: Buffer): string {
  expect(message[0]).toBe(0x81);
  const marker = message[1]!;
  const start = marker < 126 ? 2 : marker === 126 ? 4 : 10;
  const length = marker < 126 ? marker : marker === 126 ? message.readUInt16BE(2) : message.readUInt32BE(6);
  expect(message.length).toBe(start + length);
  return message.subarray(start).toString();
}

/** What the relay writes for `text` from member `from`: the reused bytes when it may, else a fresh encoding. */
function forwarded(text: string, from = 'n7'): { payload: string; reused: boolean; stamped: ClientFrame } {
  const parsed = parseClientFrame(text);
  if (!parsed.ok) throw new Error(`${parsed.code}: ${parsed.detail}`);
  const stamped = { ...parsed.frame, from };
  const reused = forwardedMessage({ frame: parsed.frame, text, data: Buffer.from(text) }, stamped);
  return { payload: payloadOf(reused ?? textMessage(encodeFrame(stamped))), reused: reused !== null, stamped };
}

const eligible = Array.from({ length: 300 }, (_, index) => ({ id: `n${index + 1}`, rank: index * 1_000_003 }));
// A rank JSON can also write shorter (`1e12`), and the unknown field those 9 saved characters pay for.
const ROUND = { id: 'n301', rank: 1_000_000_000_000 };
const SMUGGLED = ['"rank":1000000000000}', '"rank":1e12,"x":1234}'] as const;

describe('forwarding a frame without encoding it again', () => {
  it('writes, for a frame sent as the relay encodes it, the bytes JSON.stringify would, with from appended', () => {
    const frames: ClientFrame[] = [
      { type: 'election', to: 'next', initiator: 'n1', term: 12, eligible },
      { type: 'election', to: 'next', initiator: 'n1', term: 0, eligible: [] },
      { type: 'checkLeader', to: 'n2', nonce: 'q-1' },
      { type: 'answerLeader', to: 'all', nonce: 'q', term: Number.MAX_SAFE_INTEGER },
      { type: 'newLeader', to: 'all', leaderId: 'n3', rank: 9, term: 4 },
    ];
    for (const frame of frames) {
      const { payload, reused } = forwarded(JSON.stringify(frame));
      expect(payload).toBe(JSON.stringify({ ...frame, from: 'n7' }));
      expect(reused).toBe(true);
    }
    // A sender that names itself as `from` gets its text passed on as it is.
    const own = JSON.stringify({ type: 'checkLeader', to: 'n2', from: 'n7', nonce: 'q' });
    expect(forwarded(own).payload).toBe(own);
  });

  it('never forwards what the relay did not parse: unknown fields, whitespace, escapes, other number forms', () => {
    const canonical = JSON.stringify({ type: 'election', to: 'next', initiator: 'n1', term: 12, eligible: [...eligible, ROUND] });
    // An unknown field paid for by a number written shorter: exactly as long as the canonical text.
    const smuggling = canonical.replace(...SMUGGLED);
    expect(smuggling.length).toBe(canonical.length);
    const texts = [
      smuggling,
      canonical.replace('"term":12', '"term":12,"smuggled":"yes"'),
      canonical.replace('{"id":"n2","rank":1000003}', '{"id":"n2","rank":1000003,"x":0}'),
      canonical.replace('"term":12', '"term":1.2e1'),
      canonical.replace('"term":12', '"term":12.0'),
      canonical.replace('"initiator":"n1"', '"initiator":"\\u006e1"'),
      canonical.replace('"to":"next"', '"to":"next","to":"next"'),
      canonical.replace(',"term"', ', "term"'),
      `${canonical} `,
      JSON.stringify({ type: 'election', term: 12, eligible, initiator: 'n1', to: 'next' }),
      JSON.stringify({ type: 'newLeader', to: 'all', leaderId: 'n3', rank: 9, term: 4, meta: { url: 'http://x' } }),
      JSON.stringify({ type: 'checkLeader', to: 'n2', nonce: 'say "hi" ü' }),
    ];
    for (const text of texts) {
      const { payload, stamped } = forwarded(text);
      expect(JSON.parse(payload)).toEqual(JSON.parse(JSON.stringify(stamped)));
    }
    expect(JSON.parse(forwarded(smuggling).payload).eligible[300]).toEqual(ROUND);
  });
});

describe('through the relay', () => {
  const relays: RunningRelay[] = [];
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(relays.splice(0).map((relay) => relay.close()));
  });

  it('delivers a long election frame as sent with from stamped, and drops a field smuggled in beside a short number', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', logger: memoryLogger().logger });
    relays.push(relay);
    const a = await TestClient.connect(relay.url);
    const b = await TestClient.connect(relay.url);
    clients.push(a, b);
    const list = [...eligible.slice(0, 200), ROUND];
    a.socket.send(JSON.stringify({ type: 'election', to: 'next', initiator: a.id, term: 3, eligible: list }));
    expect(await b.next((frame) => frame.type === 'election')).toEqual({ type: 'election', to: 'next', initiator: a.id, term: 3, eligible: list, from: a.id });

    const canonical = JSON.stringify({ type: 'election', to: 'next', initiator: a.id, term: 4, eligible: list });
    a.socket.send(canonical.replace(...SMUGGLED));
    expect(await b.next((frame) => frame.type === 'election' && frame.term === 4)).toEqual({ type: 'election', to: 'next', initiator: a.id, term: 4, eligible: list, from: a.id });
  });
});
