/**
 * What each member and observer told the relay about itself (`MemberProfile`), kept in the relay
 * machine's context as an immutable book: a join or a leave returns a new book and leaves the old
 * one as it was, so snapshots taken earlier (the inspector's, the model checker's) never change.
 *
 * A plain record copied per change cost a copy of every profile per join: at 1,000 joins, half a
 * million entries of garbage, about as much as everything else the relay allocates for the joins
 * together, and the garbage is what grows the relay's heap (bench/README.md, "Memory"). Here the
 * profiles are spread over buckets by a hash of the id, and a change copies the bucket list and
 * the one bucket it touches; every other bucket is shared with the book it came from.
 */
import type { ClientId, Meta } from './protocol.js';

/** What a member (or observer) told the relay about itself when it joined. */
export interface MemberProfile {
  /** The `?host=` label (a hostname), for logs and /status. */
  host?: string;
  /** The `?meta=` object: handed on with this member when it leads. */
  meta?: Meta;
}

/** Enough buckets that one holds a few dozen profiles at the largest rings a relay admits. */
const BUCKETS = 64;

type Bucket = ReadonlyMap<ClientId, MemberProfile>;

const NO_PROFILES: Bucket = new Map();

function bucketOf(id: ClientId): number {
  // FNV-1a over the id's code units: ids are short, and this spreads `n1`, `n2`, ... evenly.
  let hash = 0x811c9dc5;
  for (let index = 0; index < id.length; index += 1) hash = Math.imul(hash ^ id.charCodeAt(index), 0x01000193);
  return (hash >>> 0) % BUCKETS;
}

export class ProfileBook {
  static readonly empty = new ProfileBook(new Array<Bucket>(BUCKETS).fill(NO_PROFILES), 0);

  private constructor(
    private readonly buckets: readonly Bucket[],
    /** How many ids the book holds. */
    readonly size: number,
  ) {}

  get(id: ClientId): MemberProfile | undefined {
    return this.buckets[bucketOf(id)]!.get(id);
  }

  /** This book with `id`'s profile set to `profile`. */
  with(id: ClientId, profile: MemberProfile): ProfileBook {
    const at = bucketOf(id);
    const bucket = new Map(this.buckets[at]!);
    const added = bucket.has(id) ? 0 : 1;
    bucket.set(id, profile);
    return this.replaced(at, bucket, this.size + added);
  }

  /** This book without `id` (the same book when it has none). */
  without(id: ClientId): ProfileBook {
    const at = bucketOf(id);
    if (!this.buckets[at]!.has(id)) return this;
    const bucket = new Map(this.buckets[at]!);
    bucket.delete(id);
    return this.replaced(at, bucket, this.size - 1);
  }

  /** Every profile by id (what the inspector and logs see of the book). */
  toJSON(): Record<ClientId, MemberProfile> {
    const record: Record<ClientId, MemberProfile> = {};
    for (const bucket of this.buckets) for (const [id, profile] of bucket) record[id] = profile;
    return record;
  }

  private replaced(at: number, bucket: Bucket, size: number): ProfileBook {
    const buckets = this.buckets.slice();
    buckets[at] = bucket.size === 0 ? NO_PROFILES : bucket;
    return new ProfileBook(buckets, size);
  }
}
