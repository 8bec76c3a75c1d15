/**
 * The floor of a crash failover among processes: what `failover.crash.process.N` costs when only
 * the wire and the processes are paid for. A raw relay (bench/rawRelay.ts, with its leave notices
 * on) and N bare client processes that do the failover's messages and nothing else:
 *
 *   SIGKILL of the leader → the relay sees the socket close and sends `left` to every member, the
 *   leaver's successor first → the successor starts a lap whose frame grows by `{id, rank}` at
 *   every member (as `eligible` does) → back at the successor, the highest rank wins and is sent
 *   to everyone → every member prints `leader <id>` on stdout, which this process reads.
 *
 * The trial ends when the last survivor's line arrives, as the real benchmark ends on the last
 * node's log line. No statecharts, validation, terms, leases, timers or logging: whatever the real
 * failover costs above this, it costs in our code; up to this, the machine charges it.
 *
 *   node dist/bench/rawFailover.js [--size 10] [--trials 9]     (prints the trials, in ms)
 *   node dist/bench/rawFailover.js --member <url> <rank>        (one member; started by the above)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startRelay, stopChild, track } from './childServer.js';
import { appendAndPass, connectClient, highestRanked, type LapEntry } from './wireClients.js';

/** One member: the failover's messages, with the least work a process can do for them. */
async function member(url: string, rank: number): Promise<void> {
  const client = await connectClient(url);
  const me: LapEntry = { id: client.id, rank };
  // Unknown until the first announcement: a member that knows no leader takes over from any
  // leaver it succeeds (only leaders are killed here, so that is always right).
  let leader: string | null = null;
  const announce = (id: string) => {
    leader = id;
    process.stdout.write(`leader ${id}\n`);
  };
  client.onFrame((text) => {
    const frame = JSON.parse(text) as { type: string; id: string; next: string; from: string; eligible: LapEntry[] };
    if (frame.type === 'left') {
      if (frame.next === me.id && (leader === null || frame.id === leader)) {
        client.socket.send(JSON.stringify({ type: 'lap', to: 'next', from: me.id, eligible: [me] }));
      }
    } else if (frame.type === 'lap') {
      if (frame.from !== me.id) {
        appendAndPass(client, frame, rank);
        return;
      }
      const winner = highestRanked(frame.eligible);
      client.socket.send(JSON.stringify({ type: 'leader', to: 'all', id: winner.id }));
      announce(winner.id);
    } else if (frame.type === 'leader') announce(frame.id);
  });
  client.socket.on('close', () => process.exit(0));
  process.stdout.write(`ready ${client.id}\n`);
}

interface Member {
  id: string;
  child: ChildProcess;
  /** The leader this member last printed since the trial began (null: none yet). */
  announced: string | null;
}

export interface RawFailoverOptions {
  size: number;
  trials: number;
  /** Untimed trials first, so every first-generation member has run the lap once. */
  warmUp?: number;
  progress?: (line: string) => void;
}

const TRIAL_DEADLINE_MS = 20_000;

/** Milliseconds from each SIGKILL to the last survivor's `leader` line, one per timed trial. */
export async function measureRawFailover({ size, trials, warmUp = 1, progress = () => {} }: RawFailoverOptions): Promise<number[]> {
  if (size < 3) throw new Error(`a failover needs at least 3 members, got ${size}`);
  const relay = await startRelay('raw', { args: ['--announce-leaves'] });
  const members: Member[] = [];
  let onAnnouncement = () => {};
  const join = async () => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--member', relay.url, String(Math.floor(Math.random() * 1_000_000))], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(child);
    const joined = new Promise<Member>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('a raw member did not join within 20 s')), 20_000);
      child.once('exit', () => reject(new Error('a raw member exited before joining')));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const [word, id] = line.split(' ');
        if (word === 'ready') {
          clearTimeout(timer);
          resolve({ id: id!, child, announced: null });
        } else if (word === 'leader') {
          const self = members.find((entry) => entry.child === child);
          if (self) self.announced = id!;
          onAnnouncement();
        }
      });
    });
    members.push(await joined);
  };

  try {
    for (let index = 0; index < size; index += 1) await join();
    const samples: number[] = [];
    let leader: string | null = null;
    for (let trial = 1; trial <= warmUp + trials; trial += 1) {
      const victim = members.find((entry) => entry.id === leader) ?? members[0]!;
      members.splice(members.indexOf(victim), 1);
      for (const entry of members) entry.announced = null;
      const agreed = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`raw failover trial ${trial}: no agreement within ${TRIAL_DEADLINE_MS} ms`)), TRIAL_DEADLINE_MS);
        onAnnouncement = () => {
          const first = members[0]!.announced;
          if (first !== null && first !== victim.id && members.every((entry) => entry.announced === first)) {
            clearTimeout(timer);
            resolve(first);
          }
        };
      });
      const signalledAt = performance.now();
      victim.child.kill('SIGKILL');
      leader = await agreed;
      const elapsed = performance.now() - signalledAt;
      if (trial > warmUp) {
        samples.push(elapsed);
        progress(`raw failover n=${size} trial ${trial - warmUp}/${trials}: ${elapsed.toFixed(1)} ms`);
      }
      await join();
    }
    return samples;
  } finally {
    onAnnouncement = () => {};
    for (const entry of members) entry.child.kill('SIGKILL');
    await relay.stop();
  }
}

function integerFlag(argv: readonly string[], flag: string, fallback: number): number {
  const at = argv.indexOf(flag);
  if (at === -1) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} takes a positive integer, got "${String(argv[at + 1])}"`);
  return value;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--member') void member(argv[1] ?? '', Number(argv[2] ?? 0));
  else {
    try {
      const samples = await measureRawFailover({
        size: integerFlag(argv, '--size', 10),
        trials: integerFlag(argv, '--trials', 9),
        progress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${samples.map((ms) => ms.toFixed(1)).join(' ')}\n`);
    } catch (error) {
      process.stderr.write(`rawFailover: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
