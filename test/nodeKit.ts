/**
 * Shared helpers of the node and library tests: an in-process relay, nodes whose log lines are
 * kept for assertions, condition waits with generous deadlines, and cleanup of everything a test
 * started (even when it fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { joinRing, type JoinRingOptions, type RingNode } from '../index.js';
import { startRelay, type RunningRelay } from '../relay/server.js';
import { checkAgreement } from '../runtime/agreement.js';
import { waitFor } from '../runtime/waitFor.js';

/** Short timers so failovers happen in about a second; deadlines below stay generous. */
export const FAST = { checkIntervalMs: 200, leaderTimeoutMs: 2000, electionTimeoutMs: 800 } as const;

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger whose lines land in `lines` (parsed), for assertions on what a node logged. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim()) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

export const silentLogger = pino({ level: 'silent' });

export { waitFor };

/** Everything one test started; `cleanUp()` (in afterEach) stops it all, failures included. */
export class TestRing {
  relay: RunningRelay | null = null;
  readonly nodes: RingNode[] = [];
  readonly logs = new Map<RingNode, LogLine[]>();
  private readonly extra: Array<() => unknown> = [];

  async startRelay(port = 0): Promise<RunningRelay> {
    this.relay = await startRelay({
      port,
      host: '127.0.0.1',
      leaderTimeoutMs: FAST.leaderTimeoutMs,
      logger: silentLogger,
    });
    return this.relay;
  }

  get url(): string {
    if (!this.relay) throw new Error('no relay started');
    return this.relay.url;
  }

  async join(options: Partial<JoinRingOptions> = {}): Promise<RingNode> {
    const { logger, lines } = capturingLogger();
    const node = await joinRing({ relay: this.url, logger, timing: FAST, ...options });
    this.nodes.push(node);
    this.logs.set(node, lines);
    return node;
  }

  /** Runs `stop` during cleanup (child processes, extra servers). */
  onCleanUp(stop: () => unknown): void {
    this.extra.push(stop);
  }

  /** The live nodes that currently lead. */
  leaders(nodes: RingNode[] = this.nodes): RingNode[] {
    return nodes.filter((node) => node.isLeader());
  }

  /**
   * Waits until `nodes` agree: every one names the same leader and term, that leader is one of
   * them, and it alone says it leads. Returns the leader node.
   */
  async agreement(nodes: RingNode[], what = 'the nodes to agree on one leader', timeoutMs = 30_000): Promise<RingNode> {
    return waitFor(() => {
      const verdict = checkAgreement(nodes.map((node) => ({ id: node.id, leader: node.leader(), leading: node.isLeader() })));
      return verdict.agreed ? nodes.find((node) => node.id === verdict.leader.id) : undefined;
    }, what, timeoutMs);
  }

  async cleanUp(): Promise<void> {
    for (const stop of this.extra.splice(0)) {
      try {
        await stop();
      } catch {
        // Cleanup goes on: one failure must not leave other processes running.
      }
    }
    await Promise.allSettled(this.nodes.splice(0).map((node) => node.leave()));
    await this.relay?.close();
    this.relay = null;
  }
}

/** A child process whose stdout JSON lines are kept as they arrive. */
export interface ChildWithLines {
  child: ChildProcess;
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** Waits for a line matching `match` and returns it. */
  line(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
}

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts `node <args>` in the repository (built files in dist/), collecting its JSON stdout lines. */
export function spawnWithLines(args: string[], env: NodeJS.ProcessEnv = {}): ChildWithLines {
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, LOG_PRETTY: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      lines.push({ level: 0, msg: text });
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    line: (match, what, timeoutMs) => waitFor(() => lines.find(match), what, timeoutMs),
  };
}

/** Kills a child for good, waking it first in case a test froze it. */
export async function killChild(handle: ChildWithLines): Promise<void> {
  if (handle.child.exitCode !== null || handle.child.signalCode !== null) return;
  handle.child.kill('SIGCONT');
  handle.child.kill('SIGKILL');
  await handle.exited;
}
