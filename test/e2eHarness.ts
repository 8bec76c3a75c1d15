/**
 * Shared set-up of the process-level end-to-end tests: real `ringleader relay` / `ringleader node`
 * processes (through the built CLI, `npm run build` first) on loopback with an ephemeral relay
 * port and short timings. Every supervisor made here is stopped by `stopRings()` in afterEach,
 * even when a test fails.
 */
import type { LeaderInfo } from '../machines/protocol.js';
import { leadershipClaim } from '../cli/logRecords.js';
import { Supervisor, type Agreement, type SupervisedChild } from '../cli/supervisor.js';
import { waitFor } from '../runtime/waitFor.js';

/**
 * Short timings so failures are detected quickly, but not so short that a stalled event loop on a
 * loaded 2-core machine looks like a dead peer: the node drops its relay link after a third of the
 * leader timeout of silence, and a dropped link changes who leads, which exact-rank assertions see.
 */
export const TIMING = { checkIntervalMs: 400, leaderTimeoutMs: 2000, electionTimeoutMs: 3000 } as const;

export const FAST_TIMING = {
  CHECK_INTERVAL_MS: String(TIMING.checkIntervalMs),
  LEADER_TIMEOUT_MS: String(TIMING.leaderTimeoutMs),
  ELECTION_TIMEOUT_MS: String(TIMING.electionTimeoutMs),
} as const;

/**
 * The machine is shared and slow: conditions get this long before a test calls it a failure
 * (at least 5x a failover: a leader timeout, then an election lap).
 */
export const DEADLINE_MS = Math.max(30_000, 5 * (TIMING.leaderTimeoutMs + TIMING.electionTimeoutMs));

const running: Supervisor[] = [];

export async function startRing(options: { ranks: readonly number[]; env?: NodeJS.ProcessEnv }): Promise<Supervisor> {
  const supervisor = new Supervisor({
    env: { ...process.env, ...FAST_TIMING, LOG_LEVEL: 'info', ...options.env },
    relayPort: 0,
  });
  running.push(supervisor);
  await supervisor.startRelay();
  await supervisor.startNodes(options.ranks.length, options.ranks);
  return supervisor;
}

export async function stopRings(): Promise<void> {
  const all = running.splice(0);
  await Promise.all(all.map((supervisor) => supervisor.stop()));
}

/** Waits until every live, unfrozen node names the same leader (optionally: one that `accept`s). */
export function waitForAgreement(
  supervisor: Supervisor,
  accept: (agreement: Agreement) => boolean = () => true,
  what = 'all nodes to agree on one leader',
): Promise<Agreement> {
  return supervisor.waitFor(
    () => {
      const agreement = supervisor.agreement();
      return agreement && accept(agreement) ? agreement : undefined;
    },
    { timeoutMs: DEADLINE_MS, what: `${what} (now: ${describeViews(supervisor)})` },
  );
}

export function leaderNode(supervisor: Supervisor, leader: LeaderInfo): SupervisedChild {
  const node = supervisor.node(leader.id);
  if (!node) throw new Error(`leader ${leader.id} is not a running node`);
  return node;
}

/** What each node believes, for failure messages. */
export function describeViews(supervisor: Supervisor): string {
  return supervisor.nodes
    .map((node) => `${node.clientId ?? node.label}${node.frozen ? '(frozen)' : ''}→${node.leader ? `${node.leader.id}@${node.leader.term}` : 'none'}`)
    .join(' ');
}

/**
 * Every "leadership acquired" line of every node process that ever ran, as term -> processes.
 * Processes, not client ids: a node that rejoined under a new id is still one claimant.
 */
export function leadershipClaims(supervisor: Supervisor): Map<number, Set<string>> {
  const claims = new Map<number, Set<string>>();
  for (const node of supervisor.allNodes) {
    for (const record of node.records) {
      const claim = leadershipClaim(record);
      if (!claim) continue;
      const claimants = claims.get(claim.term) ?? new Set<string>();
      claimants.add(node.label);
      claims.set(claim.term, claimants);
    }
  }
  return claims;
}

/** Terms in which more than one process claimed leadership (should be none). */
export function doubleClaims(supervisor: Supervisor): [number, string[]][] {
  return [...leadershipClaims(supervisor)].filter(([, who]) => who.size > 1).map(([term, who]) => [term, [...who]]);
}

/**
 * What the node that closed the lap of `term` said about validity: its "leader changed" line
 * carries `highestOfElection` (it alone saw every rank of the lap). Empty when `term` was not
 * chosen by a lap this supervisor saw closed.
 */
export function closingVerdicts(supervisor: Supervisor, term: number): boolean[] {
  return supervisor.allNodes
    .flatMap((node) => recordsWithMessage(node, 'leader changed'))
    .filter((record) => record.term === term && typeof record.highestOfElection === 'boolean')
    .map((record) => record.highestOfElection as boolean);
}

export function recordsWithMessage(node: SupervisedChild, msg: string) {
  return node.records.filter((record) => record.msg === msg);
}

