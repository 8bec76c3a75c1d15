/** A fuzz run's report as text for people (`--json` prints the FuzzReport itself). */
import type { MemorySample } from './resourceChecks.js';
import type { FuzzReport } from './run.js';

export function renderReport(report: FuzzReport): string {
  const lines: string[] = [];
  const { sent, relay, memory, leader, seconds } = report;
  lines.push(`sent: ${sent.total} messages  ${pairs(sent.byFamily)}`);
  lines.push(`  by kind: ${pairs(sent.byKind)}`);
  lines.push(`hostile HTTP requests: ${total(report.surface.sent)} in ${report.surface.batches} batches, ${report.surface.seconds.toFixed(1)} s  ${pairs(report.surface.sent)}`);
  lines.push(`  answers: ${pairs(report.surface.answers)}`);
  lines.push(`fuzz members opened: ${pairs(report.fuzzConnections.members)}; inspection streams opened: ${report.fuzzConnections.streams}`);
  lines.push(`fuzz sockets closed: ${pairs(report.fuzzConnections.closes)}`);
  lines.push(`error frames received: ${pairs(report.fuzzConnections.errorFramesReceived)}`);
  lines.push(`relay rejections (/metrics): ${total(relay.rejected)}  ${pairs(relay.rejected)}`);
  lines.push(`relay: ${relay.joins} joins, leaves ${pairs(relay.leaves)}, refused ${pairs(relay.joinsRefused)}, ${relay.bypasses} bypasses, forwarded ${pairs(relay.forwarded)}`);
  lines.push(`relay log: ${relay.log.lines} lines (${pairs(relay.log.byMessage)}); ${relay.rejectionsUnlogged} rejections counted, not logged`);
  lines.push(`node log lines during the run: ${report.nodeLogLines}`);
  const peak = (pick: (sample: MemorySample) => number) => Math.max(pick(memory.idle), ...memory.during.map(pick));
  lines.push(
    `RSS (idle -> peak -> after): relay ${mb(memory.idle.relayMB)} -> ${mb(peak((sample) => sample.relayMB))} -> ${mb(memory.after.relayMB)}, ` +
      `inspector ${mb(memory.idle.inspectorMB)} -> ${mb(peak((sample) => sample.inspectorMB))} -> ${mb(memory.after.inspectorMB)}`,
  );
  if (report.inspector) {
    const { ingest } = report.inspector;
    lines.push(`inspector ingest: ${ingest.messages} messages, ${ingest.invalid} rejected, ${ingest.notApplied} not applied, ${ingest.replayDropped} not kept for replay`);
  }
  lines.push(`leader: ${leaderText(leader.before)} before, ${leaderText(leader.after)} after (${leader.outcome})`);
  lines.push(`time: ${seconds.total.toFixed(1)} s (start ${seconds.startup.toFixed(1)} s, fuzzing ${seconds.fuzzing.toFixed(1)} s, agreement again after ${seconds.recovery.toFixed(1)} s)`);
  for (const check of report.checks) lines.push(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  lines.push(report.ok ? 'result: OK' : `result: FAILED\nreplay: ${report.replay}`);
  return `${lines.join('\n')}\n`;
}

function pairs(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, count]) => count !== 0);
  return entries.length === 0 ? '-' : entries.map(([key, count]) => `${key} ${count}`).join(', ');
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

function mb(value: number): string {
  return `${value.toFixed(1)} MB`;
}

function leaderText(leader: { id: string; term: number } | null): string {
  return leader === null ? 'none' : `${leader.id} (term ${leader.term})`;
}
