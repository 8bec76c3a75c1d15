#!/usr/bin/env node
/**
 * `npm run sim -- --nodes 1000 --seed 7 --faults crash-leader`: one seeded run (or a sweep of
 * seeds) of the simulator, with a summary. The first line is always `SEED=<seed>`; a failing run
 * ends with the one command that replays it, and exits 1.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, parseOptions, renderHelp, type OptionSpecs } from '../runtime/options.js';
import { FAULT_HELP, FAULT_KINDS, parseFaultList } from './faults.js';
import { runSimulation, type SimulationOptions, type SimulationSummary } from './simulation.js';

export const SIM_OPTIONS = {
  seed: { flag: 'seed', env: 'SIM_SEED', kind: 'integer', min: 0, max: 2 ** 31 - 1, help: 'seed of the run (default: drawn from the clock, and printed)' },
  nodes: { flag: 'nodes', kind: 'integer', default: 5, min: 1, max: 100_000, help: 'processes at the start' },
  silent: { flag: 'silent', kind: 'integer', min: 0, max: 1000, help: 'silent members at the start: they read every frame and never send one' },
  faults: {
    flag: 'faults',
    kind: 'string',
    default: 'mixed',
    help: `mixed, none, or a comma-separated list of: ${FAULT_KINDS.join(', ')} (crash-leader alone = sequential failovers, each measured)`,
  },
  faultCount: { flag: 'fault-count', kind: 'integer', min: 0, max: 100_000, help: 'faults to inject (default: 3 failovers, or 8 mixed faults)' },
  faultWindow: { flag: 'fault-window', kind: 'integer', min: 0, max: 100_000_000, help: 'virtual ms over which mixed faults are spread (default 30000)' },
  delay: { flag: 'delay', kind: 'string', help: 'one-way link delay range in virtual ms, "min-max" (default 1-10)' },
  clockDrift: {
    flag: 'clock-drift',
    kind: 'string',
    help: 'clock rates of the nodes drawn from [1/(1+d), 1+d], e.g. 0.3 (default 0: exact clocks)',
  },
  maxPayload: { flag: 'max-payload', kind: 'integer', min: 1024, max: 1024 * 1024 * 1024, help: "the relay's payload limit in bytes (its member capacity follows)" },
  forwardTimeout: { flag: 'forward-timeout', kind: 'integer', min: 1, max: 3_600_000, help: "the relay's forward timeout (default: its heartbeat interval)" },
  rankRange: { flag: 'rank-range', kind: 'integer', min: 1, max: 2 ** 31 - 1, help: 'ranks are drawn from [0, n); small values make ties common (default 1000000)' },
  settle: { flag: 'settle', kind: 'integer', min: 0, max: 100_000_000, help: 'virtual ms agreement must hold after healing' },
  checkInterval: { flag: 'check-interval', kind: 'integer', min: 1, max: 3_600_000, help: 'CHECK_INTERVAL_MS of every node' },
  leaderTimeout: { flag: 'leader-timeout', kind: 'integer', min: 1, max: 3_600_000, help: 'LEADER_TIMEOUT_MS of every node' },
  electionTimeout: { flag: 'election-timeout', kind: 'integer', min: 1, max: 3_600_000, help: 'ELECTION_TIMEOUT_MS of every node' },
  electionHop: { flag: 'election-hop', kind: 'integer', min: 0, max: 3_600_000, help: 'election time allowed per ring member' },
  lease: { flag: 'lease', kind: 'integer', min: 1, max: 3_600_000, help: "every node's lease (heartbeatTimeoutMs; default a third of the leader timeout)" },
  seeds: { flag: 'seeds', kind: 'integer', default: 1, min: 1, max: 1_000_000, help: 'run this many seeds, from --seed upwards, and print one line each' },
  trace: { flag: 'trace', kind: 'boolean', default: false, help: 'print every notable event of the run' },
  json: { flag: 'json', kind: 'boolean', default: false, help: 'print the summary as JSON' },
} satisfies OptionSpecs;

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(SIM_OPTIONS, argv, env);
  if (help) {
    const faults = FAULT_KINDS.map((kind) => `  ${kind.padEnd(14)} ${FAULT_HELP[kind]}`).join('\n');
    process.stdout.write(`${renderHelp('npm run sim -- [options]', 'Deterministic simulation of a ring: the real statecharts on virtual time.', SIM_OPTIONS)}\nFaults:\n${faults}\n`);
    return 0;
  }
  const seed = options.seed ?? Date.now() % 2 ** 31;
  process.stdout.write(`SEED=${seed}\n`);
  let faults;
  try {
    faults = parseFaultList(options.faults);
  } catch (error) {
    throw new ConfigError(`--faults: ${(error as Error).message}`);
  }
  const base: Omit<SimulationOptions, 'seed'> = {
    nodes: options.nodes,
    faults,
    ...(options.silent === undefined ? {} : { silentMembers: options.silent }),
    ...(options.clockDrift === undefined ? {} : { clockDrift: parseDrift(options.clockDrift) }),
    ...(options.maxPayload === undefined ? {} : { maxPayloadBytes: options.maxPayload }),
    ...(options.forwardTimeout === undefined ? {} : { forwardTimeoutMs: options.forwardTimeout }),
    ...(options.faultCount === undefined ? {} : { faultCount: options.faultCount }),
    ...(options.faultWindow === undefined ? {} : { faultWindowMs: options.faultWindow }),
    ...(options.delay === undefined ? {} : { linkDelayMs: parseDelay(options.delay) }),
    ...(options.rankRange === undefined ? {} : { rankRange: options.rankRange }),
    ...(options.settle === undefined ? {} : { settleMs: options.settle }),
    timing: {
      ...(options.checkInterval === undefined ? {} : { checkIntervalMs: options.checkInterval }),
      ...(options.leaderTimeout === undefined ? {} : { leaderTimeoutMs: options.leaderTimeout }),
      ...(options.electionTimeout === undefined ? {} : { electionTimeoutMs: options.electionTimeout }),
      ...(options.electionHop === undefined ? {} : { electionHopMs: options.electionHop }),
      ...(options.lease === undefined ? {} : { heartbeatTimeoutMs: options.lease }),
    },
  };
  if (options.seeds > 1) return sweep(seed, options.seeds, base);

  const summary = runSimulation({ seed, ...base, ...(options.trace ? { trace: (line: string) => process.stdout.write(`${line}\n`) } : {}) });
  process.stdout.write(options.json ? `${JSON.stringify(summary, null, 2)}\n` : renderSummary(summary));
  return summary.ok ? 0 : 1;
}

function sweep(first: number, count: number, base: Omit<SimulationOptions, 'seed'>): number {
  let failed = 0;
  const started = performance.now();
  for (let seed = first; seed < first + count; seed += 1) {
    const summary = runSimulation({ seed, ...base });
    if (!summary.ok) {
      failed += 1;
      process.stdout.write(`seed ${seed}: ${summary.violations[0]!.property}: ${summary.violations[0]!.message}\n  reproduce: ${summary.reproduce}\n`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${count} seeds, ${failed} failed, ${seconds.toFixed(1)} s\n`);
  return failed === 0 ? 0 : 1;
}

function parseDelay(text: string): { min: number; max: number } {
  const match = /^(\d+)-(\d+)$/.exec(text.trim());
  if (!match || Number(match[1]) > Number(match[2])) throw new ConfigError(`--delay must look like "1-10" (min-max, virtual ms), got "${text}"`);
  return { min: Number(match[1]), max: Number(match[2]) };
}

function byType(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  const total = entries.reduce((sum, [, count]) => sum + count, 0);
  return `${total} (${entries.map(([type, count]) => `${type} ${count}`).join(', ')})`;
}

function parseDrift(text: string): number {
  const drift = Number(text);
  if (!Number.isFinite(drift) || drift < 0 || drift > 10) throw new ConfigError(`--clock-drift must be a number from 0 to 10, got "${text}"`);
  return drift;
}

export function renderSummary(summary: SimulationSummary): string {
  const lines: string[] = [];
  const faults = Object.entries(summary.faultsInjected).map(([kind, count]) => `${kind} x${count}`);
  lines.push(`nodes: ${summary.nodes}   faults injected: ${faults.length === 0 ? 'none' : faults.join(', ')}`);
  lines.push(`result: ${summary.ok ? 'OK, no property violated' : `FAILED, ${summary.violations.length} violation(s)`}`);
  lines.push(`elections: ${summary.elections.started} started, ${summary.elections.completed} completed`);
  lines.push(`frames sent by nodes: ${byType(summary.framesSent)}`);
  lines.push(`frames delivered by the relay: ${byType(summary.deliveries)}`);
  lines.push(`frames lost to faults: ${summary.framesLost}`);
  for (const [index, record] of summary.failovers.entries()) {
    lines.push(
      `failover ${index + 1}: ${record.crashed} crashed, ${record.newLeader} leads term ${record.term} after ${record.durationMs} ms ` +
        `(budget ${record.budgetMs} ms); delivered: ${record.electionFrames} election + ${record.newLeaderFrames} newLeader = ` +
        `${record.electionFrames + record.newLeaderFrames} frames for N=${record.nodes} (2N=${2 * record.nodes}); nodes sent ${record.nodeSent}; ` +
        `all deliveries in the window ${record.allDeliveries}; simulated in ${record.wallMs} ms`,
    );
  }
  if (summary.framesPerFailover !== null) {
    lines.push(`frames per failover: ${summary.framesPerFailover.toFixed(1)} (election + newLeader frames delivered by the relay)`);
  }
  lines.push(`virtual time to agreement: ${summary.timeToAgreementMs === null ? 'never' : `${summary.timeToAgreementMs} ms`}`);
  lines.push(
    `leader: ${summary.finalLeader === null ? 'none agreed' : `${summary.finalLeader.id} (term ${summary.finalLeader.term})`}   ` +
      `virtual time ${(summary.virtualTimeMs / 1000).toFixed(1)} s, ${summary.steps} steps, ${summary.wallMs.toFixed(0)} ms wall ` +
      `(${(summary.elections.completed / (summary.wallMs / 1000)).toFixed(2)} completed elections per wall second, startup included)`,
  );
  if (summary.traceTail.length > 0) lines.push('last events before the violation:', ...summary.traceTail.slice(-40).map((line) => `  ${line}`));
  for (const violation of summary.violations) lines.push(`VIOLATION ${violation.property} at ${violation.at} ms: ${violation.message}`);
  if (!summary.ok) lines.push(`reproduce: ${summary.reproduce}`);
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = await run(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sim: ${error.message}\n`);
      process.exitCode = 2;
    } else throw error;
  }
}
