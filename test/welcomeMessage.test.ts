/**
 * The relay's `welcome` messages (relay/welcomeMessage.ts): byte for byte what encoding the whole
 * frame writes, whether the member list extends the last one or not.
 */
import { describe, expect, it } from 'vitest';
import { MemberList } from '../machines/memberList.js';
import { encodeFrame, type ClientId, type OutgoingWelcome } from '../machines/protocol.js';
import { textMessage } from '../relay/outbox.js';
import { WelcomeEncoder } from '../relay/welcomeMessage.js';

/** A welcome as the relay machine emits it; `encodeFrame` writes its list as the array. */
const welcome = (members: MemberList | ClientId[], extra: Partial<OutgoingWelcome> = {}): OutgoingWelcome => ({
  type: 'welcome',
  clientId: (Array.isArray(members) ? members.at(-1) : members.at(members.length - 1)) ?? 'o1',
  protocol: 1,
  members: Array.isArray(members) ? MemberList.from(members) : members,
  leader: null,
  term: 0,
  ...extra,
});

describe('welcome messages', () => {
  it('frames each welcome of a growing ring exactly as encoding it whole would', () => {
    const encoder = new WelcomeEncoder();
    let members = MemberList.EMPTY;
    // Past 125 and 65,535 bytes: the longer WebSocket length headers.
    for (let join = 1; join <= 7000; join += 1) {
      members = members.withJoined(`n${join}`);
      if (join <= 30 || join % 997 === 0 || join === 7000) {
        const frame = welcome(members);
        expect(encoder.message(frame).equals(textMessage(encodeFrame(frame))), `welcome of n${join}`).toBe(true);
      } else encoder.message(welcome(members));
    }
  });

  it('encodes a list that does not extend the last one afresh: a leave, the same list, an observer, a leader with meta', () => {
    const encoder = new WelcomeEncoder();
    const frames: OutgoingWelcome[] = [
      welcome(['n1', 'n2', 'n3']),
      welcome(['n1', 'n3', 'n4']),
      welcome(['n1', 'n3', 'n4'], { clientId: 'o9', role: 'observer' }),
      welcome(['n1', 'n3', 'n4', 'n5'], { leader: { id: 'n3', rank: 5, term: 4, meta: { members: 0, note: '"members":[]\u0000' } }, term: 4 }),
      welcome([]),
      welcome(['a']),
    ];
    for (const frame of frames) expect(encoder.message(frame).equals(textMessage(encodeFrame(frame))), JSON.stringify(frame)).toBe(true);
  });
});
