/**
 * The model checker's state key (check/canonicalJson.ts): equal states, one key, however they
 * were built.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../check/canonicalJson.js';
import { MemberList } from '../machines/memberList.js';

describe('canonicalJson', () => {
  it('ignores the order keys were built in', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe(canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }));
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
  });

  it('keys a member list by its members, not by the backing array it shares with other versions', () => {
    const base = MemberList.from(['n1', 'n2']);
    const grown = base.withJoined('n3');
    // `base` now shares a backing array that also holds n3; a list of n1, n2 built afresh does not.
    const fresh = MemberList.from(['n1', 'n2', 'n9']).withoutLeft('n9');
    expect(canonicalJson({ members: base })).toBe(canonicalJson({ members: fresh }));
    expect(canonicalJson({ members: base })).toBe('{"members":["n1","n2"]}');
    expect(canonicalJson({ members: grown })).not.toBe(canonicalJson({ members: base }));
  });
});
