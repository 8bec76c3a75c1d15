/**
 * The ring's members in ring order, as a node machine keeps them: an immutable value (old
 * snapshots keep theirs, as XState and the model checker need) whose common change, a member
 * joining at the end, costs O(1) instead of a copy of the whole list.
 *
 * Why: every join is announced to every member, so a ring of N assembles with N² `ring` frames;
 * copying an N-long list for each made assembly O(N³) (a ring of 1,000 nodes took minutes and
 * hundreds of megabytes of garbage).
 *
 * How: versions share one backing array and one id -> position index; a version is the prefix of
 * length `size`. Appending to the newest version pushes onto the shared array; appending to an
 * older one (a branch, as the model checker makes) copies first. A leave copies (leaves are rare).
 */
import type { ClientId } from './protocol.js';

export class MemberList implements Iterable<ClientId> {
  private constructor(
    private readonly ids: ClientId[],
    private readonly positions: Map<ClientId, number>,
    readonly size: number,
  ) {}

  static readonly EMPTY = new MemberList([], new Map(), 0);

  static from(ids: Iterable<ClientId>): MemberList {
    const unique: ClientId[] = [];
    const positions = new Map<ClientId, number>();
    for (const id of ids) {
      if (positions.has(id)) continue;
      positions.set(id, unique.length);
      unique.push(id);
    }
    return new MemberList(unique, positions, unique.length);
  }

  get length(): number {
    return this.size;
  }

  has(id: ClientId): boolean {
    return this.indexOf(id) !== -1;
  }

  /** Position in ring order, or -1. */
  indexOf(id: ClientId): number {
    const position = this.positions.get(id);
    return position !== undefined && position < this.size && this.ids[position] === id ? position : -1;
  }

  at(index: number): ClientId | undefined {
    return index >= 0 && index < this.size ? this.ids[index] : undefined;
  }

  /** The list with `id` appended at the end of ring order (unchanged if it is a member). */
  withJoined(id: ClientId): MemberList {
    if (this.has(id)) return this;
    if (this.ids.length === this.size && !this.positions.has(id)) {
      this.ids.push(id);
      this.positions.set(id, this.size);
      return new MemberList(this.ids, this.positions, this.size + 1);
    }
    return MemberList.from([...this, id]);
  }

  /** The list without `id` (unchanged if it is not a member). */
  withoutLeft(id: ClientId): MemberList {
    if (!this.has(id)) return this;
    return MemberList.from(this.toArray().filter((member) => member !== id));
  }

  every(predicate: (id: ClientId) => boolean): boolean {
    for (let index = 0; index < this.size; index += 1) if (!predicate(this.ids[index]!)) return false;
    return true;
  }

  some(predicate: (id: ClientId) => boolean): boolean {
    return !this.every((id) => !predicate(id));
  }

  toArray(): ClientId[] {
    return this.ids.slice(0, this.size);
  }

  /** Snapshots (the inspector's stream, logs) show the list as a plain array. */
  toJSON(): ClientId[] {
    return this.toArray();
  }

  *[Symbol.iterator](): Iterator<ClientId> {
    for (let index = 0; index < this.size; index += 1) yield this.ids[index]!;
  }
}
