#!/usr/bin/env node
/**
 * `npm run fuzz -- --frames 100000`: throws random, mutated and hostile frames at a live ring (a
 * relay, 3-5 nodes and the inspector, as processes), then hostile HTTP requests and upgrades at
 * every endpoint of the relay and the inspector, and checks it survives. The first line is
 * always `SEED=<seed>`; a failing run ends with the command that replays it, and exits 1.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, parseOptions, renderHelp, type OptionSpecs } from '../runtime/options.js';
import { renderReport } from './report.js';
import { DEFAULT_TIMING, replayCommand, runFuzz } from './run.js';

export const FUZZ_OPTIONS = {
  seed: { flag: 'seed', env: 'FUZZ_SEED', kind: 'integer', min: 0, max: 2 ** 31 - 1, help: 'seed of the run (default: drawn from the clock, and printed)' },
  frames: { flag: 'frames', kind: 'integer', default: 20_000, min: 1, max: 100_000_000, help: 'messages to send in all, to the relay and the inspector' },
  requests: { flag: 'requests', kind: 'integer', default: 3000, min: 0, max: 10_000_000, help: "hostile HTTP requests (paths, queries, headers, upgrades) at the relay's and the inspector's endpoints" },
  nodes: { flag: 'nodes', kind: 'integer', default: 4, min: 3, max: 5, help: 'node processes in the ring' },
  connections: { flag: 'connections', kind: 'integer', default: 8, min: 1, max: 500, help: 'fuzz members on the relay at a time (each one that leaves or is thrown out is replaced)' },
  streams: { flag: 'streams', kind: 'integer', default: 2, min: 0, max: 500, help: 'fuzz streams on the inspector at a time' },
  rate: { flag: 'rate', kind: 'integer', default: 600, min: 1, max: 1_000_000, help: "frames per second of a paced fuzz member (flooders ignore the relay's limit)" },
  inspectRate: { flag: 'inspect-rate', kind: 'integer', default: 400, min: 1, max: 1_000_000, help: 'messages per second of a fuzz inspection stream' },
  checkIntervalMs: { flag: 'check-interval-ms', kind: 'integer', default: DEFAULT_TIMING.checkIntervalMs, min: 10, max: 600_000, help: 'CHECK_INTERVAL_MS of the nodes' },
  leaderTimeoutMs: { flag: 'leader-timeout-ms', kind: 'integer', default: DEFAULT_TIMING.leaderTimeoutMs, min: 50, max: 600_000, help: 'LEADER_TIMEOUT_MS of the relay and nodes' },
  electionTimeoutMs: { flag: 'election-timeout-ms', kind: 'integer', default: DEFAULT_TIMING.electionTimeoutMs, min: 10, max: 600_000, help: 'ELECTION_TIMEOUT_MS of the nodes' },
  memoryBound: { flag: 'memory-bound-mb', kind: 'integer', default: 50, min: 1, max: 100_000, help: 'MB the relay and the inspector may each end above their RSS peak in the first half of the run' },
  json: { flag: 'json', kind: 'boolean', default: false, help: 'print the report as JSON (progress goes to stderr)' },
} satisfies OptionSpecs;

/** The relay may log at most this share of its rejections, plus one line per connection. */
const REJECTION_LOG_SHARE = 0.05;

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(FUZZ_OPTIONS, argv, env);
  if (help) {
    process.stdout.write(renderHelp('npm run fuzz -- [options]', 'Fuzz a live ring: bad members, bad inspection streams and hostile HTTP requests against a relay, nodes and the inspector.', FUZZ_OPTIONS));
    return 0;
  }
  const seed = options.seed ?? Date.now() % 2 ** 31;
  process.stdout.write(`SEED=${seed}\n`);
  const progress = options.json ? process.stderr : process.stdout;
  const settings = {
    seed,
    frames: options.frames,
    requests: options.requests,
    nodes: options.nodes,
    connections: options.connections,
    streams: options.streams,
    ratePerSecond: options.rate,
    inspectRatePerSecond: options.inspectRate,
    timing: { checkIntervalMs: options.checkIntervalMs, leaderTimeoutMs: options.leaderTimeoutMs, electionTimeoutMs: options.electionTimeoutMs },
    memoryBoundMB: options.memoryBound,
    rejectionLogShare: REJECTION_LOG_SHARE,
  };
  let report;
  try {
    report = await runFuzz({ ...settings, say: (line) => progress.write(`${line}\n`) });
  } catch (error) {
    // The ring could not even be started or agree once: still say how to replay it.
    process.stdout.write(`fuzz: ${(error as Error).message}\nresult: FAILED\nreplay: ${replayCommand(settings)}\n`);
    return 1;
  }
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return report.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = await run(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`fuzz: ${error.message}\n`);
      process.exitCode = 2;
    } else throw error;
  }
}
