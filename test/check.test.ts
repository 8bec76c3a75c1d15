/**
 * The exhaustive checker (check/) on the real machines, in CI: three nodes and up to two crashes,
 * every interleaving, every property in every state. And the checker's own evidence that it
 * catches what it claims to: a planted lease-timing bug is found, its trace replays, and a stored
 * counterexample still replays to the same violation.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../check/cli.js';
import { defaultConfig } from '../check/config.js';
import { createModel } from '../check/model.js';
import { PLANTS } from '../check/plants.js';
import { search } from '../check/search.js';
import { makeTrace, readTrace, replay, writeTrace } from '../check/trace.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringleader-check-'));
const findingsDir = join(import.meta.dirname, '..', 'check', 'findings');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; output: string }> {
  let output = '';
  const code = await run(argv, {}, (text) => {
    output += text;
  });
  return { code, output };
}

describe('npm run check', () => {
  it('finds no violation in any interleaving of three nodes with up to two crashes', async () => {
    const { code, output } = await cli(['--nodes', '3', '--faults', '2', '--fault-kinds', 'crash']);
    expect(output).toContain('every property holds in every state reached');
    expect(code).toBe(0);
    // The figures line: a real search, complete, not a handful of states.
    const states = Number(/^(\d+) distinct states/m.exec(output)?.[1]);
    expect(states).toBeGreaterThan(10_000);
    expect(output).not.toContain('NOT complete');
  });

  it("catches a lease longer than the relay heartbeat at the first welcome: the node refuses the relay's timing", () => {
    const config = PLANTS['long-lease']!.configure!(defaultConfig({ nodes: 3, faults: 1, faultKinds: ['cut'], plant: 'long-lease' }));
    const outcome = search(createModel(config));
    expect(outcome.violation?.property).toBe('timing');
    expect(outcome.violation?.message).toMatch(/refused the relay's timing at welcome: this node's lease \(600 ms\) is not shorter than the relay's heartbeat \(400 ms/);
  });

  it('catches a lease longer than the relay heartbeat with a relay that tells no timing, and the trace replays to the same violation', async () => {
    const config = PLANTS['long-lease']!.configure!(
      defaultConfig({ nodes: 3, faults: 1, faultKinds: ['cut'], plant: 'long-lease', relayTellsTiming: false }),
    );
    const outcome = search(createModel(config));
    expect(outcome.violation?.property).toBe('lease');
    const { steps, ...violation } = outcome.violation!;
    const file = join(scratch, 'long-lease.json');
    writeTrace(file, makeTrace(config, violation, steps));

    const replayed = replay(readTrace(file));
    expect(replayed.violation).toEqual(violation);
    expect(replayed.steps).toHaveLength(steps.length);

    const { code, output } = await cli(['--replay', file]);
    expect(code).toBe(1);
    expect(output).toContain(`VIOLATION of lease at step ${steps.length}`);
    expect(output).toContain('FAULT: cut');
  });

  it('catches an election rule that picks the lowest rank, as a validity violation', () => {
    const outcome = search(createModel(defaultConfig({ nodes: 3, faults: 0, plant: 'lowest-rank-wins' })));
    expect(outcome.violation?.property).toBe('validity');
  });

  it('replays the stored counterexample of the long-lease plant', () => {
    const replayed = replay(readTrace(join(import.meta.dirname, 'check-traces', 'long-lease.json')));
    expect(replayed.violation?.property).toBe('lease');
    expect(replayed.violation?.message).toMatch(/2 running processes lead at once/);
  });

  it('finds no violation with a relay restart and a "start election" press (it found one before electionDeferred)', async () => {
    const { code, output } = await cli(['--nodes', '2', '--faults', '2', '--fault-kinds', 'restart,election']);
    expect(output).toContain('every property holds in every state reached');
    expect(code).toBe(0);
    expect(Number(/^(\d+) distinct states/m.exec(output)?.[1])).toBeGreaterThan(10_000);
  });

  it('no longer reaches the violations it found in the shipped machines (check/findings/)', () => {
    const findings = readdirSync(findingsDir).filter((name) => name.endsWith('.json'));
    expect(findings.length).toBeGreaterThanOrEqual(3);
    for (const name of findings) {
      let outcome: ReturnType<typeof replay> | null = null;
      try {
        outcome = replay(readTrace(join(findingsDir, name)));
      } catch (error) {
        // The fixed machines leave the trace's path: the step where the bug showed is not possible.
        expect((error as Error).message, name).toMatch(/is not possible in the state the trace reached/);
        continue;
      }
      expect(outcome.violation, name).toBeNull();
    }
  });

  it('refuses a trace that is not one, and options it cannot honour', async () => {
    const file = join(scratch, 'not-a-trace.json');
    writeFileSync(file, JSON.stringify({ format: 'something-else', steps: [] }));
    await expect(cli(['--replay', file])).rejects.toThrow(/is not a ringleader-check-trace file/);
    // A trace that does not fit the machines fails loudly instead of proving nothing: time cannot
    // pass before the processes have connected.
    writeTrace(file, makeTrace(defaultConfig({ nodes: 3, faults: 0 }), null, [{ kind: 'tick' }]));
    await expect(cli(['--replay', file])).rejects.toThrow(/step 1 \(\{"kind":"tick"\}\) is not possible/);
    await expect(cli(['--tick', '300'])).rejects.toThrow(/not a whole number .* of 300 ms ticks/);
  });
});
