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

/** The relay machine keeps its ring order in MemberLists too: every version must answer for itself. */
describe('MemberList versions, as the relay machine makes them', () => {
  const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => `n${from + index}`);

  it('answers for every version of a growing list, old ones included', () => {
    const versions = [MemberList.from(ids(0, 20))];
    for (let join = 20; join < 60; join += 1) versions.push(versions.at(-1)!.withJoined(`n${join}`));
    // Each version in join order, then all of them again: the older ones share a backing that by
    // now holds ids they do not.
    for (const list of [...versions, ...versions]) {
      for (let id = 0; id < 60; id += 1) {
        expect(list.indexOf(`n${id}`), `n${id} in a list of ${list.length}`).toBe(id < list.length ? id : -1);
      }
    }
  });

  it('is not fooled by a list that is no extension: a leave, a rejoin at the end, another list', () => {
    const ring = MemberList.from(ids(0, 30));
    const afterLeave = ring.withoutLeft('n3');
    expect(afterLeave.indexOf('n3')).toBe(-1);
    expect(afterLeave.indexOf('n29')).toBe(28);
    const rejoined = afterLeave.withJoined('n3');
    expect(rejoined.indexOf('n3')).toBe(29);
    expect(afterLeave.indexOf('n3')).toBe(-1);
    expect(ring.indexOf('n3')).toBe(3);
    const other = MemberList.from(ids(100, 140));
    expect(other.has('n0')).toBe(false);
    expect(other.indexOf('n139')).toBe(39);
    expect(ring.indexOf('n4')).toBe(4);
  });

  it('startsWith: a later version starts with an earlier one; a leave, a branch or another list does not', () => {
    const base = MemberList.from(ids(0, 10));
    const grown = base.withJoined('n10').withJoined('n11');
    expect(grown.startsWith(base)).toBe(true);
    expect(base.startsWith(grown)).toBe(false);
    expect(grown.startsWith(MemberList.EMPTY)).toBe(true);
    expect(base.withoutLeft('n0').startsWith(base)).toBe(false);
    // A branch: the same base grown another way is a list of its own, still starting with base.
    const branch = base.withJoined('x');
    expect(branch.startsWith(base)).toBe(true);
    expect(branch.startsWith(grown)).toBe(false);
    expect(grown.startsWith(branch)).toBe(false);
    expect(MemberList.from(ids(0, 12)).startsWith(grown)).toBe(true);
  });
});
