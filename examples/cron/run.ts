/**
 * `npm run example:cron`: a relay and three workers (worker.ts) on this machine. Exactly one
 * worker runs the every-second job; after a few runs this script SIGKILLs that worker and the
 * log shows another one take over in a newer term; then it SIGTERMs the new leader, which hands
 * the job off gracefully to the last one. Then everything stops and a summary checks
 * that no two workers ever ran the job in the same term and that terms never went backwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startRelay } from '../../relay/server.js';

const WORKERS = 3;
const RUNS_BEFORE_KILL = 4;
const RUNS_AFTER_KILL = 4;
const GIVE_UP_MS = 60_000;
/** How long a worker gets to leave the ring on SIGTERM before it is SIGKILLed. */
const STOP_GRACE_MS = 5_000;

interface Worker {
  name: string;
  process: ChildProcess;
}

interface JobRun {
  worker: string;
  term: number;
}

const started = Date.now();
const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (text: string) => process.stdout.write(`${stamp()}  ${text}\n`);

const relay = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: 2000, logLevel: 'warn' });
say(`relay listening at ${relay.url}`);

const runs: JobRun[] = [];
let onRun: ((run: JobRun) => void) | null = null;
const workers: Worker[] = [];
/** Set by the first stopAll(); declared up here because the script awaits before it ends. */
let stopping: Promise<never> | undefined;
const workerScript = fileURLToPath(new URL('./worker.js', import.meta.url));

for (let index = 1; index <= WORKERS; index += 1) {
  const name = `worker-${index}`;
  const child = spawn(process.execPath, [workerScript], {
    env: { ...process.env, RELAY_URL: relay.url, WORKER_NAME: name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push({ name, process: child });
  const show = (line: string) => {
    say(`[${name}] ${line}`);
    const match = /^job run #\d+ \(term (\d+)\)/.exec(line);
    if (match) {
      const run = { worker: name, term: Number(match[1]) };
      runs.push(run);
      onRun?.(run);
    }
  };
  createInterface({ input: child.stdout! }).on('line', show);
  createInterface({ input: child.stderr! }).on('line', show);
}

const giveUp = setTimeout(() => {
  say(`giving up: no hand-off within ${GIVE_UP_MS / 1000} s`);
  void stopAll(1);
}, GIVE_UP_MS);

// Ctrl-C or a SIGTERM to this script stops the workers too, instead of leaving them running.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    say(`=== ${signal}: stopping ===`);
    void stopAll(code);
  });
}

/** Resolves with the worker that made `count` job runs in a row (nobody else in between). */
function runsInARow(count: number, except?: string): Promise<string> {
  return new Promise((resolve) => {
    let streak: { worker: string; count: number } | null = null;
    onRun = (run) => {
      if (run.worker === except) return;
      streak = streak?.worker === run.worker ? { worker: run.worker, count: streak.count + 1 } : { worker: run.worker, count: 1 };
      if (streak.count >= count) {
        onRun = null;
        resolve(run.worker);
      }
    };
  });
}

const leader = await runsInARow(RUNS_BEFORE_KILL);
say(`=== killing ${leader}, the leader, with SIGKILL ===`);
workers.find((worker) => worker.name === leader)!.process.kill('SIGKILL');
const successor = await runsInARow(RUNS_AFTER_KILL, leader);
say(`=== ${successor} took over; now SIGTERM it: a graceful leave hands the job off at once ===`);
const heir = runsInARow(1, successor);
workers.find((worker) => worker.name === successor)!.process.kill('SIGTERM');
await heir;
say('=== stopping ===');
await stopAll(0);

/** Stops once, however many paths ask (the script's end, the give-up timer, a signal). */
function stopAll(code: number): Promise<never> {
  stopping ??= stopEverything(code);
  return stopping;
}

async function stopEverything(code: number): Promise<never> {
  clearTimeout(giveUp);
  await Promise.all(
    workers.map(
      ({ process: child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          // A worker that does not leave within the grace period (wedged, say) is killed outright.
          const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  await relay.close();
  summarize();
  process.exit(code);
}

function summarize(): void {
  const byTerm = new Map<number, Set<string>>();
  for (const run of runs) byTerm.set(run.term, (byTerm.get(run.term) ?? new Set()).add(run.worker));
  const rows = [...byTerm].map(([term, names]) => {
    const count = runs.filter((run) => run.term === term).length;
    return `term ${term}: ${count} run${count === 1 ? '' : 's'} by ${[...names].join(', ')}`;
  });
  const oneWorkerPerTerm = [...byTerm.values()].every((names) => names.size === 1);
  const termsGrow = runs.every((run, index) => index === 0 || run.term >= runs[index - 1]!.term);
  say('summary:');
  for (const row of rows) say(`  ${row}`);
  say(`  one worker per term: ${oneWorkerPerTerm ? 'yes' : 'NO'}; terms never went backwards: ${termsGrow ? 'yes' : 'NO'}`);
}
