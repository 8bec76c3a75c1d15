/**
 * A ring of real node machines in this process (the library, `joinRing`), over loopback to a
 * relay child process. It measures what a user of the library would see: the time from one
 * node's `startElection()` (or a crash) until every node's `onNewLeader` has named the new leader.
 *
 * Crashes: `joinRing` has no "crash" (its `leave()` hands leadership off first, which is the
 * polite path, not a failure), so a victim is built from the same public pieces `joinRing` uses,
 * the node machine and `createRelayConnection`, and "crashes" by closing its socket with no
 * hand-off: to the relay and the other nodes that is exactly a dead process.
 */
import { checkAgreement } from '../runtime/agreement.js';
import { pino } from 'pino';
import { createActor } from 'xstate';
import { nodeMachine, resolveTiming, type NodeActor } from '../machines/nodeMachine.js';
import type { LeaderInfo } from '../machines/protocol.js';
import { DEFAULT_BACKOFF } from '../node/backoff.js';
import { joinRing, type RingNode, type RingTiming } from '../node/joinRing.js';
import { createRelayConnection, type RelayLink } from '../node/relayConnection.js';
import type { Logger } from '../runtime/logger.js';
import { sleep, waitUntil } from './stats.js';
import { withTimeout } from './wireClients.js';

/** One logger for every in-process node: warnings only, so logging costs nothing per frame. */
export const quietLogger: Logger = pino({ level: 'warn', base: { component: 'bench-node' } }, process.stderr);

interface Member {
  /** The leader this member's `onNewLeader` last named. */
  leader: LeaderInfo | null;
  id(): string;
}

/** A member that can die without a hand-off; see the module comment. */
export interface CrashableNode {
  readonly actor: NodeActor;
  id(): string;
  leader(): LeaderInfo | null;
  crash(): Promise<void>;
}

/** How long a member may take to be welcomed: a big ring on a loaded machine can take longer than the default 10 s. */
const JOIN_TIMEOUT_MS = 120_000;

export async function joinCrashable(relay: string, rank: number, timing: Partial<RingTiming>, logger = quietLogger): Promise<CrashableNode> {
  // The ring's own timing, as joinRing resolves it: the lease (the upgrade's deadline too) and the
  // reconnect backoff. With the defaults, a crashable joining a ring of 1,000 kept timing out.
  const { reconnectInitialDelayMs, reconnectMaxDelayMs, ...nodeTiming } = timing;
  let lastFailure = '';
  const connection = createRelayConnection({
    onAttemptFailed: (failure) => (lastFailure = failure.detail),
    url: relay,
    logger,
    heartbeatTimeoutMs: resolveTiming(nodeTiming).heartbeatTimeoutMs,
    backoff: {
      initialDelayMs: reconnectInitialDelayMs ?? DEFAULT_BACKOFF.initialDelayMs,
      maxDelayMs: reconnectMaxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs,
    },
  });
  const link: RelayLink = connection.link;
  const actor = createActor(nodeMachine.provide({ actors: { relayConnection: connection.logic } }), {
    input: { rank, seed: rank, timing: nodeTiming },
  });
  actor.start();
  try {
    await waitUntil(() => actor.getSnapshot().context.id !== null && actor.getSnapshot().matches('online'), {
      timeoutMs: JOIN_TIMEOUT_MS,
      what: 'the crashable node to be welcomed',
      intervalMs: 2,
    });
  } catch (error) {
    await link.close();
    actor.stop();
    throw new Error(`${(error as Error).message}${lastFailure ? ` (last attempt: ${lastFailure})` : ''}`);
  }
  return {
    actor,
    id: () => actor.getSnapshot().context.id ?? '',
    leader: () => actor.getSnapshot().context.leader,
    async crash() {
      await link.close();
      actor.stop();
    },
  };
}

export class InProcessRing {
  readonly nodes: RingNode[] = [];
  private readonly members: Member[] = [];
  /** Called on every leader a member names; the current trial's watcher. */
  private onLeader: (() => void) | null = null;
  private crashables: CrashableNode[] = [];

  constructor(
    /** One relay, or several on one store (`joinRing` tries them in turn and follows 307s). */
    readonly relayUrl: string | string[],
    readonly timing: Partial<RingTiming> = {},
  ) {}

  get size(): number {
    return this.members.length;
  }

  /** Joins `count` library nodes with ranks `firstRank`, `firstRank + 1`, …, `parallel` joins at a time. */
  async grow(count: number, options: { firstRank?: number; parallel?: number; progress?: (joined: number) => void } = {}): Promise<void> {
    const { firstRank = this.nodes.length, parallel = 20 } = options;
    for (let start = 0; start < count; start += parallel) {
      const batch = Math.min(parallel, count - start);
      const joined = await Promise.all(
        Array.from({ length: batch }, (_, offset) =>
          joinRing({
            relay: this.relayUrl,
            rank: firstRank + start + offset,
            seed: firstRank + start + offset,
            timing: this.timing,
            logger: quietLogger,
            connectTimeoutMs: JOIN_TIMEOUT_MS,
          }),
        ),
      );
      for (const node of joined) this.watch(node);
      options.progress?.(this.nodes.length);
    }
  }

  private watch(node: RingNode): void {
    this.nodes.push(node);
    const member: Member = { leader: null, id: () => node.id };
    this.members.push(member);
    node.onNewLeader((leader) => {
      member.leader = leader;
      this.onLeader?.();
    });
  }

  /** Adds a crashable member; it takes part like any other and is watched through its machine's events. */
  async addCrashable(rank: number): Promise<CrashableNode> {
    if (typeof this.relayUrl !== 'string') throw new Error('crashable members join one relay');
    const node = await joinCrashable(this.relayUrl, rank, this.timing);
    const member: Member = { leader: node.leader(), id: () => node.id() };
    this.members.push(member);
    this.crashables.push(node);
    node.actor.on('leaderChanged', (event) => {
      member.leader = event.leader;
      this.onLeader?.();
    });
    return node;
  }

  /** The leader every member names (runtime/agreement.ts), or null while they differ. */
  agreement(): LeaderInfo | null {
    const verdict = checkAgreement(
      this.members.map((member) => ({ id: member.id(), leader: member.leader, leading: member.leader?.id === member.id() })),
    );
    return verdict.agreed ? verdict.leader : null;
  }

  async waitForAgreement(timeoutMs = 120_000): Promise<LeaderInfo> {
    return waitUntil(() => this.agreement(), { timeoutMs, what: `${this.size} in-process nodes to agree on a leader`, intervalMs: 10 });
  }

  /**
   * Runs `act` and resolves with the milliseconds until every member names one leader of a term
   * above `aboveTerm` (checked on every leader event, so the figure has no polling in it).
   */
  timeAgreementAfter(act: () => void | Promise<void>, aboveTerm: number, timeoutMs = 60_000): Promise<{ ms: number; leader: LeaderInfo }> {
    const agreed = new Promise<{ ms: number; leader: LeaderInfo }>((resolve) => {
      this.onLeader = () => {
        const leader = this.agreement();
        if (leader !== null && leader.term > aboveTerm) {
          const ms = performance.now() - start;
          this.onLeader = null;
          resolve({ ms, leader });
        }
      };
    });
    const start = performance.now();
    void act();
    return withTimeout(agreed, timeoutMs, `agreement of ${this.size} nodes above term ${aboveTerm}`).finally(() => {
      this.onLeader = null;
    });
  }

  /** One election lap started by node `initiator` (index into `nodes`). */
  async election(initiator: number): Promise<{ ms: number; leader: LeaderInfo }> {
    const before = await this.waitForAgreement();
    return this.timeAgreementAfter(() => this.nodes[initiator]!.startElection(), before.term);
  }

  /** Removes a crashed member from the agreement check (it can no longer name anyone). */
  forget(node: CrashableNode): void {
    const index = this.crashables.indexOf(node);
    if (index !== -1) this.crashables.splice(index, 1);
    const memberIndex = this.members.findIndex((member) => member.id() === node.id());
    if (memberIndex !== -1) this.members.splice(memberIndex, 1);
  }

  async close(): Promise<void> {
    this.onLeader = null;
    await Promise.all(this.crashables.map((node) => node.crash()));
    // Followers first, the leader last: alone by then, it leaves without a hand-off lap.
    const leaders = this.nodes.filter((node) => node.leader()?.id === node.id);
    const followers = this.nodes.filter((node) => !leaders.includes(node));
    const leave = (node: RingNode) => Promise.race([node.leave(), sleep(5000)]);
    await Promise.all(followers.map(leave));
    await Promise.all(leaders.map(leave));
  }
}
