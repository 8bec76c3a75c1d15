/**
 * The console of `ringleader up`: short human lines for what a person watching the ring wants to
 * see (joins, exits, every node's leader changes, and when all nodes agree). The children's own
 * JSON logs stay the full record; this is the summary.
 */
import type { LeaderInfo } from '../machines/protocol.js';
import { LEVEL_NAMES, type LogRecord } from './logRecords.js';
import { describeExit, type Agreement, type SupervisedChild, type Supervisor } from './supervisor.js';

export function nameOf(child: SupervisedChild): string {
  return child.role === 'relay' ? 'relay' : (child.clientId ?? child.label);
}

export function formatLeader(leader: LeaderInfo): string {
  return `${leader.id} (rank ${leader.rank}, term ${leader.term})`;
}

/** `n3 → leader n5 (rank 912, term 4)` */
export function formatLeaderChange(node: SupervisedChild, leader: LeaderInfo): string {
  return `${nameOf(node)} → leader ${formatLeader(leader)}`;
}

/** `✓ all 5 nodes agree: leader n5 (rank 912, term 4)` */
export function formatAgreement(agreement: Agreement): string {
  const count = agreement.nodes.length;
  return `✓ ${count === 1 ? 'the only node names' : `all ${count} nodes agree:`} leader ${formatLeader(agreement.leader)}`;
}

/** One child log line, compact: `n3 warn: relay closed {"code":1006}`. */
export function formatChildRecord(child: SupervisedChild, record: LogRecord): string {
  if (record.raw !== undefined) return `${nameOf(child)}: ${record.raw}`;
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, component: _component, ...fields } = record;
  const levelName = typeof level === 'number' ? (LEVEL_NAMES[level] ?? String(level)) : 'log';
  const extra = Object.keys(fields).length === 0 ? '' : ` ${JSON.stringify(fields)}`;
  return `${nameOf(child)} ${levelName}: ${msg ?? ''}${extra}`;
}

export interface ConsoleReportOptions {
  write: (line: string) => void;
  /** Print every child log line, not only warnings and errors. */
  childLogs: boolean;
}

/**
 * Wires a supervisor's events to console lines. Agreement lines start once `ready()` is called
 * (after the initial nodes are up), so start-up does not print one per joining node.
 */
export function reportToConsole(supervisor: Supervisor, { write, childLogs }: ConsoleReportOptions) {
  let ready = false;
  let quiet = false;
  let lastAgreement = '';

  const checkAgreement = () => {
    if (!ready || quiet) return;
    const agreement = supervisor.agreement();
    if (!agreement) return;
    const key = `${agreement.leader.id}/${agreement.leader.term}/${agreement.nodes.length}`;
    if (key === lastAgreement) return;
    lastAgreement = key;
    write(formatAgreement(agreement));
  };

  // Not silenced by quiet(): a warning while stopping is worth seeing, and --child-logs means all.
  supervisor.on('record', (child, record) => {
    if (childLogs || (typeof record.level === 'number' && record.level >= 40) || record.raw !== undefined) {
      write(formatChildRecord(child, record));
    }
    // The leader's own "leadership acquired" can be the last piece of an agreement.
    if (record.msg === 'leadership acquired') checkAgreement();
  });
  supervisor.on('joined', (node, rejoined) => {
    if (quiet) return;
    write(rejoined ? `↻ ${nameOf(node)} rejoined` : `+ ${nameOf(node)} joined (rank ${node.rank ?? '?'}, pid ${node.pid})`);
    checkAgreement();
  });
  supervisor.on('leader', (node, leader) => {
    if (quiet) return;
    write(formatLeaderChange(node, leader));
    checkAgreement();
  });
  supervisor.on('exit', (child) => {
    if (quiet) return;
    write(`✗ ${nameOf(child)} exited (${describeExit(child)})`);
    checkAgreement();
  });
  supervisor.on('control', (action, detail) => {
    if (!quiet) write(`» ${action}${detail ? ` ${detail}` : ''}`);
  });
  supervisor.on('relay', ({ url }) => {
    if (!quiet && ready) write(`relay back on ${url}`);
  });

  return {
    ready() {
      ready = true;
      checkAgreement();
    },
    /** Stop the summary lines (joins, exits, leaders, agreement): during shutdown every leave would print noise. */
    quiet() {
      quiet = true;
    },
  };
}
