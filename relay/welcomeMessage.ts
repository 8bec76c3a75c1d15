/**
 * The `welcome` frames of one ring, framed without encoding the member list afresh each time.
 *
 * A `welcome` lists every member. Assembling a ring of N is N joins, each welcomed with the list
 * so far: encoding each list whole writes N²/2 ids, and `JSON.stringify` allocates several
 * times the text it returns, which at N = 1,000 was a quarter of all the relay allocated for the
 * joins (bench/README.md, "Memory"). A join's list is the previous list plus the joiner (the
 * machine's `MemberList` versions never change), so the previous list's encoding is kept and
 * extended by one id; any other list is encoded whole. The bytes are what `encodeFrame` writes for the
 * frame: the frame is encoded with a marker in place of the list, and the list's text goes where
 * the marker is.
 */
import { randomBytes } from 'node:crypto';
import { MemberList } from '../machines/memberList.js';
import { encodeFrame, type OutgoingWelcome } from '../machines/protocol.js';
import { textMessageOf } from './outbox.js';

export class WelcomeEncoder {
  /**
   * Stands for the member list while the rest of the frame is encoded. Nothing a client sends
   * can hold it: it starts with a NUL (encoded `\u0000`) and carries this process's random nonce.
   */
  private readonly marker = `\u0000members-${randomBytes(12).toString('hex')}`;
  private readonly encodedMarker = JSON.stringify(this.marker);
  private list = MemberList.EMPTY;
  private listText = '[]';

  /** The framed `welcome` message, byte for byte `textMessage(encodeFrame(frame))`. */
  message(frame: OutgoingWelcome): Buffer {
    const text = encodeFrame({ ...frame, members: this.marker as unknown as MemberList });
    const at = text.indexOf(this.encodedMarker);
    const members = this.encode(frame.members);
    return textMessageOf([text.slice(0, at), members, text.slice(at + this.encodedMarker.length)]);
  }

  /** `JSON.stringify(members)`, extending the last list's text when `members` is it plus one id. */
  private encode(members: MemberList): string {
    const { list } = this;
    if (members !== list) {
      this.listText =
        members.length === list.length + 1 && members.startsWith(list)
          ? `${this.listText.slice(0, -1)}${list.length === 0 ? '' : ','}${JSON.stringify(members.at(list.length))}]`
          : JSON.stringify(members);
      this.list = members;
    }
    return this.listText;
  }
}
