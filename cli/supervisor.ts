/**
 * The process supervisor behind `ringleader up`, the end-to-end tests and the failover benchmark:
 * it starts the relay and the nodes as real child processes (`node dist/cli/ringleader.js ...`),
 * learns who is who and who follows whom only from their JSON log lines, and implements
 * RingControl with signals (SIGKILL crash, SIGSTOP/SIGCONT freeze, SIGUSR2 election).
 *
 * It owns its children: `stop()` ends them all (SIGCONT before SIGTERM so a frozen one can act on
 * it; SIGKILL after a grace period), and an `exit` hook SIGKILLs whatever is still alive if the
 * parent goes away without calling `stop()`. If the parent is killed outright, each child notices
 * it was re-parented and leaves by itself (cli/orphanGuard.ts).
 *
 * Each child runs in a process group of its own, so a Ctrl-C meant for the supervisor (the
 * terminal signals the whole foreground group) does not reach the children behind its back: the
 * supervisor alone decides the order they stop in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LeaderInfo } from '../machines/protocol.js';
import type { RingControl } from '../runtime/control.js';
import { SUPERVISOR_PID_ENV } from './orphanGuard.js';
import { checkAgreement } from '../runtime/agreement.js';
import { leaderChange, nodeJoined, parseLogLine, relayListening, type LogRecord } from './logRecords.js';

/**
 * The CLI entry the children run: the built dist/cli/ringleader.js next to this module, or, when
 * this module runs from its TypeScript source (vitest, tsx), the one in dist/ of the checkout.
 */
export const DEFAULT_CLI_PATH = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('../dist/cli/ringleader.js', import.meta.url) : new URL('./ringleader.js', import.meta.url),
);

export type ChildRole = 'relay' | 'node';

/** How long stop() waits for a leader to hear that its followers left before it stops the leader too. */
const LEAVES_HEARD_MS = 2000;

export interface SupervisedChild {
  role: ChildRole;
  /** Stable label for humans and errors: "relay", "node#3" (order of start). */
  label: string;
  process: ChildProcess;
  pid: number;
  /** Set once the node logs "node joined"; may change if the relay gives it a new id. */
  clientId: string | undefined;
  rank: number | undefined;
  /** How many members the ring has, as this node last logged it. */
  memberCount: number | undefined;
  /** The leader this node last logged that it follows. */
  leader: LeaderInfo | null;
  /** Between its `leadership acquired` and `leadership lost` lines. */
  leading: boolean;
  frozen: boolean;
  exited: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Every log line this child wrote, in order (tests read these to check properties). */
  records: LogRecord[];
  /** The last few stderr lines, shown when a child fails to start. */
  stderrTail: string[];
}

export interface SupervisorOptions {
  /** Path to ringleader.js; defaults to the one next to this module. */
  cliPath?: string;
  /** Environment for every child (LOG_PRETTY=0 is always added). Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Relay port; 0 picks a free one, and restarts reuse whatever was picked. */
  relayPort?: number;
  /** Extra arguments for `ringleader relay` and `ringleader node`. */
  relayArgs?: string[];
  nodeArgs?: string[];
  /** How long a child may take to log that it is up (default 20 s: the machine may be busy). */
  startTimeoutMs?: number;
  /** SIGTERM -> SIGKILL grace period on stop (default 3 s). */
  graceMs?: number;
}

export interface Agreement {
  leader: LeaderInfo;
  /** Client ids of the live, unfrozen nodes that all name `leader`. */
  nodes: string[];
}

interface SupervisorEvents {
  record: [child: SupervisedChild, record: LogRecord];
  /** A node joined the ring; `rejoined` when it had joined before (a reconnect). */
  joined: [node: SupervisedChild, rejoined: boolean];
  /** A RingControl action was carried out (from the inspector, a test, ...). */
  control: [action: keyof RingControl, detail: string];
  leader: [node: SupervisedChild, leader: LeaderInfo];
  exit: [child: SupervisedChild];
  relay: [info: { url: string; port: number }];
}

export class Supervisor extends EventEmitter<SupervisorEvents> implements RingControl {
  readonly #cliPath: string;
  #env: NodeJS.ProcessEnv;
  readonly #relayArgs: string[];
  readonly #nodeArgs: string[];
  readonly #startTimeoutMs: number;
  readonly #graceMs: number;
  #relayPort: number;
  #relay: SupervisedChild | undefined;
  #relayUrl: string | undefined;
  #nodes: SupervisedChild[] = [];
  /** Set by the first stop(); later calls wait on the same promise, so none returns early. */
  #stopping: Promise<void> | undefined;
  readonly #killAllOnExit = () => this.#killAllNow();

  constructor(options: SupervisorOptions = {}) {
    super();
    this.#cliPath = options.cliPath ?? DEFAULT_CLI_PATH;
    this.#env = { ...(options.env ?? process.env), LOG_PRETTY: '0' };
    this.#relayPort = options.relayPort ?? 0;
    this.#relayArgs = options.relayArgs ?? [];
    this.#nodeArgs = options.nodeArgs ?? [];
    this.#startTimeoutMs = options.startTimeoutMs ?? 20_000;
    this.#graceMs = options.graceMs ?? 3_000;
    // A record per line is emitted to every listener; the tests and `up` add several.
    this.setMaxListeners(0);
    process.on('exit', this.#killAllOnExit);
  }

  /** Adds to the environment of children started from now on (e.g. INSPECT_URL once known). */
  setChildEnv(extra: NodeJS.ProcessEnv): void {
    this.#env = { ...this.#env, ...extra, LOG_PRETTY: '0' };
  }

  /** The port the next startRelay binds (before the first start; restarts keep theirs). */
  setRelayPort(port: number): void {
    this.#relayPort = port;
  }

  /** ws:// URL of the relay (after startRelay). */
  get relayUrl(): string {
    if (this.#relayUrl === undefined) throw new Error('the relay has not been started');
    return this.#relayUrl;
  }

  /** http:// URL of the relay's own port, where /status, /healthz and /metrics live. */
  get relayHttpUrl(): string {
    return this.relayUrl.replace(/^ws/, 'http').replace(/\/$/, '');
  }

  get relay(): SupervisedChild | undefined {
    return this.#relay;
  }

  /** Nodes that have not exited, in start order. */
  get nodes(): SupervisedChild[] {
    return this.#nodes.filter((node) => !node.exited);
  }

  /** Every node ever started, including the ones that exited (their logs stay readable). */
  get allNodes(): SupervisedChild[] {
    return [...this.#nodes];
  }

  /** The live node that the relay calls `clientId`. */
  node(clientId: string): SupervisedChild | undefined {
    return this.nodes.find((node) => node.clientId === clientId);
  }

  async startRelay(): Promise<{ url: string; port: number }> {
    if (this.#relay && !this.#relay.exited) throw new Error('the relay is already running');
    const child = this.#spawn('relay', 'relay', ['relay', '--port', String(this.#relayPort), ...this.#relayArgs]);
    this.#relay = child;
    const info = await this.#waitForRecord(child, relayListening, 'log "relay listening"');
    // Restarts must come back on the same port, or the nodes could not find the relay again.
    this.#relayPort = info.port;
    this.#relayUrl = info.url;
    this.emit('relay', info);
    return info;
  }

  /** Starts one node process and resolves once it has joined the ring. */
  async startNode(options: { rank?: number; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<SupervisedChild> {
    const args = ['node', '--relay', this.relayUrl, ...this.#nodeArgs, ...(options.args ?? [])];
    if (options.rank !== undefined) args.push('--rank', String(options.rank));
    const child = this.#spawn('node', `node#${this.#nodes.length + 1}`, args, options.env);
    this.#nodes.push(child);
    await this.#waitForRecord(child, nodeJoined, 'log "node joined"');
    return child;
  }

  /** Starts `count` nodes one after another (joins are serialised so ids follow start order). */
  async startNodes(count: number, ranks?: readonly number[]): Promise<SupervisedChild[]> {
    const started: SupervisedChild[] = [];
    for (let index = 0; index < count; index += 1) {
      const rank = ranks?.[index];
      started.push(await this.startNode(rank === undefined ? {} : { rank }));
    }
    return started;
  }

  // ---- RingControl: what the inspector's buttons do ----

  async crash(clientId: string): Promise<void> {
    const node = this.#requireNode(clientId);
    const exited = waitForExit(node);
    this.emit('control', 'crash', clientId);
    node.process.kill('SIGKILL');
    await exited;
  }

  async freeze(clientId: string): Promise<void> {
    const node = this.#requireNode(clientId);
    this.emit('control', 'freeze', clientId);
    node.process.kill('SIGSTOP');
    node.frozen = true;
  }

  async unfreeze(clientId: string): Promise<void> {
    const node = this.#requireNode(clientId);
    this.emit('control', 'unfreeze', clientId);
    node.process.kill('SIGCONT');
    node.frozen = false;
  }

  async startElection(clientId: string): Promise<void> {
    const node = this.#requireNode(clientId);
    if (node.frozen) throw new Error(`${clientId} is frozen; unfreeze it first`);
    this.emit('control', 'startElection', clientId);
    node.process.kill('SIGUSR2');
  }

  async addNode(options: { rank?: number } = {}): Promise<void> {
    this.emit('control', 'addNode', options.rank === undefined ? '' : `rank ${options.rank}`);
    await this.startNode(options);
  }

  nodeCount(): number {
    return this.nodes.length;
  }

  /** Kills the relay as a crash would (SIGKILL) and starts a new one on the same port. */
  async restartRelay(): Promise<void> {
    this.emit('control', 'restartRelay', '');
    const relay = this.#relay;
    if (relay && !relay.exited) {
      const exited = waitForExit(relay);
      relay.process.kill('SIGKILL');
      await exited;
    }
    await this.startRelay();
  }

  // ---- what tests, the benchmark and `up` ask about the ring ----

  /**
   * The leader every live, unfrozen node names (same id and term), provided that leader is one
   * of them and names itself; null while they disagree or before anyone has a leader.
   */
  /** The leader every running, unfrozen node names and only it claims (runtime/agreement.ts), or null. */
  agreement(): Agreement | null {
    const members = this.nodes.filter((node) => !node.frozen && !node.exited && node.clientId !== undefined);
    const verdict = checkAgreement(members.map((node) => ({ id: node.clientId!, leader: node.leader, leading: node.leading })));
    return verdict.agreed ? { leader: verdict.leader, nodes: verdict.members } : null;
  }

  /**
   * Resolves with the first non-undefined value of `check`, tested now and after every log line
   * (and every 100 ms, for conditions that depend on time or exits). Rejects after `timeoutMs`.
   */
  waitFor<T>(check: () => T | undefined | null | false, options: { timeoutMs?: number; what?: string } = {}): Promise<T> {
    const { timeoutMs = 30_000, what = 'condition' } = options;
    return new Promise<T>((resolve, reject) => {
      const test = () => {
        let value: T | undefined | null | false;
        try {
          value = check();
        } catch (error) {
          finish();
          reject(error as Error);
          return;
        }
        if (value !== undefined && value !== null && value !== false) {
          finish();
          resolve(value);
        }
      };
      const poll = setInterval(test, 100);
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearInterval(poll);
        clearTimeout(timer);
        this.off('record', test);
        this.off('exit', test);
      };
      this.on('record', test);
      this.on('exit', test);
      test();
    });
  }

  /** The relay's GET /status: members in ring order and the leader it last saw announced. */
  async relayStatus(): Promise<{ members: string[]; leader: LeaderInfo | null }> {
    const response = await fetch(`${this.relayHttpUrl}/status`);
    if (!response.ok) throw new Error(`GET /status answered ${response.status}`);
    return (await response.json()) as { members: string[]; leader: LeaderInfo | null };
  }

  /**
   * Ends every child: the nodes first (SIGTERM: each leaves the ring), then the relay, so no node
   * sees its relay vanish. Followers go before the leader: a leader told to leave hands off to the
   * others, which fails if they are leaving at the same moment; once it has heard them go, it has
   * nobody to hand off to and simply leaves.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    const nodes = this.nodes;
    const leaders = nodes.filter((node) => node.clientId !== undefined && node.leader?.id === node.clientId);
    await Promise.all(nodes.filter((node) => !leaders.includes(node)).map((node) => this.#terminate(node)));
    if (leaders.length > 0 && this.#relay && !this.#relay.exited) {
      // Their "member left" lines say when they know; without them (LOG_LEVEL=warn), stop anyway.
      const alone = () => leaders.every((leader) => leader.exited || (leader.memberCount ?? 0) <= leaders.length);
      await this.waitFor(() => alone() || undefined, { timeoutMs: LEAVES_HEARD_MS, what: 'the leader to hear the others leave' }).catch(() => {});
    }
    await Promise.all(leaders.map((node) => this.#terminate(node)));
    if (this.#relay && !this.#relay.exited) await this.#terminate(this.#relay);
    process.off('exit', this.#killAllOnExit);
  }

  // ---- internals ----

  #spawn(role: ChildRole, label: string, args: string[], extraEnv?: NodeJS.ProcessEnv): SupervisedChild {
    if (this.#stopping !== undefined) throw new Error('the supervisor is stopping');
    const child = spawn(process.execPath, [this.#cliPath, ...args], {
      env: { ...this.#env, ...extraEnv, LOG_PRETTY: '0', [SUPERVISOR_PID_ENV]: String(process.pid) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A group of its own: signals for the supervisor's group (a terminal's Ctrl-C) pass it by.
      detached: true,
    });
    if (child.pid === undefined) throw new Error(`could not start ${label}`);
    const supervised: SupervisedChild = {
      role,
      label,
      process: child,
      pid: child.pid,
      clientId: undefined,
      rank: undefined,
      memberCount: undefined,
      leader: null,
      leading: false,
      frozen: false,
      exited: false,
      exit: undefined,
      records: [],
      stderrTail: [],
    };
    createInterface({ input: child.stdout! }).on('line', (line) => this.#onLine(supervised, line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      supervised.stderrTail.push(line);
      if (supervised.stderrTail.length > 20) supervised.stderrTail.shift();
      this.#onLine(supervised, line);
    });
    child.on('exit', (code, signal) => {
      supervised.exited = true;
      supervised.leading = false;
      supervised.frozen = false;
      supervised.exit = { code, signal };
      this.emit('exit', supervised);
    });
    return supervised;
  }

  #onLine(child: SupervisedChild, line: string): void {
    if (line.trim() === '') return;
    const record = parseLogLine(line);
    child.records.push(record);
    if (child.role === 'node') {
      if (typeof record.memberCount === 'number') child.memberCount = record.memberCount;
      const joined = nodeJoined(record);
      const rejoined = child.clientId !== undefined;
      if (joined) {
        child.clientId = joined.clientId;
        if (joined.rank !== undefined) child.rank = joined.rank;
      }
      const self = {
        ...(child.clientId === undefined ? {} : { clientId: child.clientId }),
        ...(child.rank === undefined ? {} : { rank: child.rank }),
      };
      if (record.msg === 'leadership acquired') child.leading = true;
      else if (record.msg === 'leadership lost' || record.msg === 'node left') child.leading = false;
      const leader = leaderChange(record, self);
      const changed = leader && (child.leader?.id !== leader.id || child.leader.term !== leader.term);
      if (leader) child.leader = leader;
      this.emit('record', child, record);
      if (joined) this.emit('joined', child, rejoined);
      if (leader && changed) this.emit('leader', child, leader);
      return;
    }
    this.emit('record', child, record);
  }

  #waitForRecord<T>(child: SupervisedChild, match: (record: LogRecord) => T | null, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onRecord = (from: SupervisedChild, record: LogRecord) => {
        if (from !== child) return;
        const value = match(record);
        if (value !== null) {
          finish();
          resolve(value);
        }
      };
      const onExit = (from: SupervisedChild) => {
        if (from !== child) return;
        finish();
        reject(new Error(`${child.label} exited (${describeExit(child)}) before it would ${what}${stderrOf(child)}`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${child.label} did not ${what} within ${this.#startTimeoutMs} ms${stderrOf(child)}`));
      }, this.#startTimeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.off('record', onRecord);
        this.off('exit', onExit);
      };
      this.on('record', onRecord);
      this.on('exit', onExit);
    });
  }

  #requireNode(clientId: string): SupervisedChild {
    const node = this.node(clientId);
    if (!node) throw new Error(`no running node is called ${clientId}`);
    return node;
  }

  async #terminate(child: SupervisedChild): Promise<void> {
    if (child.exited) return;
    const exited = waitForExit(child);
    // A stopped process only acts on SIGTERM once it runs again.
    if (child.frozen) child.process.kill('SIGCONT');
    child.process.kill('SIGTERM');
    const timer = setTimeout(() => child.process.kill('SIGKILL'), this.#graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Last resort when the parent exits without `stop()`: synchronous, so it works in an exit hook. */
  #killAllNow(): void {
    for (const child of [...this.#nodes, ...(this.#relay ? [this.#relay] : [])]) {
      if (!child.exited) {
        try {
          child.process.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }
}

function waitForExit(child: SupervisedChild): Promise<void> {
  if (child.exited) return Promise.resolve();
  return new Promise((resolve) => child.process.once('exit', () => resolve()));
}

export function describeExit(child: SupervisedChild): string {
  if (!child.exit) return 'running';
  return child.exit.signal ? `signal ${child.exit.signal}` : `code ${child.exit.code}`;
}

function stderrOf(child: SupervisedChild): string {
  return child.stderrTail.length === 0 ? '' : `:\n${child.stderrTail.join('\n')}`;
}
