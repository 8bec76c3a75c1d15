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
 *
 * Lists are shared between the machines of one process too: a process hosting N members (a
 * library user's in-process ring, the simulator) would otherwise hold N copies of an N-long list,
 * O(N²) memory (about 60 MB at N = 1,000). A list built `from` ids that the process's newest
 * backing array starts with, or that start with it, uses that array (appending what it lacks), and
 * appending the id that already follows a version in its backing array (another machine appended
 * it first) takes that version's next one.
 * Both keep every version's prefix unchanged, so sharing is invisible to the lists' users.
 */
import type { ClientId } from './protocol.js';

export class MemberList implements Iterable<ClientId> {
  private constructor(
    private readonly ids: ClientId[],
    private readonly positions: Map<ClientId, number>,
    readonly size: number,
  ) {}

  static readonly EMPTY = new MemberList([], new Map(), 0);

  /** The backing of the list this process built last with `from`: the next `from` of the same members shares it. */
  private static newest: MemberList = MemberList.EMPTY;

  static from(ids: Iterable<ClientId>): MemberList {
    const given = Array.isArray(ids) ? (ids as readonly ClientId[]) : [...ids];
    const { ids: backing, positions: indexed } = MemberList.newest;
    const common = Math.min(given.length, backing.length);
    let index = 0;
    while (index < common && backing[index] === given[index]) index += 1;
    if (index === common) {
      // One is a prefix of the other: share the backing, appending what it lacks (as withJoined would).
      for (; index < given.length && !indexed.has(given[index]!); index += 1) {
        indexed.set(given[index]!, backing.length);
        backing.push(given[index]!);
      }
      if (index === given.length) return new MemberList(backing, indexed, given.length);
    }
    const unique: ClientId[] = [];
    const positions = new Map<ClientId, number>();
    for (const id of given) {
      if (positions.has(id)) continue;
      positions.set(id, unique.length);
      unique.push(id);
    }
    MemberList.newest = new MemberList(unique, positions, unique.length);
    return MemberList.newest;
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
    // Another version (another machine of this process) appended the same id here first.
    if (this.ids[this.size] === id) return new MemberList(this.ids, this.positions, this.size + 1);
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

  /**
   * Whether `prefix` lists the first `prefix.length` members of this list, in order: a list is
   * most often a later version of the one it is asked about, and then this is O(1).
   */
  startsWith(prefix: MemberList): boolean {
    if (prefix.size > this.size) return false;
    if (prefix.ids === this.ids) return true;
    for (let index = 0; index < prefix.size; index += 1) if (prefix.ids[index] !== this.ids[index]) return false;
    return true;
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
