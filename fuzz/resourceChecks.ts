/**
 * What must hold of the processes' resources after a fuzz run: memory levelled off, nobody logged
 * an error, and the relay's log did not grow with the garbage it was sent.
 */
import { rssMB } from '../bench/childServer.js';
import type { LogRecord } from '../cli/logRecords.js';
import type { CheckResult } from './ringChecks.js';
import type { TargetRing } from './targetRing.js';

export interface MemorySample {
  relayMB: number;
  inspectorMB: number;
}

export function sampleMemory(ring: TargetRing): MemorySample {
  return { relayMB: rssMB(ring.supervisor.relay?.pid ?? 0), inspectorMB: rssMB(ring.inspector.pid) };
}

/** RSS before the fuzzing, sampled every second during it, and after the ring agreed again. */
export interface MemoryTrack {
  idle: MemorySample;
  during: MemorySample[];
  after: MemorySample;
}

/**
 * Memory is bounded if it levels off. RSS rises while V8 sizes its heaps to the load (a relay
 * handling 1 MiB frames holds several at once), and V8 hands little back afterwards, so "after vs
 * idle" measures heap sizing, not leaks. What a leak shows is growth that keeps going: so RSS at
 * the end may exceed the highest RSS of the run's first half by at most `boundMB`.
 */
export function checkMemory(name: string, track: MemoryTrack, pick: (sample: MemorySample) => number, boundMB: number): CheckResult {
  const firstHalf = track.during.slice(0, Math.max(1, Math.ceil(track.during.length / 2))).map(pick);
  const firstHalfPeak = Math.max(pick(track.idle), ...firstHalf);
  const peak = Math.max(firstHalfPeak, ...track.during.map(pick));
  const after = pick(track.after);
  const growth = after - firstHalfPeak;
  return {
    name,
    ok: after > 0 && growth <= boundMB,
    detail: `RSS ${pick(track.idle).toFixed(1)} MB idle, peak ${firstHalfPeak.toFixed(1)} MB in the first half of the run and ${peak.toFixed(1)} MB in all, ${after.toFixed(1)} MB after (${signed(growth)} MB over the first half's peak; bound +${boundMB} MB)`,
  };
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
}

/** No process logged an error (the relay's "frame handling failed", say): each is a bug that cost a frame. */
export function checkErrorLines(ring: TargetRing, from: { relay: number; nodes: number[]; inspector: number }): CheckResult {
  const errors: string[] = [];
  const collect = (label: string, records: readonly LogRecord[]) => {
    for (const record of records) if ((record.level ?? 0) >= 50) errors.push(`${label}: ${record.msg ?? record.raw ?? '?'}`);
  };
  collect('relay', ring.supervisor.relay?.records.slice(from.relay) ?? []);
  ring.supervisor.allNodes.forEach((node, index) => collect(node.label, node.records.slice(from.nodes[index] ?? 0)));
  collect('inspector', ring.inspector.records.slice(from.inspector));
  return { name: 'error lines', ok: errors.length === 0, detail: errors.length === 0 ? 'no process logged an error' : `${errors.length} error lines, first: ${errors.slice(0, 3).join(' | ')}` };
}

export interface RelayLogFigures {
  /** Relay log lines written from the first fuzz frame to the end of the run. */
  lines: number;
  /** Of those, lines by message. */
  byMessage: Record<string, number>;
}

/**
 * The relay logs a connection's first rejection of each code and counts the rest: its
 * `rejected frame` lines must stay a small share of what it rejected, plus about one per
 * connection (a member refused with several codes has a line for each). Joins, leaves and what
 * hostile-but-valid frames did (an election started, a leader announced) are reported, not
 * bounded here: they are not rejections.
 */
export function checkRelayLog(log: RelayLogFigures, rejections: number, joins: number, maxShare: number): CheckResult {
  const rejectionLines = log.byMessage['rejected frame'] ?? 0;
  const allowed = Math.ceil(rejections * maxShare) + joins;
  return {
    name: 'relay log',
    ok: rejectionLines <= allowed,
    detail: `${rejectionLines} "rejected frame" lines for ${rejections} rejections from ${joins} connections (bound ${(maxShare * 100).toFixed(0)}% + one per connection = ${allowed}); ${log.lines} lines in all`,
  };
}

export function relayLogSince(ring: TargetRing, fromIndex: number): RelayLogFigures {
  const records = ring.supervisor.relay?.records.slice(fromIndex) ?? [];
  const byMessage: Record<string, number> = {};
  for (const record of records) {
    const message = record.msg ?? '(not JSON)';
    byMessage[message] = (byMessage[message] ?? 0) + 1;
  }
  return { lines: records.length, byMessage };
}
