/**
 * A child process holding one ring of N in-process nodes (`joinRing`), so that the ring's
 * memory is measured alone and its event loop is not shared with the benchmark's bookkeeping.
 * It runs election laps, then crash failovers, then reports its own RSS and the relay's.
 *
 *   node dist/bench/ringHost.js '{"relayUrl":"ws://…","relayPid":123,"nodes":100,"elections":5,"crashes":5}'
 *
 * Each stdout line is JSON: `{"progress": "…"}` while it works, then `{"result": HostResult}`.
 * It exits 0 after the result, 1 on failure (with `{"error": "…"}`).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { forwardedFrames, framesBetween, rssMB, track } from './childServer.js';
import { InProcessRing } from './inProcessRing.js';
import { sleep } from './stats.js';
import { closeClients, connectClients, measureAnnouncedLaps, measureGrowingLaps, measureLaps } from './wireClients.js';

export interface HostConfig {
  relayUrl: string;
  relayPid: number;
  nodes: number;
  elections: number;
  crashes: number;
  /**
   * Joins in flight at once (default 20), as processes started together join: the relay tells the
   * members of the joins it admitted in one turn in one write (see bench/README.md, Rings of 1,000).
   */
  parallelJoins?: number;
  /**
   * A raw relay: N bare clients join it and a token lap is run right before each election lap,
   * in this same process, so that the baseline sees the same machine load as the figure.
   */
  rawRelayUrl?: string;
}

export interface CrashTrial {
  ms: number;
  /** Frames the relay forwarded between the crash and agreement, by type (GET /metrics deltas). */
  frames: Record<string, number>;
}

export interface HostResult {
  nodes: number;
  joinMs: number;
  electionMs: number[];
  /**
   * The untimed warm-up laps run before the trials (election laps, and as many raw laps of each
   * kind): the first one is the cold lap a long-idle ring would see.
   */
  warmUpElectionMs: number[];
  /** Raw token laps of the same N, one before each election lap (empty without rawRelayUrl). */
  rawLapMs: number[];
  /** Raw growing laps (bare clients appending to `eligible`) of the same N, one before each election lap. */
  rawGrowingLapMs: number[];
  /** Raw growing laps whose winner is then announced to all (`measureAnnouncedLaps`), one before each election lap. */
  rawAnnouncedLapMs: number[];
  crashes: CrashTrial[];
  /** Why the crash trials stopped early (the ones before it are in `crashes`). */
  crashFailure?: string;
  /** RSS of this process with the ring joined and agreed, after a GC. */
  hostRssMB: number;
  /** RSS of this process before any node joined (the Node runtime and modules). */
  emptyRssMB: number;
  relayRssMB: number;
}

const TOP_RANK = 1_000_000;

/** Timing of in-process rings over 200 nodes (see hostRing). */
export const BIG_RING_TIMING = { leaderTimeoutMs: 20_000, checkIntervalMs: 4000 } as const;

function say(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function hostRing(config: HostConfig): Promise<HostResult> {
  collectGarbage();
  const emptyRssMB = process.memoryUsage().rss / 1024 / 1024;
  const relayHttp = config.relayUrl.replace(/^ws/, 'http');
  const metrics = () => forwardedFrames({ httpUrl: relayHttp });
  // One process holding hundreds of nodes lags by seconds at times (a join is a machine step in
  // every node, a full GC of its heap a pause for all of them). At the default 5 s leader timeout
  // (a 2.5 s lease) such a lag costs nodes their links, their rejoins cost every node a step, and
  // a ring of 1,000 never settles (at 700 members: 11,106 joins, 4,483 heartbeat drops). A
  // deployment runs one node per process; the big in-process rings get a 20 s leader timeout,
  // and a check interval scaled with it (the defaults' one check per fifth of the timeout): at
  // 1 s, 1,000 followers asking one leader every second were a third of the process's CPU while
  // the ring assembled, and nothing measured here depends on checks.
  const ring = new InProcessRing(config.relayUrl, config.nodes > 200 ? BIG_RING_TIMING : {});
  try {
    const joinStart = performance.now();
    await ring.grow(config.nodes, {
      parallel: config.parallelJoins ?? 20,
      progress: (joined) => {
        if (joined % 100 === 0 || joined === config.nodes) say({ progress: `${joined}/${config.nodes} nodes joined` });
      },
    });
    await ring.waitForAgreement(120_000);
    const joinMs = performance.now() - joinStart;
    // Let the join's backlog of ring frames drain before anything is timed.
    await sleep(Math.min(5000, 200 + config.nodes * 2));

    collectGarbage();
    const hostRssMB = process.memoryUsage().rss / 1024 / 1024;
    const relayRssMB = rssMB(config.relayPid);

    const electionMs: number[] = [];
    const rawLapMs: number[] = [];
    const rawGrowingLapMs: number[] = [];
    const rawAnnouncedLapMs: number[] = [];
    const rawClients = config.rawRelayUrl && config.elections > 0 ? await connectClients(config.rawRelayUrl, config.nodes) : [];
    // Both sides warm up alike before anything is timed: the same number of untimed laps, so the
    // JIT has seen the election path (the node machine, the relay machine, the frame checks) as
    // often as the bare clients' few lines. Cold, the first laps of a fresh process measure V8
    // compiling the machines, not a lap (the cold lap is kept in the row's note).
    const warmUps = config.elections > 0 ? warmUpLapsFor(config.nodes) : 0;
    if (rawClients.length > 0) {
      await measureLaps(rawClients, warmUps);
      await measureGrowingLaps(rawClients, warmUps);
      await measureAnnouncedLaps(rawClients, warmUps);
    }
    const warmUpElectionMs: number[] = [];
    for (let lap = 0; lap < warmUps; lap += 1) warmUpElectionMs.push((await ring.election(initiatorFor(ring, lap))).ms);
    // Each election lap is paired with a token lap, a growing lap and an announced lap right
    // before it, so all four see the same machine load.
    for (let trial = 0; trial < config.elections; trial += 1) {
      if (rawClients.length > 0) {
        rawLapMs.push(...(await measureLaps(rawClients, 1)));
        rawGrowingLapMs.push(...(await measureGrowingLaps(rawClients, 1)));
        rawAnnouncedLapMs.push(...(await measureAnnouncedLaps(rawClients, 1)));
      }
      const { ms } = await ring.election(initiatorFor(ring, warmUps + trial));
      electionMs.push(ms);
      say({
        progress: `election lap N=${config.nodes} trial ${trial + 1}/${config.elections}: ${ms.toFixed(1)} ms${rawClients.length > 0 ? ` (just before: raw token lap ${rawLapMs.at(-1)!.toFixed(1)} ms, raw growing lap ${rawGrowingLapMs.at(-1)!.toFixed(1)} ms)` : ''}`,
      });
    }
    closeClients(rawClients);

    const crashes: CrashTrial[] = [];
    let crashFailure: string | undefined;
    for (let trial = 0; trial < config.crashes && crashFailure === undefined; trial += 1) {
      try {
        crashes.push(await crashTrial(ring, trial, metrics));
      } catch (error) {
        // The trials before it stand, and so do the figures taken before the crashes.
        crashFailure = `trial ${trial + 1}/${config.crashes}: ${(error as Error).message}`;
        say({ progress: `crash failover N=${config.nodes} ${crashFailure}; no more trials` });
        continue;
      }
      say({ progress: `crash failover N=${config.nodes} trial ${trial + 1}/${config.crashes}: ${crashes.at(-1)!.ms.toFixed(1)} ms` });
    }
    return {
      nodes: config.nodes,
      joinMs,
      electionMs,
      warmUpElectionMs,
      rawLapMs,
      rawGrowingLapMs,
      rawAnnouncedLapMs,
      crashes,
      ...(crashFailure === undefined ? {} : { crashFailure }),
      hostRssMB,
      emptyRssMB,
      relayRssMB,
    };
  } finally {
    await ring.close();
  }
}

/** Untimed laps before the trials: enough for V8 to optimise the election path, few at N = 1,000 (a lap there takes seconds). */
function warmUpLapsFor(nodes: number): number {
  return nodes <= 100 ? 10 : 2;
}

/** A different initiator each lap, never the leader, so the lap always goes all the way round. */
function initiatorFor(ring: InProcessRing, lap: number): number {
  const leader = ring.agreement();
  const initiator = (lap * 7 + 1) % ring.nodes.length;
  return ring.nodes[initiator]!.id === leader?.id ? (initiator + 1) % ring.nodes.length : initiator;
}

/** One crash trial: a crashable top-rank node joins, wins an election it starts, and its socket closes. */
async function crashTrial(ring: InProcessRing, trial: number, metrics: () => Promise<Record<string, number>>): Promise<CrashTrial> {
  // A crashable node with the top rank joins (it does not preempt), then wins an election it starts.
  const victim = await ring.addCrashable(TOP_RANK + trial);
  const before = await ring.waitForAgreement();
  await ring.timeAgreementAfter(() => void victim.actor.send({ type: 'startElection' }), before.term);
  const crowned = await ring.waitForAgreement();
  if (crowned.id !== victim.id()) throw new Error(`the crashable node ${victim.id()} did not win (leader ${crowned.id})`);
  await sleep(50);
  const framesBefore = await metrics();
  ring.forget(victim);
  const { ms } = await ring.timeAgreementAfter(() => victim.crash(), crowned.term);
  const frames = framesBetween(framesBefore, await metrics());
  return { ms, frames };
}

async function main(): Promise<void> {
  try {
    const config = JSON.parse(process.argv[2] ?? '') as HostConfig;
    say({ result: await hostRing(config) });
    process.exit(0);
  } catch (error) {
    say({ error: (error as Error).stack ?? String(error) });
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();

/** Runs a ring host child and resolves with its result; progress lines go to `progress`. */
export function runRingHost(config: HostConfig, progress: (line: string) => void, timeoutMs = 600_000): Promise<HostResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let settled = false;
    const stderrTail: string[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new Error(`ring host N=${config.nodes} did not finish within ${timeoutMs / 1000} s`)));
    }, timeoutMs);
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settle();
    };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: { progress?: string; result?: HostResult; error?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      if (message.progress) progress(message.progress);
      if (message.result) finish(() => resolve(message.result!));
      if (message.error) finish(() => reject(new Error(`ring host N=${config.nodes} failed: ${message.error}`)));
    });
    // Warnings from the nodes (reconnects, silences) are kept for the error message only.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 10) stderrTail.shift();
    });
    child.once('exit', (code, signal) =>
      finish(() => reject(new Error(`ring host N=${config.nodes} exited (${signal ?? code}) without a result:\n${stderrTail.join('\n')}`))),
    );
  });
}
