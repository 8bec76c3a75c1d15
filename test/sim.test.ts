import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { electionTimeoutFor, resolveTiming } from '../machines/nodeMachine.js';
import { runSimulation, type SimulationOptions, type SimulationSummary } from '../sim/simulation.js';

// Process-level checks run the built CLI: `npm run build` (or `npm test`, whose pretest builds) first.
const CLI = 'dist/sim/cli.js';

function withoutWallTime(summary: SimulationSummary): unknown {
  const { wallMs: _wall, failovers, ...rest } = summary;
  return { ...rest, failovers: failovers.map(({ wallMs: _ms, ...failover }) => failover) };
}

describe('simulator', () => {
  it('replays a seed exactly: the same seed gives the same run', () => {
    const options = { seed: 11, nodes: 5, faults: ['crash', 'freeze', 'join', 'relay-restart', 'disconnect'] as const, faultCount: 6 };
    const first = runSimulation({ ...options, faults: [...options.faults] });
    const second = runSimulation({ ...options, faults: [...options.faults] });
    expect(first.ok).toBe(true);
    expect(withoutWallTime(second)).toEqual(withoutWallTime(first));
    expect(runSimulation({ ...options, faults: [...options.faults], seed: 12 }).steps).not.toBe(first.steps);
  });

  it.each([10, 60])('a leader crash in a ring of %i costs one lap and one broadcast: at most 2N frames, within its budget', (nodes) => {
    const summary = runSimulation({ seed: 7, nodes, faults: ['crash-leader'], faultCount: 3 });
    expect(summary.violations).toEqual([]);
    expect(summary.failovers).toHaveLength(3);
    for (const failover of summary.failovers) {
      // N survivors: one election hop each, one newLeader to each but the sender.
      expect(failover.electionFrames + failover.newLeaderFrames).toBeLessThanOrEqual(2 * failover.nodes + 2);
      expect(failover.durationMs).toBeLessThanOrEqual(failover.budgetMs);
      expect(failover.newLeader).not.toBe(failover.crashed);
    }
    expect(summary.elections.started).toBe(summary.elections.completed);
  });

  it('with a silent member in the ring, a leader crash is repaired within about two election timeouts', () => {
    const timing = resolveTiming();
    for (const seed of [1, 2, 3, 4]) {
      const summary = runSimulation({ seed, nodes: 6, silentMembers: 1, faults: ['crash-leader'], faultCount: 3 });
      expect(summary.violations, summary.reproduce).toEqual([]);
      expect(summary.failovers).toHaveLength(3);
      for (const failover of summary.failovers) {
        const twoElectionTimeouts = 2 * electionTimeoutFor(timing, failover.nodes + 1) * (1 + timing.jitter);
        expect(failover.durationMs).toBeLessThanOrEqual(twoElectionTimeouts + 200);
      }
    }
  });

  it('a silent member that joins mid-run never stops the ring from electing (the sweep has it too)', () => {
    const summary = runSimulation({ seed: 9, nodes: 4, faults: ['silent-member', 'crash-leader', 'election'], faultCount: 8 });
    expect(summary.violations, summary.reproduce).toEqual([]);
    expect(summary.faultsInjected['silent-member']).toBeGreaterThan(0);
  });

  it('the lease holds with clock rates within the bound, and the simulator finds two leaders beyond it', () => {
    // A leader whose frames stop arriving (one-way loss) must step down, on its own clock,
    // before the relay drops it and the others elect: W (1 + drift) < H - 2 delta.
    const run = (seed: number, clockDrift: number) =>
      runSimulation({ seed, nodes: 4, faults: ['stall-down', 'crash'], faultCount: 6, faultWindowMs: 12_000, settleMs: 4_000, clockDrift });
    const seeds = Array.from({ length: 40 }, (_, index) => index + 1);
    for (const seed of seeds.slice(0, 15)) expect(run(seed, 0.3).violations, `seed ${seed}`).toEqual([]);
    const broken = seeds.map((seed) => run(seed, 1.5)).find((summary) => summary.violations.some((v) => v.property === 'lease'));
    expect(broken, 'no run with clocks 2.5x apart broke the lease').toBeDefined();
    expect(broken!.violations[0]!.message).toMatch(/2 processes hold a lease at once/);
    expect(broken!.traceTail.length).toBeGreaterThan(0);
    expect(broken!.reproduce).toContain('--clock-drift 1.5');
  });

  it('a broken link closes both ends: the relay takes the member out, the member sees the close and comes back', () => {
    for (const seed of [1, 2, 3]) {
      const trace: string[] = [];
      const summary = runSimulation({ seed, nodes: 4, faults: ['link-break'], faultCount: 3, faultWindowMs: 12_000, settleMs: 4_000, trace: (line) => trace.push(line) });
      expect(summary.violations, summary.reproduce).toEqual([]);
      const breaks = trace.flatMap((line, at) => {
        const match = /the socket of #(\d+) \((n\d+)\) breaks/.exec(line);
        return match === null ? [] : [{ at, index: match[1]!, id: match[2]! }];
      });
      expect(breaks.length, `seed ${seed}: no link broke`).toBeGreaterThan(0);
      for (const { at, index, id } of breaks) {
        const after = trace.slice(at);
        // The relay side: the member leaves the ring (on the break, or its heartbeat found out first).
        expect(after.find((entry) => entry.includes(`relay: ${id} leaves`)), `seed ${seed}: the relay never let ${id} go`).toBeDefined();
        // The node side: it sees its socket close and joins again.
        expect(after.find((entry) => entry.includes(`#${index} (${id}) sees its socket close`) || entry.includes(`#${index} (${id}) drops its link`)), `seed ${seed}: #${index} never saw the close`).toBeDefined();
      }
      // Not only the lease and the heartbeat: the ends also notice the break itself.
      expect(trace.some((line) => /relay: n\d+ leaves \(broken\)/.test(line)), `seed ${seed}: the relay never noticed a break itself`).toBe(true);
      expect(breaks.some(({ at, index, id }) => trace.slice(at).some((entry) => entry.includes(`#${index} (${id}) sees its socket close`))), `seed ${seed}: no member noticed a break itself`).toBe(true);
    }
  });

  it('a quiet ring elects once and keeps its leader', () => {
    const summary = runSimulation({ seed: 5, nodes: 8, faults: [] });
    expect(summary.ok).toBe(true);
    expect(summary.elections.completed).toBe(1);
    expect(summary.finalLeader).not.toBeNull();
    // The leader as the nodes name it, rank included (the winner of 8 draws from [0, 1,000,000)).
    expect(summary.finalLeader!.rank).toBeGreaterThan(0);
  });

  it('joins never depose the agreed leader (stability)', () => {
    const summary = runSimulation({ seed: 3, nodes: 4, faults: ['join'], faultCount: 6, rankRange: 1_000_000 });
    expect(summary.violations).toEqual([]);
    expect(summary.elections.completed).toBe(1);
  });
});

describe('npm run sim', () => {
  it('prints SEED first, a summary, and exits 0 when every property holds', () => {
    const result = spawnSync(process.execPath, [CLI, '--seed', '7', '--nodes', '10', '--faults', 'crash-leader', '--fault-count', '1'], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('SEED=7');
    expect(result.stdout).toMatch(/frames per failover: \d+/);
    expect(result.stdout).toMatch(/virtual time to agreement: \d+ ms/);
    expect(result.stdout).toMatch(/frames sent by nodes: \d+ \(.*election \d+/);
  });

  it('the reproduce command of a run replays it exactly', () => {
    const summary = runSimulation({ seed: 21, nodes: 4, faults: ['crash', 'join', 'freeze'], faultCount: 5, linkDelayMs: { min: 2, max: 30 } });
    const args = summary.reproduce.replace(/^npm run sim -- /, '').split(' ');
    const result = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const replayed = JSON.parse(result.stdout.slice(result.stdout.indexOf('\n') + 1)) as SimulationSummary;
    expect(withoutWallTime(replayed)).toEqual(withoutWallTime(summary));
  });

  it('prints the run that broke a property: its last events, the violation and the replay command', () => {
    const options: SimulationOptions = { seed: 14, nodes: 4, faults: ['stall-down'], faultCount: 6, faultWindowMs: 12_000, settleMs: 4_000, clockDrift: 1.5 };
    const summary = runSimulation(options);
    expect(summary.violations[0]?.property).toBe('lease');
    const args = summary.reproduce.replace(/^npm run sim -- /, '').split(' ');
    const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('last events before the violation:');
    expect(result.stdout).toMatch(/VIOLATION lease at [\d.]+ ms: 2 processes hold a lease at once/);
    expect(result.stdout).toContain(`reproduce: ${summary.reproduce}`);
  });

  it('rejects a bad option with a clear message and exit code 2', () => {
    const result = spawnSync(process.execPath, [CLI, '--seed', '1', '--faults', 'meteor'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown fault "meteor"');
    const nodes = spawnSync(process.execPath, [CLI, '--nodes', '0'], { encoding: 'utf8' });
    expect(nodes.status).toBe(2);
    expect(nodes.stderr).toContain('--nodes must be at least 1');
  });
});
