/**
 * The relay's state file (`--state-file`): per ring, the highest term the relay let through and
 * the leader it last reported, so a restarted relay tells joiners a floor (`welcome.term`) and a
 * ring never elects a term it used before. The file is the only memory that outlives the relay:
 * reading it never guesses (a file it cannot trust stops the relay; terms are never reset), and
 * writing it replaces the whole file atomically, so a crash leaves the old version or the new one.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MAX_TERM, isValidClientId, type LeaderInfo } from '../machines/protocol.js';

export const STATE_FILE_VERSION = 1;

/** `ringleader relay` exits with this when the state file cannot be trusted or written (2 is bad configuration). */
export const STATE_FILE_EXIT_CODE = 3;

/** What the file keeps of a leader: who and in which term (no metadata: that is the member's to give). */
export type RecordedLeader = Pick<LeaderInfo, 'id' | 'rank' | 'term'>;

export interface RingRecord {
  highestTerm: number;
  leader: RecordedLeader | null;
}

export interface RelayState {
  version: typeof STATE_FILE_VERSION;
  rings: Record<string, RingRecord>;
}

/** The file exists but cannot be trusted, or cannot be written: the relay must not go on guessing. */
export class StateFileError extends Error {
  override name = 'StateFileError';
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`state file ${path}: ${problem}`);
  }
}

/** At most MAX_TERM: the relay can let a frame of that term through (nodes refuse to follow it), so it may be recorded. */
function isTerm(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_TERM;
}

function isRank(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Why `value` is not a valid ring record, or null when it is. */
function recordProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object';
  const { highestTerm, leader } = value as Record<string, unknown>;
  if (!isTerm(highestTerm)) return `highestTerm ${JSON.stringify(highestTerm)} is not a term (an integer from 0 to ${MAX_TERM})`;
  if (leader === null) return null;
  if (typeof leader !== 'object' || leader === undefined || Array.isArray(leader)) return 'leader is neither null nor an object';
  const { id, rank, term } = leader as Record<string, unknown>;
  if (!isValidClientId(id)) return `leader.id ${JSON.stringify(id)} is not a client id`;
  if (!isRank(rank)) return `leader.rank ${JSON.stringify(rank)} is not a number`;
  if (!isTerm(term)) return `leader.term ${JSON.stringify(term)} is not a term`;
  if (term > highestTerm) return `leader.term ${term} is above highestTerm ${highestTerm}`;
  return null;
}

/** Checks parsed JSON against the format; throws StateFileError naming the first problem. */
export function parseState(path: string, text: string): RelayState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StateFileError(path, `is not valid JSON (${(error as Error).message}); it may be truncated or corrupt`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StateFileError(path, 'is not a JSON object');
  const { version, rings } = value as Record<string, unknown>;
  if (version !== STATE_FILE_VERSION) throw new StateFileError(path, `has version ${JSON.stringify(version)}; this relay reads version ${STATE_FILE_VERSION}`);
  if (typeof rings !== 'object' || rings === null || Array.isArray(rings)) throw new StateFileError(path, '"rings" is not an object');
  // Entries, not assignment: a ring named "__proto__" must stay a ring.
  const checked: Array<[string, RingRecord]> = [];
  for (const [name, record] of Object.entries(rings)) {
    const problem = recordProblem(record);
    if (problem !== null) throw new StateFileError(path, `ring ${JSON.stringify(name)}: ${problem}`);
    const { highestTerm, leader } = record as RingRecord;
    checked.push([name, { highestTerm, leader: leader === null ? null : { id: leader.id, rank: leader.rank, term: leader.term } }]);
  }
  return { version: STATE_FILE_VERSION, rings: Object.fromEntries(checked) };
}

/** Reads the file; a missing one is a fresh start, anything else untrustworthy throws StateFileError. */
export function readStateFile(path: string): RelayState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { version: STATE_FILE_VERSION, rings: {} };
    throw new StateFileError(path, `cannot be read (${code ?? (error as Error).message})`);
  }
  return parseState(path, text);
}

/**
 * Replaces the file with `state`: a temp file in the same directory (same file system, so the
 * rename is atomic), fsynced, renamed over the target, then the directory fsynced so the rename
 * itself survives a power cut. Synchronous on purpose: the caller must not go on before it is done.
 */
export function writeStateFile(path: string, state: RelayState): void {
  const directory = dirname(path);
  const temp = join(directory, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const file = openSync(temp, 'w', 0o600);
    try {
      writeSync(file, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(file);
    } finally {
      closeSync(file);
    }
    renameSync(temp, path);
    const folder = openSync(directory, 'r');
    try {
      fsyncSync(folder);
    } finally {
      closeSync(folder);
    }
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // Already renamed, or never created.
    }
    throw new StateFileError(path, `cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The loaded file, as the relay's rings read and advance it. */
export class TermStore {
  private constructor(
    readonly path: string,
    private state: RelayState,
  ) {}

  /** Loads `path` (missing: fresh) and checks it can be written now, not at the first election. */
  static open(path: string): TermStore {
    const store = new TermStore(path, readStateFile(path));
    writeStateFile(path, store.state);
    return store;
  }

  /** Terms at or below this were used by the ring `ring` before (0 when it never had one). */
  floor(ring: string): number {
    return Object.hasOwn(this.state.rings, ring) ? this.state.rings[ring]!.highestTerm : 0;
  }

  /** Records what `ring` reached; writes only when it differs from what the file holds. Throws StateFileError. */
  record(ring: string, highestTerm: number, leader: LeaderInfo | null): void {
    const next: RingRecord = { highestTerm, leader: leader === null ? null : { id: leader.id, rank: leader.rank, term: leader.term } };
    const current = Object.hasOwn(this.state.rings, ring) ? this.state.rings[ring] : undefined;
    if (current !== undefined && sameRecord(current, next)) return;
    const state: RelayState = { version: STATE_FILE_VERSION, rings: { ...this.state.rings, [ring]: next } };
    writeStateFile(this.path, state);
    this.state = state;
  }
}

function sameRecord(a: RingRecord, b: RingRecord): boolean {
  if (a.highestTerm !== b.highestTerm) return false;
  if (a.leader === null || b.leader === null) return a.leader === b.leader;
  return a.leader.id === b.leader.id && a.leader.rank === b.leader.rank && a.leader.term === b.leader.term;
}
