/**
 * `npm run bench`: every benchmark of issue 6, each figure next to a baseline measured in the
 * same run, printed as one Markdown table on stdout and written as JSON (bench/results.json or
 * --out). Progress goes to stderr. bench/README.md says what each row means and how to
 * reproduce it alone.
 *
 *   node dist/bench/run.js [--only raw,election,failover,freeze,throughput,memory,sim]
 *                          [--quick] [--out path] [--sizes 10,100,250] [--process-sizes 10,100]
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../cli/supervisor.js';
import { runSimulation } from '../sim/index.js';
import { rssMB, startRelay, track, type ChildRelay } from './childServer.js';
import { searchLeaderTimeout } from './freeze.js';
import { IDLE_CLIENT_PATH } from './idleClient.js';
import { measureProcessFailover } from './processFailover.js';
import { measureRawFailover } from './rawFailover.js';
import { etcdAvailable, measureRelayHa } from './relayHa.js';
import { measureRelayRestart } from './relayRestart.js';
import { measureConnectionMemory } from './relayMemory.js';
import { formatNumber, renderHeader, renderTable, withBaseline, writeJson, type Report, type Row } from './report.js';
import { runRingHost, type HostResult } from './ringHost.js';
import { sleep, summarize, type Summary } from './stats.js';
import { DEFAULT_THROUGHPUT, measureThroughput } from './throughput.js';
import { startTokenPassers } from './tokenPasser.js';
import { closeClients, connectClients, measureGrowingLaps, measureHops, measureLaps, timeLaps } from './wireClients.js';

export const BENCHMARKS = ['raw', 'election', 'failover', 'freeze', 'throughput', 'memory', 'sim'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface RunOptions {
  only: ReadonlySet<BenchmarkName>;
  quick: boolean;
  out: string;
  /** In-process ring sizes (election lap, crash failover, memory). */
  sizes: number[];
  /** Node-process ring sizes (crash failover). */
  processSizes: number[];
  /** Raw lap sizes; always includes the in-process sizes, so each has its baseline. */
  rawSizes: number[];
  simNodes: number;
}

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results.json', import.meta.url));
const USAGE = `usage: npm run bench -- [--only ${BENCHMARKS.join(',')}] [--quick] [--out bench/results.json]
                        [--sizes 10,100,1000] [--process-sizes 10,100] [--sim-nodes 1000]`;

export function parseRunArgs(argv: readonly string[]): RunOptions | 'help' {
  let only = new Set<BenchmarkName>(BENCHMARKS);
  let quick = false;
  let out = DEFAULT_OUT;
  let sizes: number[] | undefined;
  let processSizes: number[] | undefined;
  let simNodes: number | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index]!;
    const value = () => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return next;
    };
    if (flag === '--help' || flag === '-h') return 'help';
    else if (flag === '--quick') quick = true;
    else if (flag === '--out') out = value();
    else if (flag === '--only') {
      const names = value().split(',').map((name) => name.trim());
      for (const name of names) {
        if (!(BENCHMARKS as readonly string[]).includes(name)) throw new Error(`unknown benchmark "${name}"; choose from ${BENCHMARKS.join(', ')}`);
      }
      only = new Set(names as BenchmarkName[]);
    } else if (flag === '--sizes') sizes = sizeList(flag, value());
    else if (flag === '--process-sizes') processSizes = sizeList(flag, value());
    else if (flag === '--sim-nodes') simNodes = sizeList(flag, value())[0];
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  sizes ??= quick ? [10, 50] : [10, 100, 1000];
  processSizes ??= quick ? [10] : [10, 100];
  const rawSizes = [...new Set([...(quick ? [10, 100] : [10, 100, 1000]), ...sizes, ...processSizes])].sort((a, b) => a - b);
  return { only, quick, out, sizes, processSizes, rawSizes, simNodes: simNodes ?? (quick ? 100 : 200) };
}

function sizeList(flag: string, text: string): number[] {
  const sizes = text.split(',').map(Number);
  if (sizes.some((size) => !Number.isInteger(size) || size < 2)) throw new Error(`${flag} takes integers of at least 2, e.g. 10,100; got "${text}"`);
  return sizes;
}

/** The benchmark run: each step adds rows (or a `skipped` entry) to the report. */
class Runner {
  readonly rows: Row[] = [];
  readonly skipped: Report['skipped'] = [];
  private readonly started = performance.now();
  private readonly rawLaps = new Map<number, Summary>();
  private readonly rawProcessLaps = new Map<number, Summary>();
  private processCrash10: Summary | undefined;

  constructor(readonly options: RunOptions) {}

  progress(line: string): void {
    const seconds = Math.round((performance.now() - this.started) / 1000);
    process.stderr.write(`[${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}] ${line}\n`);
  }

  get trials(): number {
    return this.options.quick ? 3 : 7;
  }

  /** Runs one step; a failure is reported as skipped so the rest of the run still happens. */
  async step(name: string, body: () => Promise<void>): Promise<void> {
    this.progress(`running: ${name}`);
    try {
      await body();
    } catch (error) {
      const message = (error as Error).message;
      const reason = message.split('\n')[0]!;
      this.progress(`  ${name} failed: ${message}`);
      this.skipped.push({ name, reason });
    }
  }

  /** 1. The raw limit: one hop and token laps through the plain `ws` relay (and the same through the real relay). */
  async raw(): Promise<void> {
    const raw = await startRelay('raw');
    try {
      await measureHops(raw.url, 50); // warm-up: the first frames pay for JIT and socket set-up
      const rawHop = summarize(await measureHops(raw.url, this.options.quick ? 100 : 300));
      this.rows.push({ key: 'raw.hop', label: 'One hop A → relay → B, raw ws relay', unit: 'ms', summary: rawHop });
      for (const size of this.options.rawSizes) {
        const clients = await connectClients(raw.url, size);
        try {
          await measureLaps(clients, 3);
          const lap = summarize(await measureLaps(clients, this.trials));
          this.rawLaps.set(size, lap);
          this.rows.push({ key: `raw.lap.${size}`, label: `Token lap, raw relay, N=${size}`, unit: 'ms', summary: lap });
          this.progress(`  raw lap N=${size}: ${lap.median.toFixed(2)} ms`);
          await measureGrowingLaps(clients, 2);
          const growing = summarize(await measureGrowingLaps(clients, this.trials));
          this.rows.push(
            withBaseline({ key: `raw.growingLap.${size}`, label: `Growing lap (each client appends {id, rank}), raw relay, N=${size}`, unit: 'ms', summary: growing }, { label: `raw token lap N=${size}`, summary: lap }),
          );
          this.progress(`  raw growing lap N=${size}: ${growing.median.toFixed(2)} ms`);
        } finally {
          closeClients(clients);
        }
      }
      // Node processes pay a process wake-up per hop; their baseline is a raw lap among processes too.
      for (const size of this.options.processSizes.filter((n) => n <= 20)) {
        const [origin] = await connectClients(raw.url, 1);
        const passers = await startTokenPassers(raw.url, size - 1);
        try {
          await timeLaps(origin!, size, 3);
          const lap = summarize(await timeLaps(origin!, size, this.trials));
          this.rawProcessLaps.set(size, lap);
          this.rows.push({ key: `raw.lap.processes.${size}`, label: `Token lap, raw relay, N=${size} (${size - 1} client processes + 1)`, unit: 'ms', summary: lap });
          this.progress(`  raw lap N=${size} processes: ${lap.median.toFixed(2)} ms`);
        } finally {
          passers.stop();
          origin!.close();
        }
      }
      const real = await startRelay('real');
      try {
        await measureHops(real.url, 50);
        const realHop = summarize(await measureHops(real.url, this.options.quick ? 100 : 300));
        this.rows.push(
          withBaseline(
            { key: 'relay.hop', label: 'One hop A → relay → B, real relay', unit: 'ms', summary: realHop },
            { label: 'raw hop', summary: rawHop },
          ),
        );
      } finally {
        await real.stop();
      }
    } finally {
      await raw.stop();
    }
  }

  private rawLap(size: number) {
    const summary = this.rawLaps.get(size);
    return summary ? { label: `raw lap N=${size}`, summary } : undefined;
  }

  /** 2, 3 (in-process) and 6 (in-process memory): one ring host per size. */
  async inProcess(): Promise<void> {
    const wantElection = this.options.only.has('election');
    const wantCrash = this.options.only.has('failover');
    const wantMemory = this.options.only.has('memory');
    for (const size of this.options.sizes) {
      await this.step(`in-process ring N=${size}`, async () => {
        // Every node and crashable connects from 127.0.0.1: room for all of them (the default is 1,000 per address).
        const relay = await startRelay('real', { args: ['--max-connections-per-address', String(size + 100)] });
        const raw = wantElection ? await startRelay('raw') : null;
        try {
          await sleep(200);
          const emptyRelayMB = rssMB(relay.pid);
          const result = await runRingHost(
            {
              relayUrl: relay.url,
              relayPid: relay.pid,
              ...(raw ? { rawRelayUrl: raw.url } : {}),
              nodes: size,
              elections: wantElection ? this.trials : 0,
              crashes: wantCrash ? (this.options.quick ? 3 : 5) : 0,
            },
            (line) => this.progress(`  ${line}`),
            // A ring of 1,000 takes about 1.5 minutes to assemble here, then its trials.
            300_000,
          );
          this.progress(`  N=${size}: ring assembled in ${(result.joinMs / 1000).toFixed(1)} s`);
          this.inProcessRows(size, result, emptyRelayMB, { wantElection, wantCrash, wantMemory });
        } finally {
          await relay.stop();
          await raw?.stop();
        }
      });
      if (wantMemory) await this.step(`relay memory per connection N=${size}`, () => this.relayConnectionMemory(size));
    }
    if (!this.options.sizes.includes(1000)) {
      this.skipped.push({
        name: 'in-process ring N=1000 (election lap, crash failover, memory)',
        reason: 'not in this run (--sizes without 1000)',
      });
    }
  }

  /** RSS per connection of the real relay and of the raw one, each with `size` bare clients, one after the other. */
  private async relayConnectionMemory(size: number): Promise<void> {
    const perConnection = async (kind: 'raw' | 'real') => {
      const relay = await startRelay(kind);
      try {
        return await measureConnectionMemory(relay, size);
      } finally {
        await relay.stop();
      }
    };
    const raw = await perConnection('raw');
    const real = await perConnection('real');
    const one = (value: number): Summary => ({ median: value, min: value, max: value, trials: 1 });
    this.progress(`  relay RSS per connection N=${size}: real ${real.perConnectionKB.toFixed(1)} KB, raw ${raw.perConnectionKB.toFixed(1)} KB`);
    const row = withBaseline(
      {
        key: `memory.relay.perConnection.${size}`,
        label: `Relay RSS per connection, ${size} bare clients`,
        unit: 'KB',
        summary: one(real.perConnectionKB),
        note: `real relay ${formatNumber(real.emptyMB, 'MB')} → ${formatNumber(real.fullMB, 'MB')} MB, raw ${formatNumber(raw.emptyMB, 'MB')} → ${formatNumber(raw.fullMB, 'MB')} MB`,
      },
      { label: 'raw relay per connection', summary: one(raw.perConnectionKB) },
    );
    if (size === 1000) row.goal = { text: '≤ 1.5x raw', met: (row.ratio ?? Infinity) <= 1.5 };
    this.rows.push(row);
  }

  private inProcessRows(
    size: number,
    result: HostResult,
    emptyRelayMB: number,
    want: { wantElection: boolean; wantCrash: boolean; wantMemory: boolean },
  ): void {
    const base = this.rawLap(size);
    if (want.wantElection && result.electionMs.length > 0) {
      // The baselines are the raw laps taken right before each election lap, in the same process:
      // on a shared machine, load comes and goes, and paired trials see the same load.
      const token = result.rawLapMs.length > 0 ? summarize(result.rawLapMs) : base?.summary;
      const growing = result.rawGrowingLapMs.length > 0 ? { label: `raw growing lap N=${size}, interleaved`, summary: summarize(result.rawGrowingLapMs) } : undefined;
      const row = withBaseline(
        { key: `election.lap.${size}`, label: `Election lap, ${size} in-process nodes, real relay`, unit: 'ms', summary: summarize(result.electionMs) },
        growing ?? (token ? { label: `raw lap N=${size}`, summary: token } : undefined),
      );
      const toToken = token ? row.summary.median / token.median : undefined;
      const notes: string[] = [];
      if (toToken !== undefined) notes.push(`${toToken.toFixed(2)}x the interleaved raw token lap, ${formatNumber(token!.median, 'ms')} ms`);
      if (result.rawAnnouncedLapMs.length > 0) {
        // The floor with the announcement the protocol requires (growing lap, then newLeader to all).
        const announced = summarize(result.rawAnnouncedLapMs);
        notes.push(`${(row.summary.median / announced.median).toFixed(2)}x the interleaved raw announced lap, ${formatNumber(announced.median, 'ms')} ms`);
        if (growing) notes.push(`the announcement alone makes the raw floor ${(announced.median / growing.summary.median).toFixed(2)}x the growing lap`);
      }
      const coldLap = result.warmUpElectionMs[0];
      if (coldLap !== undefined) notes.push(`after ${result.warmUpElectionMs.length} untimed warm-up laps; the first, cold: ${formatNumber(coldLap, 'ms')} ms`);
      if (notes.length > 0) row.note = notes.join('; ');
      if (growing && row.ratio !== undefined) {
        const lapGoal = size <= 100 && toToken !== undefined;
        row.goal = {
          text: lapGoal ? '≤ 1.5x growing lap, ≤ 2.5x token lap' : '≤ 1.5x growing lap',
          met: row.ratio <= 1.5 && (!lapGoal || toToken! <= 2.5),
        };
      }
      this.rows.push(row);
    }
    if (want.wantCrash && result.crashFailure !== undefined) {
      this.skipped.push({ name: `crash failover N=${size}, from the failed trial on (${result.crashes.length} trials measured)`, reason: result.crashFailure });
    }
    if (want.wantCrash && result.crashes.length > 0) {
      this.rows.push(
        withBaseline(
          {
            key: `failover.crash.inproc.${size}`,
            label: `Crash failover, ${size} in-process nodes (socket closed)`,
            unit: 'ms',
            summary: summarize(result.crashes.map((trial) => trial.ms)),
          },
          base,
        ),
      );
      const frames = result.crashes.map((trial) => Object.values(trial.frames).reduce((sum, value) => sum + value, 0));
      const summary = summarize(frames);
      const byType = result.crashes[0]!.frames;
      this.rows.push({
        key: `failover.frames.${size}`,
        label: `Frames forwarded per crash failover, N=${size}`,
        unit: 'frames',
        summary,
        goal: { text: `≤ 2N+10 = ${2 * size + 10}`, met: summary.max <= 2 * size + 10 },
        note: Object.entries(byType)
          .filter(([, count]) => count > 0)
          .map(([type, count]) => `${type} ${count}`)
          .join(', '),
      });
    }
    if (want.wantMemory) {
      const host = { median: result.hostRssMB, min: result.hostRssMB, max: result.hostRssMB, trials: 1 };
      const empty = { median: result.emptyRssMB, min: result.emptyRssMB, max: result.emptyRssMB, trials: 1 };
      const row = withBaseline(
        { key: `memory.inproc.${size}`, label: `RSS of one process holding ${size} in-process nodes`, unit: 'MB', summary: host },
        { label: 'same process before joining', summary: empty },
      );
      if (size === 1000) row.goal = { text: '< 250 MB', met: result.hostRssMB < 250 };
      this.rows.push(row);
      const relay = { median: result.relayRssMB, min: result.relayRssMB, max: result.relayRssMB, trials: 1 };
      this.rows.push(
        withBaseline(
          { key: `memory.relay.${size}`, label: `RSS of the relay with ${size} members`, unit: 'MB', summary: relay },
          { label: 'relay with no members', summary: { median: emptyRelayMB, min: emptyRelayMB, max: emptyRelayMB, trials: 1 } },
        ),
      );
      const largest = Math.max(...this.options.sizes);
      if (size === largest && size < 1000) {
        const perNodeMB = (result.hostRssMB - result.emptyRssMB) / size;
        const estimate = result.emptyRssMB + 1000 * perNodeMB;
        this.rows.push({
          key: 'memory.inproc.1000.estimate',
          label: `RSS of 1,000 in-process nodes, extrapolated from N=${size}`,
          unit: 'MB',
          summary: { median: estimate, min: estimate, max: estimate, trials: 1 },
          goal: { text: '< 250 MB', met: estimate < 250 },
          note: `${(perNodeMB * 1024).toFixed(0)} KB per node`,
        });
      }
    }
  }

  /** 3. Crash failover of node processes (SIGKILL), through bench/processFailover.ts. */
  async processCrash(): Promise<void> {
    for (const size of this.options.processSizes) {
      const floor = size <= 20 ? await this.rawFailover(size) : undefined;
      await this.step(`crash failover, ${size} node processes`, async () => {
        const [result] = await measureProcessFailover({
          sizes: [size],
          trials: this.options.quick ? 3 : size > 50 ? 5 : 9,
          scenarios: ['kill'],
          progress: (line) => this.progress(`  ${line.trim()}`),
        });
        const summary = summarize(result!.samples);
        if (size === 10) this.processCrash10 = summary;
        const processLap = this.rawProcessLaps.get(size);
        const row = withBaseline(
          { key: `failover.crash.process.${size}`, label: `Crash failover, ${size} node processes (SIGKILL)`, unit: 'ms', summary },
          processLap ? { label: `raw lap of ${size} client processes`, summary: processLap } : this.rawLap(size),
        );
        // Issue 13's goal: within 4x a lap of bare client processes, measured in the same run.
        if (size === 10 && row.ratio !== undefined) row.goal = { text: '≤ 4x the raw process lap', met: row.ratio <= 4 };
        if (floor) row.note = `${(summary.median / floor.median).toFixed(2)}x the raw failover floor (raw.failover.processes.${size})`;
        this.rows.push(row);
      });
    }
  }

  /**
   * 3a. The floor of that failover: the same messages among bare client processes and the raw
   * relay (bench/rawFailover.ts), so the machine's own share of the figure is measured, not guessed.
   */
  private async rawFailover(size: number): Promise<Summary | undefined> {
    let floor: Summary | undefined;
    await this.step(`crash failover floor, raw relay + ${size} client processes`, async () => {
      const samples = await measureRawFailover({
        size,
        trials: this.options.quick ? 3 : 9,
        progress: (line) => this.progress(`  ${line}`),
      });
      floor = summarize(samples);
      const processLap = this.rawProcessLaps.get(size);
      this.rows.push(
        withBaseline(
          {
            key: `raw.failover.processes.${size}`,
            label: `Crash failover floor, raw relay + ${size} bare client processes (SIGKILL, leave notice, growing lap, announcement)`,
            unit: 'ms',
            summary: floor,
          },
          processLap ? { label: `raw lap of ${size} client processes`, summary: processLap } : undefined,
        ),
      );
    });
    return floor;
  }

  /** 4. Freeze failover: with the default timeout, then with the smallest safe one under load. */
  /** 3b. The relay dies and restarts with its state file; the ring comes back together (issue 15). */
  async relayRestart(): Promise<void> {
    await this.step('relay restart with --state-file, 10 in-process nodes', async () => {
      const result = await measureRelayRestart({ nodes: 10, trials: this.options.quick ? 2 : 5, progress: (line) => this.progress(`  ${line}`) });
      this.rows.push(
        withBaseline(
          {
            key: 'failover.relay-restart.10',
            label: 'Relay SIGKILL and restart with --state-file, 10 in-process nodes: new relay spawned → all back and agreeing',
            unit: 'ms',
            summary: summarize(result.agreedMs),
          },
          { label: "the new relay's own start-up", summary: summarize(result.startupMs) },
        ),
      );
    });
    if (!etcdAvailable()) {
      this.progress('  failover.relay-ha.10 skipped: no etcd on PATH (apt-get install etcd-server)');
      return;
    }
    await this.step('relay HA: 3 relays on etcd, the serving one SIGKILLed, 10 in-process nodes', async () => {
      const trials = this.options.quick ? 1 : 3;
      const result = await measureRelayHa({ nodes: 10, trials, progress: (line) => this.progress(`  ${line}`) });
      const restart = this.rows.find((row) => row.key === 'failover.relay-restart.10');
      this.rows.push({
        ...withBaseline(
          {
            key: 'failover.relay-ha.10',
            label: 'Relay SIGKILL with 2 standbys on etcd (--store, TTL 8 s), 10 in-process nodes: kill → all agreeing on a leader of a higher term',
            unit: 'ms',
            summary: summarize(result.agreedMs),
          },
          restart === undefined ? undefined : { label: 'failover.relay-restart.10 (one relay restarted on its state file)', summary: restart.summary },
        ),
        note: `a standby served ${summarize(result.takeoverMs).median.toFixed(0)} ms (median) after the kill; the same node led again in ${result.kept} of ${trials} trials (in a higher term)`,
      });
    });
  }

  async freeze(): Promise<void> {
    const nodes = 10;
    const trials = this.options.quick ? 1 : 3;
    const crash = this.processCrash10 ? { label: 'crash failover N=10 processes', summary: this.processCrash10 } : undefined;
    await this.step('freeze failover, default LEADER_TIMEOUT_MS=5000', async () => {
      const [result] = await measureProcessFailover({
        sizes: [nodes],
        trials,
        scenarios: ['stop'],
        env: { ...process.env, LEADER_TIMEOUT_MS: '5000' },
        progress: (line) => this.progress(`  ${line.trim()}`),
      });
      this.rows.push(
        withBaseline(
          { key: 'failover.freeze.default', label: `Freeze failover (SIGSTOP), ${nodes} processes, LEADER_TIMEOUT_MS=5000`, unit: 'ms', summary: summarize(result!.samples) },
          crash,
        ),
      );
    });
    await this.step('smallest LEADER_TIMEOUT_MS without false elections under load', async () => {
      const candidates = this.options.quick ? [1000, 250] : [2000, 1000, 500, 250, 100, 50];
      const search = await searchLeaderTimeout({
        candidates,
        nodes,
        windowMs: this.options.quick ? 3000 : 6000,
        load: DEFAULT_THROUGHPUT,
        progress: (line) => this.progress(line),
      });
      const probes = search.probes
        .map((probe) => `${probe.leaderTimeoutMs} ms: ${probe.falseElections + probe.leaves === 0 ? 'ok' : `${probe.falseElections} false elections, ${probe.leaves} dropped`}`)
        .join('; ');
      if (search.smallestSafeMs === null) throw new Error(`every candidate caused false elections under load (${probes})`);
      const [result] = await measureProcessFailover({
        sizes: [nodes],
        trials,
        scenarios: ['stop'],
        env: { ...process.env, LEADER_TIMEOUT_MS: String(search.smallestSafeMs) },
        progress: (line) => this.progress(`  ${line.trim()}`),
      });
      this.rows.push(
        withBaseline(
          {
            key: 'failover.freeze.tuned',
            label: `Freeze failover, ${nodes} processes, LEADER_TIMEOUT_MS=${search.smallestSafeMs} (smallest without false elections under load)`,
            unit: 'ms',
            summary: summarize(result!.samples),
            note: `probed under load: ${probes}`,
          },
          crash,
        ),
      );
    });
  }

  /** 5. Throughput of the real relay against the raw one, same load. */
  async throughput(): Promise<void> {
    const options = this.options.quick ? { ...DEFAULT_THROUGHPUT, warmupMs: 500, measureMs: 1500 } : DEFAULT_THROUGHPUT;
    const trials = this.options.quick ? 2 : 3;
    const measure = async (kind: 'raw' | 'real') => {
      // The per-connection rate limit guards against abuse; this load is many frames per client on purpose.
      const relay = await startRelay(kind, kind === 'real' ? { args: ['--rate-limit', '0'] } : {});
      try {
        const samples: number[] = [];
        for (let trial = 0; trial < trials; trial += 1) samples.push(await measureThroughput(relay.url, options));
        this.progress(`  ${kind} relay: ${samples.map((value) => Math.round(value)).join(', ')} frames/s`);
        return summarize(samples);
      } finally {
        await relay.stop();
      }
    };
    const raw = await measure('raw');
    const real = await measure('real');
    const row = withBaseline(
      {
        key: 'throughput.real',
        label: `Relay throughput, ${options.clients} clients, ${options.inFlight} frames in flight`,
        unit: 'frames/s',
        summary: real,
        note: 'real relay with --rate-limit 0',
      },
      { label: 'raw relay', summary: raw },
    );
    row.goal = { text: '≥ 0.8x raw', met: (row.ratio ?? 0) >= 0.8 };
    this.rows.push(row);
  }

  /**
   * 6. RSS of one idle node process, next to an idle bare Node process that has loaded `ws` and
   * holds a socket to the same relay (bench/idleClient.ts): the transport any member pays, so the
   * difference is what the node's logic, logging and statechart cost. A bare `node` with nothing
   * loaded is in the note.
   */
  async memory(): Promise<void> {
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    track(bare);
    const supervisor = new Supervisor({ relayPort: 0 });
    let client: ReturnType<typeof spawn> | null = null;
    try {
      const relay = await supervisor.startRelay();
      client = spawn(process.execPath, [IDLE_CLIENT_PATH, relay.url.replace('0.0.0.0', '127.0.0.1')], { stdio: ['ignore', 'ignore', 'inherit'] });
      track(client);
      const [node] = await supervisor.startNodes(1);
      // Three readings a second apart, after the node has settled; an idle process barely moves.
      await sleep(3000);
      const readings = { node: [] as number[], client: [] as number[], bare: [] as number[] };
      for (let reading = 0; reading < 3; reading += 1) {
        if (reading > 0) await sleep(1000);
        readings.node.push(rssMB(node!.pid));
        readings.client.push(rssMB(client.pid!));
        readings.bare.push(rssMB(bare.pid!));
      }
      if (readings.client.some((mb) => mb === 0)) throw new Error('the idle ws client exited');
      const row = withBaseline(
        { key: 'memory.node-process', label: 'RSS of one idle node process', unit: 'MB', summary: summarize(readings.node) },
        { label: 'idle bare `node` with `ws` loaded and a socket open to the relay', summary: summarize(readings.client) },
      );
      const overMB = row.summary.median - summarize(readings.client).median;
      row.goal = { text: 'within 15 MB of the baseline', met: overMB <= 15 };
      row.note = `${formatNumber(overMB, 'MB')} MB over the baseline; a bare \`node\` with nothing loaded: ${formatNumber(summarize(readings.bare).median, 'MB')} MB`;
      this.rows.push(row);
    } finally {
      bare.kill('SIGKILL');
      client?.kill('SIGKILL');
      await supervisor.stop();
    }
  }

  /** 7. Simulator speed: simulated crash failovers (one election each) per wall-clock second. */
  async sim(): Promise<void> {
    const nodes = this.options.simNodes;
    const failovers = this.options.quick ? 2 : 4;
    // The start-up (every node joining, O(N²) ring frames) dominates a run at large N, so the
    // elections are timed on their own: from the first injected crash to the last completed
    // failover, read off the simulator's trace as it happens.
    const started = performance.now();
    let firstCrashAt: number | null = null;
    let lastFailoverAt: number | null = null;
    const summary = runSimulation({
      seed: 1,
      nodes,
      faults: ['crash-leader'],
      faultCount: failovers,
      trace: (line) => {
        if (firstCrashAt === null && /\bcrash\b/.test(line)) firstCrashAt = performance.now();
        if (/failover done/.test(line)) lastFailoverAt = performance.now();
      },
    });
    const wallMs = performance.now() - started;
    if (!summary.ok) throw new Error(`simulation seed 1 N=${nodes} reported violations: ${summary.violations.map((v) => v.property).join(', ')}`);
    const elections = summary.failovers.length;
    const electionsMs = firstCrashAt !== null && lastFailoverAt !== null ? lastFailoverAt - firstCrashAt : wallMs;
    const perSecond = (elections * 1000) / electionsMs;
    const overall = (summary.elections.completed * 1000) / wallMs;
    const startupMs = firstCrashAt === null ? wallMs : firstCrashAt - started;
    this.progress(`  sim N=${nodes}: start-up ${(startupMs / 1000).toFixed(1)} s, ${elections} failovers in ${(electionsMs / 1000).toFixed(1)} s`);
    this.rows.push(
      withBaseline(
        {
          key: `sim.elections-per-second.${nodes}`,
          label: `Simulated elections per second, N=${nodes} (crash failovers, start-up excluded)`,
          unit: 'elections/s',
          summary: { median: perSecond, min: perSecond, max: perSecond, trials: 1 },
          note: `start-up of ${nodes} simulated nodes: ${(startupMs / 1000).toFixed(1)} s`,
        },
        { label: 'whole run incl. start-up', summary: { median: overall, min: overall, max: overall, trials: 1 } },
      ),
    );
  }

  async run(): Promise<Report> {
    const startedAt = new Date().toISOString();
    const { only } = this.options;
    if (only.has('raw') || only.has('election') || only.has('failover')) await this.step('raw limit (hop, laps)', () => this.raw());
    if (only.has('election') || only.has('failover') || only.has('memory')) await this.inProcess();
    if (only.has('failover')) await this.processCrash();
    if (only.has('failover')) await this.relayRestart();
    if (only.has('freeze')) await this.freeze();
    if (only.has('throughput')) await this.step('relay throughput', () => this.throughput());
    if (only.has('memory')) await this.step('memory of an idle node process', () => this.memory());
    if (only.has('sim')) await this.step(`simulator speed N=${this.options.simNodes}`, () => this.sim());
    const cpu = cpus();
    return {
      startedAt,
      durationSeconds: (performance.now() - this.started) / 1000,
      machine: {
        cpus: cpu.length,
        cpuModel: cpu[0]?.model.trim() ?? 'unknown',
        node: process.versions.node,
        platform: `${process.platform}-${process.arch}`,
        totalMemoryMB: Math.round(totalmem() / 1024 / 1024),
      },
      quick: this.options.quick,
      rows: this.rows,
      skipped: this.skipped,
    };
  }
}

export async function main(argv: string[]): Promise<number> {
  let options: RunOptions | 'help';
  try {
    options = parseRunArgs(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const report = await new Runner(options).run();
  writeJson(options.out, report);
  process.stdout.write(`${renderHeader(report)}\n\n${renderTable(report)}\n\nJSON: ${options.out}\n`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Children die with the run, also on Ctrl-C (childServer's exit hook does the killing).
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
