/**
 * A ring of real machines (relayMachine + nodeMachine) in one process over a simulated
 * transport, each actor streaming through the real producer (runtime/inspection.ts) to an
 * inspector's /inspect. It implements RingControl, so the inspector's buttons work on it:
 * crash = the actor and its inspection stream die and the relay sees the socket close.
 * Used by the inspector's tests; the process-level ring (relay/, node/, up) is tested elsewhere.
 * Also starts `ringleader inspector` as a process, for what only a process can show (that it
 * survives, where it listens).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createActor, fromCallback, type Actor } from 'xstate';
import { DEFAULT_CLI_PATH } from '../cli/supervisor.js';
import { relayMachine, type RelayActor } from '../machines/relayMachine.js';
import { ANSWERED_AT_JOIN, judgeHeartbeat } from '../machines/liveness.js';
import { nodeMachine, type NodeTiming, type RelayCommand, type RelayConnectionEvent } from '../machines/nodeMachine.js';
import { relayTimingFor, resolveTiming, type RelayTiming } from '../machines/timing.js';
import { wireFrame, type ServerFrame } from '../machines/protocol.js';
import type { RingControl } from '../runtime/control.js';
import { createInspection, type Inspection } from '../runtime/inspection.js';
import { createLogger } from '../runtime/logger.js';
import { waitFor } from '../runtime/waitFor.js';

const logger = createLogger({ component: 'test-ring', level: 'silent', pretty: false });

export const FAST_TIMING: Partial<NodeTiming> = { checkIntervalMs: 300, leaderTimeoutMs: 1000, electionTimeoutMs: 1500, jitter: 0.2 };
/** One-way delay of every frame through the simulated relay. */
const LATENCY_MS = 5;

interface Member {
  id: string | null;
  rank: number;
  actor: Actor<typeof nodeMachine>;
  inspection: Inspection;
  deliver: ((event: RelayConnectionEvent) => void) | null;
  frozen: boolean;
  /** The relay's liveness rule (machines/liveness.ts): answered the last heartbeat's ping, or joined since. */
  answered: boolean;
}

export class InProcessRing implements RingControl {
  private relay!: RelayActor;
  private relayInspection!: Inspection;
  private members: Member[] = [];
  private timers = new Set<NodeJS.Timeout>();
  /** Connections the relay machine has not named yet, by the handle given in `connect`. */
  private readonly connecting = new Map<number, Member>();
  private connections = 0;
  private nextRank: number;
  private seed = 1;
  private readonly relayTiming: RelayTiming;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly inspectUrl: string | undefined,
    private readonly timing: Partial<NodeTiming> = FAST_TIMING,
  ) {
    this.nextRank = 5;
    this.relayTiming = relayTimingFor(resolveTiming(timing).leaderTimeoutMs);
    this.startRelay();
    this.heartbeat = setInterval(() => this.pingAll(), this.relayTiming.heartbeatMs);
  }

  /** The relay's heartbeat: a member that did not answer the previous ping leaves; a running one answers at once, a frozen one on thaw. */
  private pingAll(): void {
    for (const member of this.members) {
      if (member.id === null || !this.ids().includes(member.id)) continue;
      const verdict = judgeHeartbeat(member.answered);
      if (verdict.kind === 'drop') {
        this.relay.send({ type: 'disconnect', id: member.id });
        continue;
      }
      member.answered = verdict.answered || !member.frozen;
    }
  }

  /** Adds nodes one after another (ring order = join order) and waits until each has joined. */
  async addNodes(ranks: number[]): Promise<void> {
    for (const rank of ranks) {
      const member = this.spawn(rank);
      await waitUntil(() => member.id !== null, 5000);
    }
  }

  ids(): string[] {
    return this.relay.getSnapshot().context.members.toArray();
  }

  /** The leader every live node names, or null while they disagree. */
  agreedLeader(): string | null {
    const live = this.members.filter((member) => !member.frozen && member.id !== null && this.ids().includes(member.id));
    const names = new Set(live.map((member) => member.actor.getSnapshot().context.leader?.id ?? null));
    const [only] = names;
    return names.size === 1 && only !== null && only !== undefined ? only : null;
  }

  // ---- RingControl ----

  async crash(id: string): Promise<void> {
    const member = this.byId(id);
    this.members = this.members.filter((other) => other !== member);
    member.deliver = null;
    member.actor.stop();
    member.inspection.stop();
    this.relay.send({ type: 'disconnect', id });
  }

  async freeze(id: string): Promise<void> {
    const member = this.byId(id);
    // It stops answering the relay's pings: the heartbeat drops it within a leader timeout.
    member.frozen = true;
  }

  async unfreeze(id: string): Promise<void> {
    const member = this.byId(id);
    member.frozen = false;
    // The ping it owed is answered as it wakes.
    member.answered = true;
    if (!this.ids().includes(id)) {
      member.deliver?.({ type: 'relay.closed', reason: 'evicted while frozen' });
      this.later(() => this.join(member), 50);
    }
  }

  async startElection(id: string): Promise<void> {
    this.byId(id).actor.send({ type: 'startElection' });
  }

  async addNode(options?: { rank?: number }): Promise<void> {
    this.spawn(options?.rank ?? this.nextRank++);
  }

  nodeCount(): number {
    return this.members.length;
  }

  async restartRelay(): Promise<void> {
    this.relay.stop();
    this.relayInspection.stop();
    for (const member of this.members) member.deliver?.({ type: 'relay.closed', reason: 'relay restarted' });
    this.startRelay();
    this.later(() => {
      for (const member of this.members) this.join(member);
    }, 100);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    clearInterval(this.heartbeat);
    for (const member of this.members) {
      member.actor.stop();
      member.inspection.stop();
    }
    this.members = [];
    this.relay.stop();
    this.relayInspection.stop();
  }

  // ---- the simulated transport ----

  private startRelay(): void {
    this.relayInspection = createInspection({ url: this.inspectUrl, name: 'relay', logger });
    const relay = createActor(relayMachine, {
      input: {
        maxMembers: 1000,
        forwardTimeoutMs: this.relayTiming.forwardTimeoutMs,
        timing: { leaderTimeoutMs: this.relayTiming.leaderTimeoutMs, heartbeatMs: this.relayTiming.heartbeatMs },
      },
      inspect: this.relayInspection.inspect,
    });
    relay.on('deliver', ({ to, frame }) => {
      const received = wireFrame(frame);
      for (const id of to) this.later(() => this.deliverTo(id, received), LATENCY_MS);
    });
    relay.on('admitted', ({ connection, id }) => {
      const member = this.connecting.get(connection);
      this.connecting.delete(connection);
      if (member) member.id = id;
    });
    relay.start();
    this.relay = relay;
  }

  private deliverTo(id: string, frame: ServerFrame): void {
    const member = this.members.find((other) => other.id === id);
    if (!member || member.frozen) return;
    member.deliver?.(frame as RelayConnectionEvent);
  }

  private spawn(rank: number): Member {
    const inspection = createInspection({ url: this.inspectUrl, name: `node rank ${rank}`, logger });
    const member: Member = { id: null, rank, actor: null as never, inspection, deliver: null, frozen: false, answered: ANSWERED_AT_JOIN };
    const connection = fromCallback<RelayCommand>(({ sendBack, receive }) => {
      member.deliver = (event) => sendBack(event);
      receive((command) => {
        if (member.frozen || member.id === null || !this.ids().includes(member.id)) return;
        const from = member.id;
        // The relay's ws answers pings at once; a node that drops or closes its link leaves.
        if (command.type === 'ping') this.later(() => member.deliver?.({ type: 'relay.pong', seq: command.seq }), 2 * LATENCY_MS);
        else if (command.type === 'send') this.later(() => this.relay.send({ type: 'frame', from, frame: command.frame }), LATENCY_MS);
        else this.relay.send({ type: 'disconnect', id: from });
      });
      this.later(() => this.join(member), LATENCY_MS);
      return () => {
        member.deliver = null;
      };
    });
    member.actor = createActor(nodeMachine.provide({ actors: { relayConnection: connection } }), {
      input: { rank, seed: this.seed++, timing: this.timing },
      inspect: inspection.inspect,
    });
    this.members.push(member);
    member.actor.start();
    return member;
  }

  private join(member: Member): void {
    if (!this.members.includes(member)) return;
    const connection = ++this.connections;
    this.connecting.set(connection, member);
    member.answered = ANSWERED_AT_JOIN;
    member.deliver?.({ type: 'relay.connecting' });
    this.relay.send({ type: 'connect', connection, resume: member.id, host: null });
  }

  private byId(id: string): Member {
    const member = this.members.find((other) => other.id === id);
    if (!member) throw new Error(`no node ${id} in this ring`);
    return member;
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

/** Polls `condition` until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  await waitFor(condition, what, { timeoutMs, intervalMs: 25 });
}

/** `ringleader inspector` as its own process (the built CLI: `npm run build` first). */
export interface InspectorProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything it wrote so far (pino JSON lines). */
  output(): string;
  /** True while the process runs. */
  alive(): boolean;
  stop(): Promise<void>;
}

export async function startInspectorProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<InspectorProcess> {
  // Only what the test says: none of this shell's settings for the inspector.
  const inherited = { ...process.env };
  for (const name of ['RING_TOKEN', 'HOST', 'INSPECTOR_ALLOWED_HOSTS', 'PORT', 'RELAY_URL', 'LOG_LEVEL']) delete inherited[name];
  const child = spawn(process.execPath, [DEFAULT_CLI_PATH, 'inspector', '--port', '0', ...args], {
    env: { ...inherited, LOG_PRETTY: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const started = await waitFor(() => /"url":"(http:\/\/[^"]+)"/.exec(output) ?? (alive() ? null : new Error(`ringleader inspector exited:\n${output}`)), 'the inspector to log its address', { timeoutMs: 20_000 });
  if (started instanceof Error) throw started;
  const url = started[1]!;
  return {
    url,
    port: Number(new URL(url).port),
    child,
    output: () => output,
    alive,
    async stop() {
      if (!alive()) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
