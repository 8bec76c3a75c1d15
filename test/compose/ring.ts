/**
 * What the Docker tests read from a running ring: the relay's /status through its published
 * port, each node container's own view of the leader from its pino log lines (every line
 * carries the node's clientId; "leader changed" lines carry leaderId and term), and the
 * inspector's page through its published port.
 */
import { checkAgreement } from '../../runtime/agreement.js';
import { waitFor, type RunOptions, type RunResult } from './run.js';

type Docker = (args: string[], options?: RunOptions) => Promise<RunResult>;

export interface LeaderInfo {
  id: string;
  rank: number;
  term: number;
}

export interface RelayStatus {
  members: string[];
  leader: LeaderInfo | null;
  /** The highest term the relay let through for the ring (kept across restarts with a state file). */
  highestTerm: number;
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

/** Waits for the inspector's page on its published port and returns its HTML. */
export function inspectorPage(port: number, timeoutMs: number): Promise<string> {
  return waitFor(
    async () => {
      const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
      return response.ok ? response.text() : undefined;
    },
    'the inspector page',
    { timeoutMs, intervalMs: 1_000 },
  );
}

/** Reads one node container's log and returns what that node believes. */
export async function nodeView(docker: Docker, container: string): Promise<NodeView> {
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

/**
 * Waits until the ring of `size` agrees on one leader (see `agreement`), reading the relay's
 * /status on `relayPort` and the log of every running node container `nodeContainers` lists;
 * returns the leader and its container. On timeout the error says why it last did not agree.
 */
export async function settledRing(options: {
  docker: Docker;
  relayPort: number;
  nodeContainers: () => Promise<string[]>;
  size: number;
  timeoutMs: number;
}): Promise<{ leader: LeaderInfo; leaderContainer: string }> {
  const { docker, relayPort, nodeContainers, size, timeoutMs } = options;
  let why = '';
  try {
    return await waitFor(
      async () => {
        const status = await relayStatus(relayPort);
        const views = await Promise.all((await nodeContainers()).map((id) => nodeView(docker, id)));
        const verdict = agreement(status, views, size);
        if ('why' in verdict) {
          why = verdict.why;
          return undefined;
        }
        return verdict;
      },
      `${size} nodes to agree on one leader`,
      { timeoutMs, intervalMs: 1_000 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message} (last: ${why})`);
  }
}
