import { describe, expect, it } from 'vitest';
import { encodeFrame, parseClientFrame, parseFrame } from '../machines/protocol.js';

describe('parseFrame', () => {
  it('round-trips every frame type through the encoder', () => {
    const frames = [
      { type: 'election', to: 'next', initiator: 'n1', term: 3, eligible: [{ id: 'n1', rank: 9 }] },
      { type: 'newLeader', to: 'all', from: 'n2', leaderId: 'n1', rank: 9, term: 3 },
      { type: 'checkLeader', to: 'n1', nonce: '7' },
      { type: 'answerLeader', to: 'n4', nonce: '7', term: 3 },
      { type: 'welcome', clientId: 'n4', protocol: 1, members: ['n1', 'n4'], leader: { id: 'n1', rank: 9, term: 3 } },
      { type: 'ring', left: 'n4' },
      { type: 'error', code: 'bad_json', detail: 'nope' },
    ] as const;
    for (const frame of frames) {
      expect(parseFrame(encodeFrame(frame as never))).toEqual({ ok: true, frame });
    }
  });

  it('names what is wrong with a stable code', () => {
    expect(parseFrame('{not json')).toMatchObject({ ok: false, code: 'bad_json' });
    expect(parseFrame('[]')).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(parseFrame('{"type":"hello"}')).toMatchObject({ ok: false, code: 'unknown_type' });
    expect(parseFrame('{"type":"toString"}')).toMatchObject({ ok: false, code: 'unknown_type' });
    expect(parseFrame({ type: 'newLeader', to: 'all', leaderId: 'n1', rank: -1, term: 1 })).toMatchObject({
      ok: false,
      code: 'bad_frame',
      detail: expect.stringContaining('rank'),
    });
    expect(parseFrame({ type: 'election', to: 'next', initiator: 'n1', term: 1, eligible: [{ id: 'n1', rank: 1 }, { id: 'n1', rank: 1 }] }))
      .toMatchObject({ ok: false, code: 'bad_frame' });
  });

  it('refuses ids that are routing keywords or carry odd characters, wherever an id stands', () => {
    expect(parseFrame({ type: 'newLeader', to: 'all', leaderId: 'all', rank: 1, term: 9 })).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(parseFrame({ type: 'checkLeader', to: 'n 1', nonce: 'a' })).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(parseFrame({ type: 'welcome', clientId: 'n1', protocol: 1, members: ['n1', 'next'], leader: null })).toMatchObject({ ok: false, code: 'bad_frame', detail: expect.stringContaining('members[1]') });
    expect(parseFrame({ type: 'ring', joined: 'n1', left: 'n2' })).toMatchObject({ ok: false, code: 'bad_frame', detail: expect.stringContaining('exactly one') });
    expect(parseFrame({ type: 'election', to: 'next', initiator: 'n1', term: 1, eligible: [{ id: 'n1/x', rank: 1 }] })).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(parseFrame({ type: 'checkLeader', to: 'next', nonce: 'a' })).toMatchObject({ ok: true });
  });

  it('drops unknown fields instead of forwarding them', () => {
    const parsed = parseFrame({ type: 'checkLeader', to: 'n1', nonce: 'a', secret: 'x' });
    expect(parsed).toEqual({ ok: true, frame: { type: 'checkLeader', to: 'n1', nonce: 'a' } });
  });

  it('refuses relay-only frames from a client', () => {
    expect(parseClientFrame({ type: 'ring', joined: 'n2' })).toMatchObject({ ok: false, code: 'bad_frame' });
  });
});
