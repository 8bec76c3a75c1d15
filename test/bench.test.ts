/**
 * The benchmark runner's contract, not its figures (speed is measured, never asserted): a quick
 * run of the raw-limit benchmark prints one Markdown table and writes the same rows as JSON,
 * and a bad flag is refused with a clear message. Needs `npm run build` (pretest does it).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const RUNNER = join(import.meta.dirname, '..', 'dist', 'bench', 'run.js');
const scratch = mkdtempSync(join(tmpdir(), 'ringleader-bench-'));
const running = new Set<ReturnType<typeof spawn>>();

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

interface JsonRow {
  key: string;
  label: string;
  unit: string;
  summary: { median: number; min: number; max: number; trials: number };
  baseline?: { label: string; summary: { median: number } };
  ratio?: number;
}

describe('npm run bench -- --quick', () => {
  it('prints a table of median, range and baseline, and writes the same rows as JSON', async () => {
    const out = join(scratch, 'results.json');
    const { code, stdout, stderr } = await runBench(['--quick', '--only', 'raw', '--out', out]);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/running: raw limit/);

    const report = JSON.parse(readFileSync(out, 'utf8')) as { rows: JsonRow[]; skipped: unknown[]; machine: { cpus: number } };
    expect(report.skipped).toEqual([]);
    expect(report.machine.cpus).toBeGreaterThan(0);
    const keys = report.rows.map((row) => row.key);
    expect(keys).toEqual(expect.arrayContaining(['raw.hop', 'raw.lap.10', 'raw.lap.100', 'relay.hop']));
    for (const row of report.rows) {
      const { median, min, max, trials } = row.summary;
      expect(Number.isFinite(median) && median > 0, row.key).toBe(true);
      expect(min <= median && median <= max, row.key).toBe(true);
      expect(trials).toBeGreaterThan(1);
    }
    const relayHop = report.rows.find((row) => row.key === 'relay.hop')!;
    expect(relayHop.baseline?.label).toBe('raw hop');
    expect(relayHop.ratio).toBeCloseTo(relayHop.summary.median / relayHop.baseline!.summary.median, 6);

    // The printed table has one line per JSON row, under a Markdown header.
    expect(stdout).toContain('| Benchmark | Median | Min – max | n | Baseline (same run) | Ratio | Goal | Met |');
    for (const row of report.rows) expect(stdout).toContain(`| ${row.label} |`);
  }, 60_000);

  it('refuses an unknown benchmark name and says which ones exist', async () => {
    const { code, stderr } = await runBench(['--only', 'nope']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown benchmark "nope".*raw, election, failover/);
  });
});
