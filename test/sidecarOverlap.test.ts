/**
 * `ringleader run`'s command never runs beside its successor's, whatever happens to the leading
 * sidecar (issue 21, finding 3): frozen (SIGSTOP), killed with its whole process group (Ctrl-\,
 * `kill -9 %1`), or killed alone (SIGKILL). Two sidecars, each in a process group of its own as
 * on its own machine, run a command that holds a loopback port while it lives (a second copy
 * cannot bind it: the overlap shows at the very moment it would begin) and writes its start and a
 * tick every 20 ms on the shared monotonic clock. It takes 3 s to finish after SIGTERM, as a job
 * that ends its work gracefully would. Each fault is done several times, to whichever sidecar
 * leads at that moment; every time a successor must take over, and no two runs may overlap.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRelay } from '../relay/server.js';
import { silentLogger, type LogLine } from './nodeKit.js';
import { cliRingFixture, DEADLINE_MS, FAST_ARGS, killGroup, SIDECAR_TIMING, writeScript, type CliProcess } from './sidecarKit.js';
import { waitFor } from '../runtime/waitFor.js';

const until = <T>(check: () => T | undefined | null | false, what: string) => waitFor(check, what, { timeoutMs: DEADLINE_MS });

/** argv: <file> <port>. Binds the port (or records that it could not), then ticks; on SIGTERM, finishes for 3 s. */
const EXCLUSIVE_JOB = `
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
const [file, port] = process.argv.slice(2);
const write = (what) => appendFileSync(file, \`\${what} \${process.pid} \${process.hrtime.bigint()}\\n\`);
const tick = () => setInterval(() => write('tick'), 20);
const server = createServer();
server.once('error', (error) => { write('overlap:' + error.code); tick(); });
server.listen(Number(port), '127.0.0.1', () => { write('start'); tick(); });
process.on('SIGTERM', () => { write('sigterm'); setTimeout(() => process.exit(0), 3000); });
`;

interface Run {
  pid: number;
  /** Shared monotonic clock, ns: its first line, and its last. */
  from: bigint;
  to: bigint;
  /** It found the port taken: another run was alive when it began. */
  overlapped: boolean;
}

function readRuns(file: string): Run[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const runs = new Map<number, Run>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [what, pidText, timeText] = line.split(' ') as [string, string, string];
    const pid = Number(pidText);
    const time = BigInt(timeText);
    const run = runs.get(pid) ?? { pid, from: time, to: time, overlapped: false };
    run.to = time;
    if (what.startsWith('overlap')) run.overlapped = true;
    runs.set(pid, run);
  }
  return [...runs.values()].sort((a, b) => (a.from < b.from ? -1 : 1));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

type Fault = 'freeze' | 'group kill' | 'kill';
const FAULTS: Fault[] = ['freeze', 'group kill', 'kill', 'freeze', 'group kill', 'kill', 'freeze', 'group kill', 'kill'];

describe('ringleader run: the command never overlaps its successor\'s', () => {
  const { ring, processes } = cliRingFixture();

  it('freeze, group kill and kill of the leading sidecar, three times each: a successor runs every time, never beside the old command', async () => {
    ring.relay = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: SIDECAR_TIMING.leaderTimeoutMs, logger: silentLogger });
    const folder = processes.folder();
    const job = writeScript(folder, 'job.mjs', EXCLUSIVE_JOB);
    const file = join(folder, 'runs.txt');
    const port = await freePort();
    const startSidecar = () =>
      processes.start(['run', '--relay', ring.url, ...FAST_ARGS, '--', process.execPath, job, file, String(port)], { detached: true });
    const runsOf = (sidecar: CliProcess) => sidecar.logs.filter((line) => line.msg === 'command started').map((line) => line.commandPid as number);
    let sidecars = [startSidecar(), startSidecar()];
    /** Until the newest run has ticked a few times: a command running steadily, and the sidecar that runs it. */
    const steadyLeader = async (after: number) => {
      const run = await until(() => {
        const runs = readRuns(file);
        const newest = runs.at(-1);
        return runs.length > after && newest && newest.to - newest.from > 100_000_000n && newest;
      }, `run ${after + 1} of the command to tick`);
      const leader = sidecars.find((sidecar) => runsOf(sidecar).includes(run.pid));
      if (!leader) throw new Error(`no live sidecar started pid ${run.pid}`);
      return { run, leader };
    };
    /** Both sidecars are members that know the current leader: the other can take over. */
    const bothFollow = async (term: number) => {
      for (const sidecar of sidecars) {
        await sidecar.log((line) => (line.msg === 'leader changed' || line.msg === 'command started') && (line.term as number) >= term, 'every sidecar to know the leader');
      }
    };

    for (const [round, fault] of FAULTS.entries()) {
      const { run, leader } = await steadyLeader(round);
      const started = leader.logs.find((line: LogLine) => line.msg === 'command started' && line.commandPid === run.pid)!;
      await bothFollow(started.term as number);
      if (fault === 'freeze') {
        process.kill(leader.pid, 'SIGSTOP');
        await steadyLeader(round + 1);
        process.kill(leader.pid, 'SIGCONT');
        // Woken, it finds its command gone: the watchdog killed it when the lease ended.
        const stopped = await leader.log((line) => line.msg === 'command stopped' && line.commandPid === run.pid, 'the woken sidecar to find its command stopped');
        expect(stopped.signal).toBe('SIGKILL');
        expect(leader.logs.some((line) => line.role === 'watchdog' && line.commandPid === run.pid && /lease ended/.test(String(line.reason)))).toBe(true);
      } else {
        if (fault === 'group kill') killGroup(leader.pid);
        else leader.child.kill('SIGKILL');
        await leader.exited;
        await steadyLeader(round + 1);
        sidecars = [...sidecars.filter((sidecar) => sidecar !== leader), startSidecar()];
      }
    }

    const runs = readRuns(file);
    expect(runs).toHaveLength(FAULTS.length + 1);
    expect(runs.filter((run) => run.overlapped).map((run) => run.pid), 'runs that found another alive when they began').toEqual([]);
    for (let index = 1; index < runs.length; index += 1) {
      const [before, after] = [runs[index - 1]!, runs[index]!];
      expect(before.to < after.from, `run ${index} (${FAULTS[index - 1]}): its last tick before the next run's start`).toBe(true);
    }
  });
});
