/**
 * The benchmark report: one row per figure, printed as a Markdown table (so the same text goes
 * into the README) and written as JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Summary } from './stats.js';

export interface Baseline {
  /** What the figure is compared with, e.g. "raw lap N=1000". */
  label: string;
  summary: Summary;
}

export interface Goal {
  /** Human wording, e.g. "≤ 1.5x raw". */
  text: string;
  met: boolean;
}

export interface Row {
  /** Stable key for scripts, e.g. "election.lap.1000". */
  key: string;
  /** What the row measures, for people. */
  label: string;
  unit: string;
  summary: Summary;
  baseline?: Baseline;
  /** summary.median / baseline.median, when there is a baseline. */
  ratio?: number;
  goal?: Goal;
  /** Anything a reader needs to interpret the figure (set-up, counts). */
  note?: string;
}

export interface Report {
  startedAt: string;
  durationSeconds: number;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; totalMemoryMB: number };
  quick: boolean;
  rows: Row[];
  /** Benchmarks that could not run (a missing component, a timeout) and why. */
  skipped: { name: string; reason: string }[];
}

export function withBaseline(row: Omit<Row, 'ratio' | 'baseline'>, baseline: Baseline | undefined): Row {
  if (!baseline) return row;
  return { ...row, baseline, ratio: row.summary.median / baseline.summary.median };
}

export function formatNumber(value: number, unit: string): string {
  if (unit === 'MB') return value.toFixed(0);
  if (unit === 'frames/s' || unit === 'frames') return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(summary: Summary, unit: string): string {
  return `${formatNumber(summary.median, unit)} ${unit}`;
}

function range(summary: Summary, unit: string): string {
  return summary.trials === 1 ? '(1 trial)' : `${formatNumber(summary.min, unit)} – ${formatNumber(summary.max, unit)}`;
}

export function renderTable(report: Report): string {
  const header = ['Benchmark', 'Median', 'Min – max', 'n', 'Baseline (same run)', 'Ratio', 'Goal', 'Met'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of report.rows) {
    const baseline = row.baseline ? `${row.baseline.label}: ${cell(row.baseline.summary, row.unit)}` : '';
    const ratio = row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}x`;
    const goal = row.goal?.text ?? '';
    const met = row.goal ? (row.goal.met ? 'yes' : '**no**') : '';
    const label = row.note ? `${row.label} (${row.note})` : row.label;
    lines.push(`| ${[label, cell(row.summary, row.unit), range(row.summary, row.unit), String(row.summary.trials), baseline, ratio, goal, met].join(' | ')} |`);
  }
  for (const skipped of report.skipped) lines.push(`| ${skipped.name}: not measured (${skipped.reason.replace(/\|/g, '/')}) | | | | | | | |`);
  return lines.join('\n');
}

export function renderHeader(report: Report): string {
  const { machine } = report;
  return (
    `Ringleader benchmarks, ${report.startedAt}${report.quick ? ' (--quick: fewer trials, smaller rings)' : ''}\n` +
    `${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemoryMB} MB, Node ${machine.node} on ${machine.platform}; ` +
    `whole run ${report.durationSeconds.toFixed(0)} s`
  );
}

export function writeJson(path: string, report: Report): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}
