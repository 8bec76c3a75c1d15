/**
 * The relay dies (SIGKILL) and comes back on the same port with the same state file
 * (`--state-file`, issue 15): the time from starting the new relay until it has every node back as
 * a member, reports a leader in a term no lower than any the old relay saw, and every node names
 * that leader; next to the relay's own start-up (spawn to "relay listening") in the same trial.
 * (The old leader may come back with its id and keep its term: the same leadership, not a reuse.)
 * Read by polling the new relay's /status every 10 ms, so the figure is up to 10 ms late.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, type ChildRelay } from './childServer.js';
import { InProcessRing } from './inProcessRing.js';
import { waitFor } from '../runtime/waitFor.js';

export interface RelayRestartResult {
  /** Spawn of the new relay until every node names one leader above the old term. */
  agreedMs: number[];
  /** Spawn of the new relay until it logs "relay listening". */
  startupMs: number[];
}

/** Timing of a ring that notices a dead relay and reconnects promptly (the defaults' lease is 2.5 s). */
const TIMING = { leaderTimeoutMs: 2000, checkIntervalMs: 500, electionTimeoutMs: 1000 };

/** Resolves with performance.now() once the new relay has all `nodes` back and they agree with it. */
async function backTogether(relay: ChildRelay, ring: InProcessRing, nodes: number, floor: number): Promise<number> {
  return waitFor(
    async () => {
      const status = (await (await fetch(`${relay.httpUrl}/status`)).json()) as { members: string[]; leader: { id: string; term: number } | null };
      const agreed = ring.agreement();
      const together = status.members.length === nodes && status.leader !== null && status.leader.term >= floor && agreed?.id === status.leader.id && agreed.term === status.leader.term;
      return together && performance.now();
    },
    'the ring to come back together on the restarted relay',
    // Polled often: the time it returns is the measurement.
    { timeoutMs: 60_000, intervalMs: 10 },
  );
}

export async function measureRelayRestart(options: { nodes: number; trials: number; progress: (line: string) => void }): Promise<RelayRestartResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ringleader-bench-state-'));
  const stateFile = join(dir, 'relay-state.json');
  let relay: ChildRelay = await startRelay('real', { args: ['--state-file', stateFile] });
  const port = new URL(relay.url).port;
  const ring = new InProcessRing(relay.url, TIMING);
  const result: RelayRestartResult = { agreedMs: [], startupMs: [] };
  try {
    await ring.grow(options.nodes);
    for (let trial = 0; trial < options.trials; trial += 1) {
      const before = await ring.waitForAgreement(60_000);
      const died = new Promise((resolve) => relay.process.once('exit', resolve));
      relay.process.kill('SIGKILL');
      await died;
      const spawnedAt = performance.now();
      relay = await startRelay('real', { args: ['--state-file', stateFile, '--port', port] });
      const startupMs = performance.now() - spawnedAt;
      const ms = (await backTogether(relay, ring, options.nodes, before.term)) - spawnedAt;
      result.agreedMs.push(ms);
      result.startupMs.push(startupMs);
      options.progress(`relay restart ${trial + 1}/${options.trials}: relay up in ${startupMs.toFixed(0)} ms, all back, agreeing at term ≥ ${before.term}, after ${ms.toFixed(0)} ms`);
    }
  } finally {
    await ring.close();
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
