/**
 * The message the relay forwards for a member's frame, without encoding the frame again when it
 * need not.
 *
 * The relay parses and checks every frame, and its machine decides where it goes and stamps
 * `from`. Encoding the stamped frame again (`JSON.stringify`) costs, for an `election` frame, as
 * much as parsing it: the frame lists every candidate so far. When the received text already is
 * what that encoding would write (apart from `from`), the relay forwards the received bytes with
 * `from` appended: byte for byte what `JSON.stringify({...frame, from})` writes, up to the order
 * of the keys the sender chose.
 *
 * "Already is" is decided without encoding. `leastLength` is a lower bound on the length of any
 * JSON text of the parsed frame, reached only by the text without whitespace, escapes or
 * anything but the frame's own fields once each, numbers written as plain digits. Only an
 * exponent (`1e15`) writes a number shorter than its digits, which could pay for an unknown field
 * of the same length: a text with a digit followed by `e` or `E` anywhere is encoded afresh (an
 * id like `n1e5` only costs that frame the encoding). So a text whose length is that bound holds
 * exactly the parsed fields, and unknown fields are still never forwarded.
 */
import type { ClientFrame, ServerFrame } from '../machines/protocol.js';
import { textMessage } from './outbox.js';

/** A member's frame as it came: parsed, its text, and the bytes of that text. */
export interface Received {
  frame: ClientFrame;
  text: string;
  data: Buffer;
}

const EXPONENT = /[0-9][eE]/;

/**
 * The WebSocket message to forward for `delivered` when it is `received.frame` with only `from`
 * stamped and the received text is what its encoding would be; null when it must be encoded.
 */
export function forwardedMessage(received: Received, delivered: ServerFrame): Buffer | null {
  const { frame, text, data } = received;
  const from = (delivered as { from?: unknown }).from;
  if (typeof from !== 'string' || !isStampedCopy(frame, delivered, from)) return null;
  if (leastLength(frame) !== text.length || EXPONENT.test(text)) return null;
  if (frame.from !== undefined) return textMessage(data);
  return textMessage(data, `,"from":${JSON.stringify(from)}}`);
}

/** `delivered` has the same fields as `received`, the same values (shared, not copied), and `from`. */
function isStampedCopy(received: ClientFrame, delivered: ServerFrame, from: string): boolean {
  if (received.from !== undefined && received.from !== from) return false;
  const sent = received as unknown as Record<string, unknown>;
  const copy = delivered as unknown as Record<string, unknown>;
  let fields = 0;
  for (const key in copy) {
    if (key === 'from') continue;
    if (copy[key] !== sent[key]) return false;
    fields += 1;
  }
  return fields === Object.keys(sent).length - (received.from === undefined ? 0 : 1);
}

/**
 * The fewest characters any JSON text of `value` takes: strings unescaped, integers as digits,
 * no whitespace. -1 for a value that is not a tree of strings, non-negative integers, arrays and
 * objects. Counting an array of `{id, rank}` entries by their values only (the parser builds them
 * with those two fields) keeps this cheap on every hop of a lap; an entry with another field
 * would be counted short, which is safe: no text is that short, so it is encoded afresh.
 */
export function leastLength(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  if (typeof value === 'number') return digitsOf(value);
  if (typeof value !== 'object' || value === null) return -1;
  if (Array.isArray(value)) return listLength(value);
  let length = 2;
  let fields = 0;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const field = record[key];
    if (field === undefined) continue;
    const valueLength = leastLength(field);
    if (valueLength < 0) return -1;
    length += key.length + 3 + valueLength;
    fields += 1;
  }
  return length + Math.max(0, fields - 1);
}

function listLength(list: readonly unknown[]): number {
  let length = 2 + Math.max(0, list.length - 1);
  for (let index = 0; index < list.length; index += 1) {
    const item = list[index] as { id?: unknown; rank?: unknown } | null;
    let itemLength: number;
    if (typeof item === 'object' && item !== null && typeof item.id === 'string' && typeof item.rank === 'number') {
      // {"id":<id>,"rank":<rank>}
      const rank = digitsOf(item.rank);
      itemLength = rank < 0 ? -1 : 17 + item.id.length + rank;
    } else itemLength = leastLength(item);
    if (itemLength < 0) return -1;
    length += itemLength;
  }
  return length;
}

/** Digits of a non-negative safe integer (-0 is written `0`); -1 for any other number. */
function digitsOf(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) return -1;
  let digits = 1;
  for (let bound = 10; value >= bound && digits < 16; bound *= 10) digits += 1;
  return digits;
}
