/**
 * What the compose test reads from a running ring: the relay's /status through its published
 * port, and each node container's own view of the leader from its pino log lines (every line
 * carries the node's clientId; "leader changed" lines carry leaderId and term).
 */
import { checkAgreement } from '../../runtime/agreement.js';
import type { RunOptions, RunResult } from './run.js';

export interface LeaderInfo {
  id: string;
  rank: number;
  term: number;
}

export interface RelayStatus {
  members: string[];
  leader: LeaderInfo | null;
}

export interface NodeView {
  container: string;
  clientId: string | null;
  leader: { id: string; term: number } | null;
  /** Whether the node's last leadership line says it leads. */
  leading: boolean;
}

export async function relayStatus(port: number): Promise<RelayStatus> {
  const response = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`/status answered ${response.status}`);
  return (await response.json()) as RelayStatus;
}

/** Reads one node container's log and returns what that node believes. */
export async function nodeView(docker: (args: string[], options?: RunOptions) => Promise<RunResult>, container: string): Promise<NodeView> {
  // Only this run of the container: a restarted container keeps the log of its earlier runs.
  const started = (await docker(['inspect', '--format', '{{.State.StartedAt}}', container], { timeoutMs: 30_000 })).stdout.trim();
  const { stdout, stderr } = await docker(['logs', '--since', started, container], { timeoutMs: 30_000 });
  const view: NodeView = { container, clientId: null, leader: null, leading: false };
  for (const line of `${stdout}\n${stderr}`.split('\n')) {
    const record = parseJsonLine(line);
    if (!record) continue;
    if (typeof record.clientId === 'string') view.clientId = record.clientId;
    if (record.msg === 'leader changed' && typeof record.leaderId === 'string' && typeof record.term === 'number') {
      view.leader = { id: record.leaderId, term: record.term };
    }
    if (record.msg === 'leadership acquired') view.leading = true;
    if (record.msg === 'leadership lost') view.leading = false;
  }
  return view;
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  const start = line.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value: unknown = JSON.parse(line.slice(start));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ring is settled when the relay lists exactly `size` members and names a leader, and the
 * running node containers agree on that leader (the project's one check, runtime/agreement.ts:
 * every member names the same leader and term, which is one of them and alone says it leads),
 * being exactly the relay's members. Returns the reason in `why` while it is not.
 */
export function agreement(status: RelayStatus, views: NodeView[], size: number): { leader: LeaderInfo; leaderContainer: string } | { why: string } {
  if (status.members.length !== size) return { why: `relay lists ${status.members.length} members, want ${size}` };
  if (views.length !== size) return { why: `${views.length} node containers running, want ${size}` };
  const leader = status.leader;
  if (!leader) return { why: 'relay names no leader yet' };
  const verdict = checkAgreement(
    views.map((view) => ({ id: view.clientId, leader: view.leader === null ? null : { ...view.leader, rank: leader.rank }, leading: view.leading })),
    status.members,
  );
  if (!verdict.agreed) return { why: verdict.why };
  if (verdict.leader.id !== leader.id || verdict.leader.term !== leader.term) {
    return { why: `the nodes agree on ${verdict.leader.id}@${verdict.leader.term}, the relay names ${leader.id}@${leader.term}` };
  }
  const leaderView = views.find((view) => view.clientId === leader.id)!;
  return { leader, leaderContainer: leaderView.container };
}
