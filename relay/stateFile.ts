/**
 * The relay's state file (`--state-file`): its format, reading it, and writing a new version of it.
 * Per ring, the highest term the relay let through and the leader it last reported, so a
 * restarted relay tells joiners a floor (`welcome.term`) and a ring never elects a term it used
 * before; plus `othersFloor`, the highest term of every ring the file no longer names (the file is
 * bounded: relay/termStore.ts folds rings into it), which every ring not named starts above.
 * The file is the only memory that outlives the relay: reading it never guesses (a file it cannot
 * trust stops the relay; terms are never reset), and writing it replaces the whole file
 * atomically, or fails loudly, so a crash or a full disk leaves the old version or the new one.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MAX_TERM, isValidClientId, type LeaderInfo } from '../machines/protocol.js';

/**
 * 1: rings only. 2: rings and `othersFloor`. A file is written as version 1 while no ring was
 * folded (so an older relay still reads it), as 2 once one was: an older relay must refuse that
 * file rather than forget the folded rings' terms.
 */
export const STATE_FILE_VERSION = 2;

/** `ringleader relay` exits with this when the state file cannot be trusted, locked or written (2 is bad configuration). */
export const STATE_FILE_EXIT_CODE = 3;

/** What the file keeps of a leader: who and in which term (no metadata: that is the member's to give). */
export type RecordedLeader = Pick<LeaderInfo, 'id' | 'rank' | 'term'>;

export interface RingRecord {
  highestTerm: number;
  leader: RecordedLeader | null;
}

export interface RelayState {
  /** Rings by name (a Map: a ring named "__proto__" is a ring like any other). */
  rings: Map<string, RingRecord>;
  /** Every ring not in `rings` used no term above this (0: none was ever folded). */
  othersFloor: number;
}

/** The file exists but cannot be trusted, locked or written: the relay must not go on guessing. */
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
  const { version, rings, othersFloor } = value as Record<string, unknown>;
  if (version !== 1 && version !== 2) throw new StateFileError(path, `has version ${JSON.stringify(version)}; this relay reads versions 1 and 2`);
  if (typeof rings !== 'object' || rings === null || Array.isArray(rings)) throw new StateFileError(path, '"rings" is not an object');
  if (version === 2 && !isTerm(othersFloor)) throw new StateFileError(path, `othersFloor ${JSON.stringify(othersFloor)} is not a term`);
  const checked = new Map<string, RingRecord>();
  for (const [name, record] of Object.entries(rings)) {
    const problem = recordProblem(record);
    if (problem !== null) throw new StateFileError(path, `ring ${JSON.stringify(name)}: ${problem}`);
    const { highestTerm, leader } = record as RingRecord;
    checked.set(name, { highestTerm, leader: leader === null ? null : { id: leader.id, rank: leader.rank, term: leader.term } });
  }
  return { rings: checked, othersFloor: version === 2 ? (othersFloor as number) : 0 };
}

/** The file's text: one ring per line, so a person can read it and it stays small (about 80 bytes a ring). */
export function formatState(state: RelayState): string {
  const folded = state.othersFloor > 0;
  const head = folded ? `{"version":2,"othersFloor":${state.othersFloor},"rings":{` : '{"version":1,"rings":{';
  const lines = [...state.rings].map(([name, record]) => `${JSON.stringify(name)}:${JSON.stringify(record)}`);
  return lines.length === 0 ? `${head}}}\n` : `${head}\n${lines.join(',\n')}\n}}\n`;
}

/** Reads the file; a missing one is a fresh start, anything else untrustworthy throws StateFileError. */
export function readStateFile(path: string): RelayState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { rings: new Map(), othersFloor: 0 };
    throw new StateFileError(path, `cannot be read (${code ?? (error as Error).message})`);
  }
  return parseState(path, text);
}

/**
 * How a write reaches the disk: one `write(2)` at a time, which may write less than asked (a full
 * disk writes what fits, then fails). Injectable so tests can make it short without a full disk.
 */
export type WriteChunk = (file: FileHandle, data: Buffer, offset: number, length: number, position: number) => Promise<number>;

const writeChunk: WriteChunk = async (file, data, offset, length, position) => (await file.write(data, offset, length, position)).bytesWritten;

/** The temp files a write leaves if the relay dies mid-way: `.<name>.<pid>.<random>.tmp` beside the file. */
export function isTempFileOf(path: string, entry: string): boolean {
  return entry.startsWith(`.${basename(path)}.`) && entry.endsWith('.tmp');
}

/**
 * Replaces the file with `state`: a new temp file in the same directory (same file system, so the
 * rename is atomic), written whole, fsynced, renamed over the target, then the directory fsynced
 * so the rename itself survives a power cut. The temp file is created exclusively under a name
 * nobody can guess (a file or symlink planted there is never followed or overwritten), and every
 * byte must be written or the write fails: a short write never becomes the file.
 * Asynchronous: the fsyncs run off the event loop, so other rings go on meanwhile.
 */
export async function writeStateFile(path: string, state: RelayState, write: WriteChunk = writeChunk): Promise<void> {
  const directory = dirname(path);
  const temp = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`);
  const data = Buffer.from(formatState(state), 'utf8');
  let created = false;
  try {
    const file = await open(temp, 'wx', 0o600);
    created = true;
    try {
      let written = 0;
      while (written < data.length) {
        const count = await write(file, data, written, data.length - written, written);
        if (!(count > 0)) throw new StateFileError(path, `cannot be written (short write: ${written} of ${data.length} bytes; is the disk full?)`);
        written += count;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    created = false;
    const folder = await open(directory, 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch (error) {
    if (created) await unlink(temp).catch(() => {});
    if (error instanceof StateFileError) throw error;
    throw new StateFileError(path, `cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
