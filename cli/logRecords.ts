/**
 * Reading the JSON log lines of the relay and node processes. The supervisor learns everything
 * it knows about its children from these lines (no side channel), so the field names the relay
 * and node processes log are a contract; this module is the one place that reads them.
 */
import type { LeaderInfo } from '../machines/protocol.js';

/** One pino line, as parsed JSON; `raw` holds a line that was not JSON (a crash trace, say). */
export interface LogRecord {
  level?: number;
  time?: number;
  msg?: string;
  component?: string;
  pid?: number;
  raw?: string;
  [field: string]: unknown;
}

export function parseLogLine(line: string): LogRecord {
  const text = line.trim();
  if (text.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as LogRecord;
    } catch {
      // Not JSON after all: keep it as text below.
    }
  }
  return { raw: line };
}

/** pino's numeric levels, so a line can be shown the way pino-pretty would. */
export const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** `relay listening` carries the port the relay really bound (it may have been asked for 0). */
export function relayListening(record: LogRecord): { port: number; url: string } | null {
  if (record.msg !== 'relay listening') return null;
  const port = typeof record.port === 'number' ? record.port : Number(record.port);
  if (!Number.isInteger(port) || port <= 0) return null;
  const url = typeof record.url === 'string' ? record.url : `ws://127.0.0.1:${port}`;
  return { port, url };
}

/**
 * `node joined`, or after a reconnect `node rejoined` (with `resumed`):
 * the id the relay gave this process and its rank.
 */
export function nodeJoined(record: LogRecord): { clientId: string; rank: number | undefined } | null {
  if (record.msg !== 'node joined' && record.msg !== 'node rejoined') return null;
  const clientId = stringField(record, 'clientId');
  if (clientId === undefined) return null;
  return { clientId, rank: numberField(record, 'rank') };
}

/**
 * The leader a node now follows, from `leader changed` (flat `leaderId`, `leaderRank`, `term`, as
 * node/nodeLog.ts writes them) or `leadership acquired` (the node itself: `clientId`, `rank`).
 */
export function leaderChange(record: LogRecord, self?: { clientId?: string; rank?: number }): LeaderInfo | null {
  if (record.msg === 'leader changed') {
    const id = stringField(record, 'leaderId');
    // Not `rank`: on this line that is the logging node's own rank, not the leader's.
    const rank = numberField(record, 'leaderRank');
    const term = numberField(record, 'term');
    if (id !== undefined && rank !== undefined && term !== undefined) return { id, rank, term };
    return null;
  }
  if (record.msg === 'leadership acquired') {
    const id = stringField(record, 'clientId') ?? self?.clientId;
    const rank = numberField(record, 'rank') ?? self?.rank;
    const term = numberField(record, 'term');
    if (id !== undefined && rank !== undefined && term !== undefined) return { id, rank, term };
  }
  return null;
}

/** `leadership acquired` with its term: the raw material of "at most one leader per term". */
export function leadershipClaim(record: LogRecord): { term: number } | null {
  if (record.msg !== 'leadership acquired') return null;
  const term = numberField(record, 'term');
  return term === undefined ? null : { term };
}

function stringField(record: LogRecord, name: string): string | undefined {
  const value = record[name];
  return typeof value === 'string' ? value : undefined;
}

function numberField(record: LogRecord, name: string): number | undefined {
  const value = record[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
