/**
 * Shapeless input: random JSON values, random text and random bytes, including the awkward
 * corners (lone surrogates, `__proto__` keys, numbers JSON cannot hold exactly, invalid UTF-8).
 * The ring and inspection generators build on these; everything draws from one seeded Rng so a
 * seed replays the same input.
 */
import type { Rng } from '../sim/rng.js';

/** Strings chosen to trip parsers and the code behind them, beside random ones. */
const NASTY_STRINGS = [
  '',
  ' ',
  'next',
  'all',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  '-0',
  '\u0000',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202e',
  '💥',
  '%s%n',
  '${x}',
  '<script>',
  '../../etc/passwd',
] as const;

/** Numbers at the edges of what the protocol accepts (integers 0..2^53-1) and beyond. */
export const EDGE_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  -1.5,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53 - 2,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  1e21,
  1e300,
  -1e300,
  Number.MIN_VALUE,
  Number.MAX_VALUE,
] as const;

/** A string of `length` characters from the whole UTF-16 range (lone surrogates included). */
export function randomString(rng: Rng, length: number): string {
  let text = '';
  for (let index = 0; index < length; index += 1) {
    const band = rng.int(0, 9);
    // Mostly printable ASCII, so some strings look like ids; the rest anything at all.
    text += String.fromCharCode(band < 6 ? rng.int(0x20, 0x7e) : band < 8 ? rng.int(0, 0xffff) : rng.int(0xd800, 0xdfff));
  }
  return text;
}

/** A string the way an attacker would pick one: a nasty classic, a random one, or a long one. */
export function awkwardString(rng: Rng): string {
  const roll = rng.int(0, 9);
  if (roll < 3) return rng.pick(NASTY_STRINGS);
  if (roll < 9) return randomString(rng, rng.int(0, 20));
  return randomString(rng, rng.int(60, 2000));
}

export function awkwardNumber(rng: Rng): number {
  return rng.chance(0.6) ? rng.pick(EDGE_NUMBERS) : (rng.next() - 0.5) * 10 ** rng.int(0, 20);
}

/** Any JSON value, nested at most `depth` levels. */
export function randomJsonValue(rng: Rng, depth = 3): unknown {
  const roll = rng.int(0, depth > 0 ? 7 : 4);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return awkwardNumber(rng);
    case 3:
    case 4:
      return awkwardString(rng);
    case 5:
      return Array.from({ length: rng.int(0, 6) }, () => randomJsonValue(rng, depth - 1));
    default: {
      const record: Record<string, unknown> = {};
      const keys = rng.int(0, 6);
      for (let index = 0; index < keys; index += 1) {
        const key = rng.chance(0.3) ? rng.pick(NASTY_STRINGS) : randomString(rng, rng.int(1, 10));
        // JSON.parse makes `__proto__` an own property; an object literal would not, so define it.
        Object.defineProperty(record, key, { value: randomJsonValue(rng, depth - 1), enumerable: true, writable: true, configurable: true });
      }
      return record;
    }
  }
}

export function randomBytes(rng: Rng, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let index = 0; index < length; index += 1) bytes[index] = rng.int(0, 255);
  return bytes;
}

/** Byte sequences no UTF-8 decoder may accept: stray continuation bytes, overlong forms, encoded surrogates, 0xFF. */
const INVALID_UTF8 = [[0xff], [0x80], [0xc3, 0x28], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x92]] as const;

/** Text that is valid JSON around one invalid UTF-8 sequence. */
export function invalidUtf8(rng: Rng): Buffer {
  const prefix = Buffer.from('{"type":"checkLeader","to":"all","nonce":"');
  return Buffer.concat([prefix, Buffer.from(rng.pick(INVALID_UTF8)), Buffer.from('"}')]);
}

/** `depth` nested arrays or objects: parsers that recurse may run out of stack. */
export function deeplyNested(rng: Rng, depth: number): string {
  return rng.chance(0.5) ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}
