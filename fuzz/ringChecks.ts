/**
 * What must hold of the ring once the fuzzing stops, each as a named check with a reason: every
 * process still runs, the real nodes agree on one leader (the project's one agreement check), and
 * the relay's endpoints and the inspector's /api/state and /api/stats say the same.
 */
import { describeExit } from '../cli/supervisor.js';
import type { LeaderInfo } from '../machines/protocol.js';
import { checkAgreement, type Agreement } from '../runtime/agreement.js';
import type { RelayFigures } from './relayMetrics.js';
import { memberViews, type TargetRing } from './targetRing.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

interface RelayStatusBody {
  members: string[];
  leader: LeaderInfo | null;
}

export async function relayStatus(ring: TargetRing): Promise<RelayStatusBody> {
  const response = await fetch(`${ring.relayHttpUrl}/status`);
  if (!response.ok) throw new Error(`GET /status answered ${response.status}`);
  return (await response.json()) as RelayStatusBody;
}

export function checkProcesses(ring: TargetRing): CheckResult {
  const relay = ring.supervisor.relay;
  const gone = [
    ...(relay === undefined || relay.exited ? [`relay (${relay ? describeExit(relay) : 'never started'})`] : []),
    ...ring.supervisor.allNodes.filter((node) => node.exited).map((node) => `${node.label} ${node.clientId ?? ''} (${describeExit(node)})`),
    ...(ring.inspector.exited ? ['inspector'] : []),
  ];
  const count = ring.supervisor.allNodes.length + 2;
  return { name: 'processes', ok: gone.length === 0, detail: gone.length === 0 ? `all ${count} running (relay, ${count - 2} nodes, inspector)` : `exited: ${gone.join(', ')}` };
}

/**
 * Polls until the live nodes agree (checkAgreement over their log-line views and the relay's
 * member list) and the relay reports that leader, or `timeoutMs` passes.
 */
export async function waitForAgreement(ring: TargetRing, timeoutMs: number): Promise<{ check: CheckResult; agreement: Agreement; waitedMs: number }> {
  const started = Date.now();
  let agreement: Agreement = { agreed: false, why: 'not checked yet' };
  let why = '';
  for (;;) {
    try {
      const status = await relayStatus(ring);
      agreement = checkAgreement(memberViews(ring.supervisor), status.members);
      if (agreement.agreed) {
        const reported = status.leader;
        if (reported !== null && reported.id === agreement.leader.id && reported.term === agreement.leader.term) break;
        why = `the nodes agree on ${describe(agreement.leader)}, the relay reports ${reported === null ? 'no leader' : describe(reported)}`;
      } else why = agreement.why;
    } catch (error) {
      why = `relay unreachable: ${(error as Error).message}`;
    }
    if (Date.now() - started > timeoutMs) {
      return { check: { name: 'agreement', ok: false, detail: `no agreement within ${timeoutMs} ms: ${why}; views: ${describeViews(ring)}` }, agreement, waitedMs: Date.now() - started };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const waitedMs = Date.now() - started;
  const { leader, members } = agreement;
  return { check: { name: 'agreement', ok: true, detail: `${members.length} nodes and the relay agree: ${describe(leader)}, after ${waitedMs} ms` }, agreement, waitedMs };
}

/** /healthz answers ok, /status lists exactly the live nodes, and /metrics counts no connection besides theirs. */
export async function checkRelayEndpoints(ring: TargetRing, nodeIds: readonly string[], figures: RelayFigures): Promise<CheckResult> {
  try {
    const health = await fetch(`${ring.relayHttpUrl}/healthz`);
    const body = (await health.text()).trim();
    if (health.status !== 200 || body !== 'ok') return { name: 'relay endpoints', ok: false, detail: `/healthz answered ${health.status} ${JSON.stringify(body)}` };
    const status = await relayStatus(ring);
    if (!sameSet(status.members, nodeIds)) return { name: 'relay endpoints', ok: false, detail: `/status lists ${status.members.join(',')}, the live nodes are ${nodeIds.join(',')}` };
    if (figures.connections !== nodeIds.length) return { name: 'relay endpoints', ok: false, detail: `/metrics counts ${figures.connections} connections for ${nodeIds.length} nodes` };
    return { name: 'relay endpoints', ok: true, detail: `/healthz ok; /status lists exactly the ${nodeIds.length} nodes, leader ${status.leader ? describe(status.leader) : 'none'}; /metrics counts their ${figures.connections} connections` };
  } catch (error) {
    return { name: 'relay endpoints', ok: false, detail: (error as Error).message };
  }
}

export interface InspectorStats {
  ingest: { connections: number; messages: number; invalid: number; notApplied: number; replayDropped: number };
  retained: { processes: number; gone: number; replay: { sessions: number; bytes: number } };
  limits: { goneNodes: number; sessionsPerConnection: number; bytesTotal: number };
}

/**
 * The inspector serves /api/state with the relay's members, and what it holds is back to what the
 * real processes stream (the fuzz streams' state was let go, the rest is within its limits). It
 * may take a poll or two to see the last leave.
 */
export async function checkInspector(ring: TargetRing, nodeIds: readonly string[], timeoutMs: number): Promise<{ check: CheckResult; stats: InspectorStats | null }> {
  const base = ring.inspector.url.replace(/\/$/, '');
  // The relay and every node stream to it.
  const streams = nodeIds.length + 1;
  const started = Date.now();
  let detail = '';
  let stats: InspectorStats | null = null;
  for (;;) {
    try {
      const response = await fetch(`${base}/api/state`);
      stats = (await (await fetch(`${base}/api/stats`)).json()) as InspectorStats;
      if (response.status !== 200) detail = `/api/state answered ${response.status}`;
      else {
        const state = (await response.json()) as { relay: { members: string[]; source: string }; nodes: { id: string | null; member: boolean; state: string }[] };
        const listed = state.nodes.filter((node) => node.member);
        const ids = listed.map((node) => node.id ?? '?');
        const { ingest, retained, limits } = stats;
        if (!sameSet(state.relay.members, nodeIds) || !sameSet(ids, nodeIds)) {
          detail = `/api/state shows members ${state.relay.members.join(',')} and member nodes ${ids.join(',')}; the live nodes are ${nodeIds.join(',')}`;
        } else if (ingest.notApplied > 0) {
          return { check: { name: 'inspector', ok: false, detail: `${ingest.notApplied} accepted inspection messages could not be applied (see its log)` }, stats };
        } else if (ingest.connections > streams || retained.processes > streams + limits.goneNodes || retained.replay.sessions > streams * limits.sessionsPerConnection || retained.replay.bytes > limits.bytesTotal) {
          detail = `/api/stats: ${ingest.connections} streams for ${streams} processes, holds ${retained.processes} processes, ${retained.replay.sessions} replay sessions (${retained.replay.bytes} bytes)`;
        } else {
          // Whose machines still stream here (reported, not required): a node in state "member"
          // is listed by the relay only; a relay not streaming leaves the membership to /status.
          const streaming = listed.filter((node) => node.state !== 'member').length;
          const relay = state.relay.source === 'inspection' ? "the relay's" : "not the relay's (membership from its /status)";
          return {
            check: {
              name: 'inspector',
              ok: true,
              detail: `/api/state shows the ${nodeIds.length} members; statecharts of ${streaming} of them and ${relay}; it holds ${retained.processes} processes and ${retained.replay.sessions} replay sessions`,
            },
            stats,
          };
        }
      }
    } catch (error) {
      detail = `/api/state failed: ${(error as Error).message}`;
    }
    if (Date.now() - started > timeoutMs) return { check: { name: 'inspector', ok: false, detail }, stats };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === a.length && a.length === b.length && b.every((id) => set.has(id));
}

function describe(leader: LeaderInfo): string {
  return `${leader.id} (rank ${leader.rank}, term ${leader.term})`;
}

function describeViews(ring: TargetRing): string {
  return memberViews(ring.supervisor)
    .map((view) => `${view.id ?? '?'}${view.leading ? '*' : ''}→${view.leader ? `${view.leader.id}@${view.leader.term}` : 'none'}`)
    .join(' ');
}
