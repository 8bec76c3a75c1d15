import { describe, expect, it } from 'vitest';
import { MemberList } from '../machines/memberList.js';

describe('member lists of several machines in one process', () => {
  it('each machine sees exactly its own joins, whichever machine saw a join first', () => {
    // Two machines learn the same members from their own welcomes (separately parsed strings).
    const a = MemberList.from(['n1', 'n2']);
    const b = MemberList.from(['n1', 'n2'].map((id) => `${id}`));
    const a3 = a.withJoined('n3');
    const b3 = b.withJoined('n3');
    // Then they part ways: a hears of n5, b of n4 (b was a step behind, say).
    const a5 = a3.withJoined('n5');
    const b4 = b3.withJoined('n4');
    expect(a5.toArray()).toEqual(['n1', 'n2', 'n3', 'n5']);
    expect(b4.toArray()).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect([a5.has('n4'), b4.has('n5'), a5.indexOf('n5'), b4.indexOf('n4')]).toEqual([false, false, 3, 3]);
    // Older versions are untouched.
    expect(a.toArray()).toEqual(['n1', 'n2']);
    expect(b3.toArray()).toEqual(['n1', 'n2', 'n3']);
    expect(a3.has('n5')).toBe(false);
    // And both go on from there.
    expect(b4.withJoined('n5').toArray()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(a5.withJoined('n4').withoutLeft('n1').toArray()).toEqual(['n2', 'n3', 'n5', 'n4']);
  });

  it('a machine welcomed with one member more than the others know leaves theirs as they were', () => {
    const older = MemberList.from(['n1', 'n2']);
    const newer = MemberList.from(['n1', 'n2', 'n3']);
    expect(older.toArray()).toEqual(['n1', 'n2']);
    expect(older.has('n3')).toBe(false);
    expect(newer.toArray()).toEqual(['n1', 'n2', 'n3']);
    expect(older.withJoined('n3').toArray()).toEqual(['n1', 'n2', 'n3']);
    expect(older.withJoined('n4').toArray()).toEqual(['n1', 'n2', 'n4']);
    expect(newer.withJoined('n4').indexOf('n4')).toBe(3);
  });

  it('a welcome naming fewer, other or repeated members than another machine holds gets a list of its own', () => {
    const long = MemberList.from(['n1', 'n2', 'n3', 'n4']);
    const prefix = MemberList.from(['n1', 'n2']);
    const other = MemberList.from(['n1', 'n3']);
    const repeated = MemberList.from(['n1', 'n1', 'n2']);
    expect(prefix.toArray()).toEqual(['n1', 'n2']);
    expect([prefix.has('n3'), prefix.indexOf('n2'), prefix.at(2)]).toEqual([false, 1, undefined]);
    expect(other.toArray()).toEqual(['n1', 'n3']);
    expect(repeated.toArray()).toEqual(['n1', 'n2']);
    expect(prefix.withJoined('n9').toArray()).toEqual(['n1', 'n2', 'n9']);
    expect(long.toArray()).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(MemberList.from([]).length).toBe(0);
  });
});
