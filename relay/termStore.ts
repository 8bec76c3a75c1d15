/**
 * The loaded state file as the relay's rings read and advance it (relay/stateFile.ts has the
 * format and the write). Three rules:
 *
 * - **Coalesced, asynchronous writes.** One write is in flight at a time; records made meanwhile
 *   wait and go out together as the next version. A record's promise resolves once a version
 *   containing it is durable, and rejects if that version cannot be written. A failure is final:
 *   every later record rejects too (the relay stops; relay/server.ts).
 * - **Bounded.** The file names at most `maxRings` rings. Past that, the ring with the lowest
 *   recorded term is folded into `othersFloor`: the file keeps the highest term of every folded
 *   ring, and every ring it does not name (folded, or never seen) starts above it. No term is ever
 *   forgotten; a folded ring only starts higher than it strictly needs. Folding the lowest terms
 *   keeps that shared floor as low as it can be.
 * - **One relay per file** (relay/stateFileLock.ts), held from open until close.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LeaderInfo } from '../machines/protocol.js';
import { StateFileError, isTempFileOf, readStateFile, writeStateFile, type RelayState, type RingRecord, type WriteChunk } from './stateFile.js';
import { StateFileLock } from './stateFileLock.js';

export interface TermStoreOptions {
  /** The most rings the file names (the relay passes --max-rings). */
  maxRings: number;
  /** How bytes reach the disk (tests make it short). */
  write?: WriteChunk | undefined;
}

interface Waiter {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class TermStore {
  /** What the next version will hold: every record made so far, durable or not. */
  private readonly state: RelayState;
  /** The version each ring's latest record goes out in (absent: already in the file as opened). */
  private readonly versionOf = new Map<string, number>();
  /** The newest version that is durable, and the one being written (null: none). */
  private durable = 0;
  private writing: number | null = null;
  /** Records waiting for a version, by version. */
  private readonly waiters = new Map<number, Waiter>();
  /** The version in which `othersFloor` last rose. */
  private othersVersion = 0;
  private failure: StateFileError | null = null;
  private idle: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    state: RelayState,
    private readonly lock: StateFileLock,
    private readonly options: TermStoreOptions,
  ) {
    this.state = state;
  }

  /**
   * Locks `path`, loads it (missing: fresh), folds it down to `maxRings` and writes it back, so a
   * file that cannot be written stops the relay now, not at the first election.
   */
  static async open(path: string, options: TermStoreOptions): Promise<TermStore> {
    const lock = StateFileLock.acquire(path);
    try {
      const state = readStateFile(path);
      removeLeftoverTempFiles(path);
      const store = new TermStore(path, state, lock, options);
      while (store.state.rings.size > options.maxRings) store.foldLowest(0);
      await writeStateFile(path, store.state, options.write);
      return store;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** Terms at or below this were used by the ring `ring` before (0 when it never had one). */
  floor(ring: string): number {
    return this.state.rings.get(ring)?.highestTerm ?? this.state.othersFloor;
  }

  /** How many rings the file names now. */
  get size(): number {
    return this.state.rings.size;
  }

  /**
   * Resolves once what `ring` reached is durable (at once when the file already holds it). A ring
   * the file does not name that stays within `othersFloor` adds nothing: the floor covers it.
   */
  record(ring: string, highestTerm: number, leader: LeaderInfo | null): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const next: RingRecord = { highestTerm, leader: leader === null ? null : { id: leader.id, rank: leader.rank, term: leader.term } };
    const named = this.state.rings.get(ring);
    if (named === undefined ? highestTerm <= this.state.othersFloor : sameRecord(named, next)) {
      return this.whenDurable(named === undefined ? this.othersVersion : (this.versionOf.get(ring) ?? 0));
    }
    const version = this.writing === null ? this.durable + 1 : this.writing + 1;
    this.state.rings.set(ring, next);
    this.versionOf.set(ring, version);
    if (this.state.rings.size > this.options.maxRings) this.foldLowest(version);
    const { promise } = this.waiter(version);
    if (this.writing === null) this.writeNext();
    return promise;
  }

  /** Records after this reject; writes what was recorded before it, then releases the lock. */
  async close(): Promise<void> {
    this.failure ??= new StateFileError(this.path, 'is closed: the relay stopped');
    while (this.writing !== null) await this.idle;
    this.lock.release();
  }

  private whenDurable(version: number): Promise<void> {
    return version <= this.durable ? Promise.resolve() : this.waiter(version).promise;
  }

  private waiter(version: number): Waiter {
    let waiter = this.waiters.get(version);
    if (waiter === undefined) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      waiter = { promise, resolve, reject };
      this.waiters.set(version, waiter);
    }
    return waiter;
  }

  /** Writes everything recorded so far as the next version; when it is durable, starts the one after if records came meanwhile. */
  private writeNext(): void {
    const version = this.durable + 1;
    this.writing = version;
    const snapshot: RelayState = { rings: new Map(this.state.rings), othersFloor: this.state.othersFloor };
    this.idle = writeStateFile(this.path, snapshot, this.options.write).then(
      () => {
        this.durable = version;
        this.writing = null;
        this.waiters.get(version)?.resolve();
        this.waiters.delete(version);
        if (this.waiters.size > 0) this.writeNext();
      },
      (error: StateFileError) => {
        this.writing = null;
        this.failure = error;
        for (const waiter of this.waiters.values()) waiter.reject(error);
        this.waiters.clear();
      },
    );
  }

  /** Folds the ring with the lowest recorded term into `othersFloor` (the rule at the top), in `version`. */
  private foldLowest(version: number): void {
    let lowest: [string, RingRecord] | undefined;
    for (const entry of this.state.rings) if (lowest === undefined || entry[1].highestTerm < lowest[1].highestTerm) lowest = entry;
    if (lowest === undefined) return;
    this.state.rings.delete(lowest[0]);
    this.versionOf.delete(lowest[0]);
    if (lowest[1].highestTerm > this.state.othersFloor) {
      this.state.othersFloor = lowest[1].highestTerm;
      this.othersVersion = version;
    }
  }
}

/** Temp files of writes cut short by a crash: under the lock, nobody else is writing them. */
function removeLeftoverTempFiles(path: string): void {
  const directory = dirname(path);
  let entries: string[];
  try {
    entries = readdirSync(directory);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!isTempFileOf(path, entry)) continue;
    try {
      unlinkSync(join(directory, entry));
    } catch {
      // Gone already, or not ours to remove: the write never reads it.
    }
  }
}

function sameRecord(a: RingRecord, b: RingRecord): boolean {
  if (a.highestTerm !== b.highestTerm) return false;
  if (a.leader === null || b.leader === null) return a.leader === b.leader;
  return a.leader.id === b.leader.id && a.leader.rank === b.leader.rank && a.leader.term === b.leader.term;
}
