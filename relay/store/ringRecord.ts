/**
 * A ring's durable record in etcd: the same `{ highestTerm, leader }` the state file keeps per
 * ring, checked by the state file's own rules (relay/stateFile.ts), so both stores refuse the
 * same bad records. A record that does not pass is never guessed around: the relay does not
 * serve that ring and says which key to look at.
 */
import type { LeaderInfo } from '../../machines/protocol.js';
import { parseState, StateFileError, STATE_FILE_VERSION, type RingRecord } from '../stateFile.js';

export type { RingRecord };

export const EMPTY_RECORD: RingRecord = { highestTerm: 0, leader: null };

export function encodeRingRecord(highestTerm: number, leader: LeaderInfo | null): string {
  const record: RingRecord = { highestTerm, leader: leader === null ? null : { id: leader.id, rank: leader.rank, term: leader.term } };
  return JSON.stringify(record);
}

/** Parses the value of `rings/<ring>/terms`; throws an Error naming the key and the problem. */
export function decodeRingRecord(key: string, ring: string, text: string): RingRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`etcd key ${key}: not valid JSON (${(error as Error).message})`);
  }
  try {
    const state = parseState(key, JSON.stringify({ version: STATE_FILE_VERSION, othersFloor: 0, rings: { [ring]: value } }));
    return state.rings.get(ring)!;
  } catch (error) {
    if (error instanceof StateFileError) throw new Error(`etcd key ${key}: ${error.message.replace(`state file ${key}: `, '')}`);
    throw error;
  }
}
