/**
 * Failover of real processes, measured through the CLI: a relay and N `ringleader node`
 * processes on this machine; the leader gets SIGKILL (crash: the relay sees the socket close) or
 * SIGSTOP (freeze: socket open, found by the leader timeout or the relay's ping/pong); the time
 * is from the signal to the moment every other node's log names one new leader.
 *
 * After each trial the victim is removed (SIGKILL) and a fresh node joins, so every trial starts
 * from N agreeing nodes. Node timings are the defaults unless the environment sets them.
 *
 *   node dist/bench/processFailover.js [--sizes 5,20] [--trials 10] [--scenarios kill,stop]
 */
import { pathToFileURL } from 'node:url';
import { Supervisor, type Agreement } from '../cli/supervisor.js';
import { DEFAULT_TIMING } from '../machines/nodeMachine.js';
import { summarize, type Summary } from './stats.js';

export type FailoverScenario = 'kill' | 'stop';

export interface FailoverMeasurement {
  scenario: FailoverScenario;
  nodes: number;
  leaderTimeoutMs: number;
  /** Milliseconds from the signal to agreement, one per trial. */
  samples: number[];
  summary: Summary;
}

export interface ProcessFailoverOptions {
  sizes?: readonly number[];
  trials?: number;
  scenarios?: readonly FailoverScenario[];
  /** Environment of the children (timings); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Progress lines; defaults to stderr so the table on stdout stays clean. */
  progress?: (line: string) => void;
}

const AGREEMENT_DEADLINE_MS = 60_000;

export async function measureProcessFailover(options: ProcessFailoverOptions = {}): Promise<FailoverMeasurement[]> {
  const { sizes = [5, 20], trials = 10, scenarios = ['kill', 'stop'], env = process.env } = options;
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const leaderTimeoutMs = Number(env.LEADER_TIMEOUT_MS) || DEFAULT_TIMING.leaderTimeoutMs;
  const results: FailoverMeasurement[] = [];

  for (const size of sizes) {
    const supervisor = new Supervisor({ env: { ...env, LOG_LEVEL: 'info' }, relayPort: 0 });
    const stopOnSignal = () => void supervisor.stop().finally(() => process.exit(130));
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);
    try {
      await supervisor.startRelay();
      progress(`starting ${size} node processes...`);
      await supervisor.startNodes(size);
      for (const scenario of scenarios) {
        const samples: number[] = [];
        for (let trial = 1; trial <= trials; trial += 1) {
          samples.push(await oneTrial(supervisor, scenario, size));
          progress(`  ${scenario} n=${size} trial ${trial}/${trials}: ${samples.at(-1)} ms`);
        }
        results.push({ scenario, nodes: size, leaderTimeoutMs, samples, summary: summarize(samples) });
      }
    } finally {
      process.off('SIGINT', stopOnSignal);
      process.off('SIGTERM', stopOnSignal);
      await supervisor.stop();
    }
  }
  return results;
}

async function oneTrial(supervisor: Supervisor, scenario: FailoverScenario, size: number): Promise<number> {
  const before = await agreementOf(supervisor, (a) => a.nodes.length === size, `${size} nodes to agree`);
  const victim = before.leader.id;
  const signalledAt = performance.now();
  if (scenario === 'kill') await supervisor.crash(victim);
  else await supervisor.freeze(victim);
  await agreementOf(supervisor, (a) => a.leader.term > before.leader.term && a.leader.id !== victim && a.nodes.length === size - 1, 'a new leader');
  const elapsed = Math.round(performance.now() - signalledAt);

  // Back to N agreeing nodes for the next trial: the frozen victim goes too (SIGKILL works on a
  // stopped process), and a fresh node takes its place.
  if (scenario === 'stop') await supervisor.crash(victim);
  await supervisor.startNode();
  return elapsed;
}

function agreementOf(supervisor: Supervisor, accept: (agreement: Agreement) => boolean, what: string): Promise<Agreement> {
  return supervisor.waitFor(
    () => {
      const agreement = supervisor.agreement();
      return agreement && accept(agreement) ? agreement : undefined;
    },
    { timeoutMs: AGREEMENT_DEADLINE_MS, what },
  );
}

export function formatFailoverTable(results: readonly FailoverMeasurement[]): string {
  const header = ['signal', 'nodes', 'LEADER_TIMEOUT_MS', 'trials', 'median ms', 'min ms', 'max ms'];
  const rows = results.map((result) => [
    result.scenario === 'kill' ? 'SIGKILL' : 'SIGSTOP',
    String(result.nodes),
    String(result.leaderTimeoutMs),
    String(result.summary.trials),
    String(Math.round(result.summary.median)),
    String(Math.round(result.summary.min)),
    String(Math.round(result.summary.max)),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column]!)).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function parseArgs(argv: readonly string[]): ProcessFailoverOptions {
  const options: ProcessFailoverOptions = {};
  for (let index = 0; index < argv.length; index += 2) {
    const [flag, value] = [argv[index], argv[index + 1] ?? ''];
    if (flag === '--sizes') options.sizes = value.split(',').map(positiveInteger);
    else if (flag === '--trials') options.trials = positiveInteger(value);
    else if (flag === '--scenarios') options.scenarios = value.split(',').map(scenarioOf);
    else throw new Error(`unknown option ${flag}; usage: processFailover [--sizes 5,20] [--trials 10] [--scenarios kill,stop]`);
  }
  return options;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 2) throw new Error(`expected an integer of at least 2, got "${text}"`);
  return value;
}

function scenarioOf(text: string): FailoverScenario {
  if (text !== 'kill' && text !== 'stop') throw new Error(`scenario must be kill or stop, got "${text}"`);
  return text;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const results = await measureProcessFailover(parseArgs(process.argv.slice(2)));
    process.stdout.write(`${formatFailoverTable(results)}\n`);
  } catch (error) {
    process.stderr.write(`processFailover: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
