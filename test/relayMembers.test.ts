/**
 * The relay machine's membership index (machines/relayMembers.ts): one index shared by a list
 * and the lists that extend it (joins), so every version still answers for itself.
 */
import { describe, expect, it } from 'vitest';
import { isListed, positionIn } from '../machines/relayMembers.js';

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => `n${from + index}`);

describe('relay membership index', () => {
  it('answers for every version of a growing list, old ones included', () => {
    const versions: string[][] = [ids(0, 20)];
    for (let join = 20; join < 60; join += 1) versions.push([...versions.at(-1)!, `n${join}`]);
    // Each version in join order (the index is built once and extended), then all of them again:
    // the older ones are answered from an index that by now knows ids they do not hold.
    for (const list of [...versions, ...versions]) {
      for (let id = 0; id < 60; id += 1) {
        expect(positionIn(list, `n${id}`), `n${id} in a list of ${list.length}`).toBe(id < list.length ? id : -1);
      }
    }
  });

  it('is not fooled by a list that is no extension: a leave, a rejoin at the end, another list', () => {
    const ring = ids(0, 30);
    expect(positionIn(ring, 'n29')).toBe(29);
    const afterLeave = ring.filter((id) => id !== 'n3');
    expect(positionIn(afterLeave, 'n3')).toBe(-1);
    expect(positionIn(afterLeave, 'n29')).toBe(28);
    const rejoined = [...afterLeave, 'n3'];
    expect(positionIn(rejoined, 'n3')).toBe(29);
    expect(positionIn(afterLeave, 'n3')).toBe(-1);
    expect(positionIn(ring, 'n3')).toBe(3);
    const other = ids(100, 140);
    expect(isListed(other, 'n0')).toBe(false);
    expect(positionIn(other, 'n139')).toBe(39);
    expect(positionIn(ring, 'n4')).toBe(4);
  });
});
