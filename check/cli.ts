#!/usr/bin/env node
/**
 * `npm run check -- --nodes 3`: the exhaustive check of the real statecharts (check/search.ts),
 * with progress on long runs, the figures at the end, and on a violation a trace file that
 * `npm run check -- --replay <file>` replays step by step. Exit code 0: every property holds in
 * every state reached; 1: a violation (trace written); 2: bad options.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, parseOptions, renderHelp, type OptionSpecs } from '../runtime/options.js';
import { DEFAULT_TIMING, defaultConfig, FAULT_HELP, FAULT_KINDS, type CheckConfig, type FaultKind } from './config.js';
import { createModel } from './model.js';
import { plantNamed, PLANTS } from './plants.js';
import { search, type SearchStats } from './search.js';
import { makeTrace, readTrace, replay, writeTrace } from './trace.js';

export const CHECK_OPTIONS = {
  nodes: { flag: 'nodes', kind: 'integer', default: 3, min: 1, max: 6, help: 'processes at the start' },
  faults: { flag: 'faults', kind: 'integer', default: 1, min: 0, max: 10, help: 'fault budget: how many faults one run may inject' },
  faultKinds: { flag: 'fault-kinds', kind: 'string', default: 'all', help: `all, or a comma-separated list of: ${FAULT_KINDS.join(', ')}` },
  ranks: { flag: 'ranks', kind: 'string', help: 'ranks of the processes in start order, joiners last, e.g. "3,1,2" (default 1,2,3,...)' },
  tick: { flag: 'tick', kind: 'integer', default: 100, min: 1, max: 60_000, help: 'ms per tick: every timing below must be a whole number of ticks' },
  checkInterval: { flag: 'check-interval', kind: 'integer', min: 1, max: 3_600_000, help: `CHECK_INTERVAL_MS (default ${DEFAULT_TIMING.checkIntervalMs})` },
  leaderTimeout: {
    flag: 'leader-timeout',
    kind: 'integer',
    min: 1,
    max: 3_600_000,
    help: `LEADER_TIMEOUT_MS; the relay's heartbeat is half of it (default ${DEFAULT_TIMING.leaderTimeoutMs})`,
  },
  electionTimeout: { flag: 'election-timeout', kind: 'integer', min: 1, max: 3_600_000, help: `ELECTION_TIMEOUT_MS (default ${DEFAULT_TIMING.electionTimeoutMs})` },
  electionHop: { flag: 'election-hop', kind: 'integer', min: 0, max: 3_600_000, help: `election time allowed per member (default ${DEFAULT_TIMING.electionHopMs})` },
  lease: { flag: 'lease', kind: 'integer', min: 1, max: 3_600_000, help: `the lease, heartbeatTimeoutMs (default ${DEFAULT_TIMING.heartbeatTimeoutMs}: a ping every third of it)` },
  forwardTimeout: { flag: 'forward-timeout', kind: 'integer', min: 1, max: 3_600_000, help: "the relay's forward timeout (default: its heartbeat interval)" },
  delay: { flag: 'delay', kind: 'integer', default: 0, min: 0, max: 10, help: 'a frame arrives within this many ticks (0: before time moves on); keep the election timeout above a lap, 2 x delay x members' },
  reconnect: { flag: 'reconnect', kind: 'integer', default: 1, min: 0, max: 10, help: 'a (re)connect happens within this many ticks' },
  termCap: { flag: 'term-cap', kind: 'integer', default: 5, min: 1, max: 1000, help: 'states with a higher term are counted, not explored' },
  maxStates: { flag: 'max-states', kind: 'integer', default: 0, min: 0, max: 1_000_000_000, help: 'stop after this many states (0: no limit)' },
  plant: { flag: 'plant', kind: 'string', choices: Object.keys(PLANTS), help: `check a planted bug instead of the real machines: ${Object.keys(PLANTS).join(', ')}` },
  traceOut: { flag: 'trace-out', kind: 'string', default: 'check-trace.json', help: 'where to write the trace of a violation' },
  replay: { flag: 'replay', kind: 'string', help: 'replay a trace file step by step instead of searching' },
} satisfies OptionSpecs;

type Options = ReturnType<typeof parseOptions<typeof CHECK_OPTIONS>>['options'];

export function configFromOptions(options: Options): CheckConfig {
  const faultKinds = parseFaultKinds(options.faultKinds);
  const ranks = options.ranks === undefined ? undefined : parseRanks(options.ranks);
  const timing = {
    ...(options.checkInterval === undefined ? {} : { checkIntervalMs: options.checkInterval }),
    ...(options.leaderTimeout === undefined ? {} : { leaderTimeoutMs: options.leaderTimeout }),
    ...(options.electionTimeout === undefined ? {} : { electionTimeoutMs: options.electionTimeout }),
    ...(options.electionHop === undefined ? {} : { electionHopMs: options.electionHop }),
    ...(options.lease === undefined ? {} : { heartbeatTimeoutMs: options.lease }),
  };
  let config: CheckConfig;
  try {
    const base = defaultConfig({ nodes: options.nodes, faults: options.faults, msPerTick: options.tick, timing: timing as CheckConfig['timing'] });
    config = defaultConfig({
      ...base,
      faultKinds,
      ...(ranks === undefined ? {} : { ranks }),
      ...(options.forwardTimeout === undefined ? {} : { forwardTimeoutMs: options.forwardTimeout }),
      linkDelayTicks: options.delay,
      reconnectTicks: options.reconnect,
      termCap: options.termCap,
      maxStates: options.maxStates,
      plant: options.plant ?? null,
    });
    const configure = plantNamed(config.plant)?.configure;
    if (configure !== undefined) config = defaultConfig(configure(config));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return config;
}

function parseFaultKinds(text: string): FaultKind[] {
  if (text === 'all') return [...FAULT_KINDS];
  if (text === 'none' || text === '') return [];
  const kinds = text.split(',').map((part) => part.trim());
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new ConfigError(`--fault-kinds: unknown fault "${kind}"; use all, none or a list of: ${FAULT_KINDS.join(', ')}`);
  }
  return kinds as FaultKind[];
}

function parseRanks(text: string): number[] {
  const ranks = text.split(',').map((part) => Number(part.trim()));
  if (ranks.some((rank) => !Number.isSafeInteger(rank) || rank < 0)) throw new ConfigError(`--ranks must be non-negative integers separated by commas, got "${text}"`);
  return ranks;
}

export function renderStats(stats: SearchStats): string {
  return (
    `${stats.states} distinct states, ${stats.transitions} transitions, max depth ${stats.maxDepth}, ` +
    `${stats.capped} at the term cap, ${(stats.elapsedMs / 1000).toFixed(1)} s ` +
    `(${stats.nodeStates} node and ${stats.relayStates} relay machine states, ${stats.machineTransitions} machine transitions computed)`
  );
}

function describeConfig(config: CheckConfig): string {
  const t = config.timing;
  return (
    `nodes ${config.nodes}, ranks ${config.ranks.join(',')}, faults ${config.faults} of ${config.faultKinds.join(',') || 'none'}; ` +
    `tick ${config.msPerTick} ms: check ${t.checkIntervalMs}, leader timeout ${t.leaderTimeoutMs}, election timeout ${t.electionTimeoutMs}` +
    `+${t.electionHopMs}/member, lease ${t.heartbeatTimeoutMs}, forward timeout ${config.forwardTimeoutMs}; link delay <= ${config.linkDelayTicks} ticks, ` +
    `reconnect within ${config.reconnectTicks} ticks, term cap ${config.termCap}${config.plant === null ? '' : `; PLANTED BUG: ${config.plant}`}`
  );
}

export async function run(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void = (text) => process.stdout.write(text)): Promise<number> {
  const { options, help } = parseOptions(CHECK_OPTIONS, argv, env);
  if (help) {
    const faults = FAULT_KINDS.map((kind) => `  ${kind.padEnd(8)} ${FAULT_HELP[kind]}`).join('\n');
    const plants = Object.entries(PLANTS).map(([name, plant]) => `  ${name.padEnd(20)} ${plant.help}`).join('\n');
    out(
      `${renderHelp('npm run check -- [options]', 'Exhaustive check of the real node and relay statecharts: every interleaving of frames, timers and faults, within bounds.', CHECK_OPTIONS)}` +
        `\nFaults:\n${faults}\n\nPlanted bugs:\n${plants}\n`,
    );
    return 0;
  }
  if (options.replay !== undefined) return replayFile(options.replay, out);

  const config = configFromOptions(options);
  out(`check: ${describeConfig(config)}\n`);
  const model = createModel(config);
  const outcome = search(model, { onProgress: (stats) => out(`  ... ${renderStats(stats)}, frontier ${stats.frontier}\n`) });
  out(`${renderStats(outcome.stats)}\n`);
  if (outcome.violation === null) {
    out(outcome.truncated ? `stopped at --max-states ${config.maxStates}: no violation so far, but the search is NOT complete\n` : 'every property holds in every state reached\n');
    return 0;
  }
  const { steps, ...violation } = outcome.violation;
  writeTrace(options.traceOut, makeTrace(config, violation, steps));
  out(`VIOLATION of ${violation.property} after ${steps.length} steps: ${violation.message}\n`);
  out(`trace written to ${options.traceOut}; replay it with: npm run check -- --replay ${options.traceOut}\n`);
  return 1;
}

function replayFile(path: string, out: (text: string) => void): number {
  let trace;
  try {
    trace = readTrace(path);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  out(`replay ${path}: ${describeConfig(trace.config)}\n`);
  let outcome;
  try {
    outcome = replay(trace);
  } catch (error) {
    throw new ConfigError(`${path}: ${(error as Error).message}`);
  }
  let shown = '';
  for (const step of outcome.steps) {
    out(`${String(step.index + 1).padStart(4)}. ${step.description}\n`);
    // The world after a step, when it changed what the one-line summaries show.
    const after = step.after.join('\n');
    if (after !== shown) out(`${after}\n`);
    shown = after;
  }
  if (outcome.violation === null) {
    out(`replayed ${outcome.steps.length} steps: no property violated${trace.violation === null ? '' : ` (the trace recorded a violation of ${trace.violation.property}: the machines changed since)`}\n`);
    return trace.violation === null ? 0 : 1;
  }
  out(`VIOLATION of ${outcome.violation.property} at step ${outcome.steps.length}: ${outcome.violation.message}\n`);
  return 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = await run(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`check: ${error.message}\n`);
      process.exitCode = 2;
    } else throw error;
  }
}
