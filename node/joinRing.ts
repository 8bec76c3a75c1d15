/**
 * The embeddable library: `joinRing()` makes this process a ring member and tells it, through
 * callbacks or an async iterator, when it leads, when it stops, and who leads otherwise.
 *
 * Everything here is built on the node machine's emitted events and snapshots; the election
 * rule stays in machines/. Emitted events are queued and handed to user code only after the
 * machine's snapshot is updated, so a callback that reads `node.isLeader()` or `node.leader()`
 * sees the state the event describes.
 */
import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createActor, type InspectionEvent } from 'xstate';
import { nodeMachine, reportedLeaderOf, resolveTiming as resolveNodeTiming, type NodeActor, type NodeEmitted, type NodeTiming, type RelayCommand } from '../machines/nodeMachine.js';
import { isMeta, isValidClientId, isValidHost, isValidRingName, LIMITS, type ClientId, type LeaderInfo, type Meta } from '../machines/protocol.js';
import { processFields, type Logger } from '../runtime/logger.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { badRelayUrl, maskToken, RelayConnectionError } from './connectFailure.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, JoinDeadline } from './joinDeadline.js';
import { DueClock } from './dueClock.js';
import { LeaseEnd } from './leaseEnd.js';
import { LeaderFeed } from './leaderFeed.js';
import { Listeners, type Unsubscribe } from './listeners.js';
import { createNodeLog } from './nodeLog.js';
import { createRelayConnection, type RelayLink } from './relayConnection.js';
import { relayUrls } from './relayList.js';
import { connectionSlot } from './sharedMachine.js';

export type { Unsubscribe };

/** The node machine's timers (its lease included: `heartbeatTimeoutMs`) plus the connection's. */
export interface RingTiming extends NodeTiming {
  /** First reconnect delay; each retry doubles it, up to `reconnectMaxDelayMs`, with jitter. */
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
}

/** Any of the timings; the ones left out (or undefined) keep their defaults. */
export type RingTimingOptions = { [Key in keyof RingTiming]?: RingTiming[Key] | undefined };

export { DEFAULT_CONNECT_TIMEOUT_MS };

/** Every optional field also takes `undefined` (= left out), so `token: process.env.RING_TOKEN` is fine. */
export interface JoinRingOptions {
  /**
   * The relay's address, e.g. `ws://relay:8080`; or the addresses of several relays on one store
   * (`['ws://r1:8080', 'ws://r2:8080']`), tried in turn, following a standby's redirect to the
   * relay that serves the ring (node/relayList.ts).
   */
  relay: string | readonly string[];
  /**
   * The ring to join, when one relay serves several: `jobs` joins `ws://relay:8080/rings/jobs`.
   * Default: the relay's default ring. 1-64 of A-Z a-z 0-9 . _ -
   */
  ring?: string | undefined;
  /**
   * This node's own id, e.g. `'worker-3'`, instead of one the relay picks (`n1`, `n2`, ...): it
   * joins under it and keeps it across reconnects. If a live member already holds it, `joinRing`
   * rejects with a `RelayConnectionError` of code `id_taken` (never a silently different id).
   * 1-64 of A-Z a-z 0-9 . _ : -, not `next` or `all`. Default: the relay's.
   */
  id?: string | undefined;
  /**
   * What this node says about itself, handed to every member and observer while it leads
   * (`leader().meta`, `onNewLeader(({ meta }) => ...)`): where to reach it, say
   * `{ url: 'http://10.0.0.5:8080' }`. A JSON object of at most 1 KB (URL-encoded).
   */
  meta?: Meta | undefined;
  /** This node's rank: the highest (rank, id) of an election wins. Default: random. */
  rank?: number | undefined;
  /** The ring's shared secret (RING_TOKEN), if the relay requires one. */
  token?: string | undefined;
  /** A pino logger; default: warnings and errors to stderr. */
  logger?: Logger | undefined;
  /** Aborting it leaves the ring, as `node.leave()` does, or cancels a join still waiting. */
  signal?: AbortSignal | undefined;
  /**
   * How long to keep trying until the relay welcomes this node, in ms; then `joinRing` rejects
   * with a `RelayConnectionError` saying what went wrong. 0 keeps trying for ever. Default 10000.
   * It bounds the first join only: a node that has joined reconnects for as long as it takes.
   */
  connectTimeoutMs?: number | undefined;
  timing?: RingTimingOptions | undefined;
  /** XState inspection hook (e.g. from runtime/inspection.ts) for the node machine. */
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /** Seed of the machine's timer jitter. Default: random. */
  seed?: number | undefined;
}

/** Every key of the options, so a misspelt one from JavaScript is an error, as it is in TypeScript. */
const OPTION_NAMES: Record<keyof JoinRingOptions, true> = {
  relay: true,
  ring: true,
  id: true,
  meta: true,
  rank: true,
  token: true,
  logger: true,
  signal: true,
  connectTimeoutMs: true,
  timing: true,
  inspect: true,
  seed: true,
};
const TIMING_NAMES: Record<keyof RingTiming, true> = {
  checkIntervalMs: true,
  leaderTimeoutMs: true,
  electionTimeoutMs: true,
  electionHopMs: true,
  jitter: true,
  heartbeatTimeoutMs: true,
  reconnectInitialDelayMs: true,
  reconnectMaxDelayMs: true,
};

/** Handed to `onStartedLeading`: the term is the fencing token; `signal` aborts the moment leadership ends. */
export interface Leadership {
  term: number;
  signal: AbortSignal;
}

export interface LeadershipEnded {
  term: number;
}

/** How a node's membership ended: `node.closed` resolves with it. */
export type CloseOutcome = { reason: 'left' } | { reason: 'fatal'; error: Error };

export interface RingNode {
  /** This node's id: the `id` option, or the one the relay gave (kept across reconnects when the relay grants `resume`). */
  readonly id: ClientId;
  readonly rank: number;
  /** True while this node leads and holds its lease (a round trip to the relay confirmed within `heartbeatTimeoutMs`). */
  isLeader(): boolean;
  /** The leader this node knows, while it is a member of the ring (or this node); null while unknown or gone. */
  leader(): LeaderInfo | null;
  /** The term of the newest leader this node knows (0 before any): never decreases. When leading, the fencing token. */
  term(): number;
  /** The ring's members in ring order, as last heard from the relay. */
  members(): ClientId[];
  /** Called each time this node becomes leader; also at once if it leads when you subscribe. */
  onStartedLeading(callback: (leadership: Leadership) => unknown): Unsubscribe;
  /** Called each time this node's leadership ends (after its `signal` aborted). */
  onStoppedLeading(callback: (ended: LeadershipEnded) => unknown): Unsubscribe;
  /** Called for each new leader (this node included); also at once with the current one if known. */
  onNewLeader(callback: (leader: LeaderInfo) => unknown): Unsubscribe;
  /** The same changes as `onNewLeader`, as an async iterator; it ends when the node leaves. */
  leaders(): AsyncIterableIterator<LeaderInfo>;
  /**
   * Hands leadership off: the ring elects another leader at once (one lap), this node stays a
   * member. Resolves with the new leader; if this node does not lead, resolves with the current
   * one. Rejects when there is nobody to hand off to.
   */
  resign(): Promise<LeaderInfo | null>;
  /**
   * Waits until this node leads, in the blocking style of etcd's `Campaign` and client-go's `Run`:
   * resolves with `{ term, signal }` (at once if it leads now; `signal` aborts when that leadership
   * ends). Rejects when `options.signal` aborts (with its reason) or when the node leaves the ring.
   * The node stands in every election anyway; `campaign` only waits for the outcome.
   */
  campaign(options?: { signal?: AbortSignal | undefined }): Promise<Leadership>;
  /** Asks for an election now (what the inspector's "start election" button and SIGUSR2 do). */
  startElection(): void;
  /** Hands leadership off if held, then closes the connection. Idempotent. */
  leave(): Promise<void>;
  /** Resolves when this node is no longer a member: it left, or the relay refused it for good. */
  readonly closed: Promise<CloseOutcome>;
}

/** The reason a leadership `signal` carries when it aborts. */
export class LeadershipLostError extends Error {
  override name = 'LeadershipLostError';
  constructor(readonly term: number) {
    super(`leadership of term ${term} ended`);
  }
}

/** A leader's lease, read by a guard that must act when it ends (`ringleader run`); not part of the package's API. */
export interface LeaseView {
  /** The lease `W` (`heartbeatTimeoutMs`): how long a leader holds without a confirmed round trip to the relay. */
  readonly lengthMs: number;
  /**
   * While this node leads: the `performance.now()` time at which its lease ends unless a later
   * round trip is confirmed (the confirmed ping's send time + `W`), when the machine steps it
   * down. Null while it does not lead.
   */
  endsAt(): number | null;
  /** Called after each step that confirmed a later round trip (the lease end moved on). */
  onConfirmed(listener: () => void): Unsubscribe;
}

/** The lease of a node made by `joinRing`. */
export function leaseOf(node: RingNode): LeaseView {
  if (!(node instanceof RingMember)) throw new TypeError('leaseOf: not a node made by joinRing');
  return node.leaseView();
}

/** Joins the ring at `options.relay` and resolves once the relay has welcomed this node. */
export async function joinRing(options: JoinRingOptions): Promise<RingNode> {
  const member = new RingMember(options);
  await member.welcomed;
  return member;
}

/** The timings the caller set (undefined ones left out). */
function givenTiming(timing: RingTimingOptions | undefined): Partial<RingTiming> {
  return Object.fromEntries(Object.entries(timing ?? {}).filter(([, value]) => value !== undefined));
}

function resolveTiming(timing: RingTimingOptions | undefined): RingTiming {
  const given = givenTiming(timing);
  const { reconnectInitialDelayMs, reconnectMaxDelayMs, ...node } = given;
  return {
    ...resolveNodeTiming(node),
    reconnectInitialDelayMs: reconnectInitialDelayMs ?? DEFAULT_BACKOFF.initialDelayMs,
    reconnectMaxDelayMs: reconnectMaxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs,
  };
}

/** This machine's hostname as the relay takes it (`?host=`), or nothing when it has characters a hostname cannot. */
function hostLabel(): string | undefined {
  const name = hostname();
  return isValidHost(name) ? name : undefined;
}

/** Bad options fail before anything starts: a TypeError, or a RelayConnectionError `bad-url`. */
function validate(options: JoinRingOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('joinRing: options must be an object with at least `relay`');
  rejectUnknownKeys(options, OPTION_NAMES, 'option');
  if (options.timing !== undefined) {
    if (typeof options.timing !== 'object' || options.timing === null) throw new TypeError('joinRing: timing must be an object');
    rejectUnknownKeys(options.timing, TIMING_NAMES, 'timing option');
    for (const [name, value] of Object.entries(options.timing)) {
      if (value !== undefined) checkTiming(name as keyof RingTiming, value);
    }
  }
  if (relayUrls(options.relay) === null) throw badRelayUrl(options.relay);
  if (options.rank !== undefined && (!Number.isSafeInteger(options.rank) || options.rank < 0)) {
    throw new TypeError(`joinRing: rank must be a non-negative integer, got ${String(options.rank)}`);
  }
  const timeout = options.connectTimeoutMs;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0)) {
    throw new TypeError(`joinRing: connectTimeoutMs must be a number of ms (0 = no limit), got ${String(timeout)}`);
  }
  checkRingAndMeta('joinRing', options);
  checkId('joinRing', options.id);
}

/** An own id as the relay takes it (`?id=`), checked before anything starts (shared with the CLI). */
export function checkId(caller: string, id: unknown): void {
  if (id !== undefined && !isValidClientId(id)) {
    throw new TypeError(`${caller}: id must be 1-64 of A-Z a-z 0-9 . _ : - and not "next" or "all", got ${JSON.stringify(id)}`);
  }
}

/** `ring` and `meta` as the relay takes them, checked before anything starts (shared with observeRing). */
export function checkRingAndMeta(caller: string, options: { ring?: unknown; meta?: unknown }): void {
  if (options.ring !== undefined && !isValidRingName(options.ring)) {
    throw new TypeError(`${caller}: ring must be 1-64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(options.ring)}`);
  }
  if (options.meta === undefined) return;
  if (!isMeta(options.meta)) throw new TypeError(`${caller}: meta must be a plain object of JSON values, e.g. { url: 'http://10.0.0.5:8080' }`);
  let encoded: string;
  try {
    encoded = encodeURIComponent(JSON.stringify(options.meta));
  } catch (error) {
    throw new TypeError(`${caller}: meta must be JSON: ${(error as Error).message}`);
  }
  if (encoded.length > LIMITS.metaEncodedBytes) {
    throw new TypeError(`${caller}: meta is ${encoded.length} bytes URL-encoded; the relay takes at most ${LIMITS.metaEncodedBytes}`);
  }
}

/** `jitter` is a fraction below 1; `electionHopMs` may be 0 (no allowance per member); the rest are positive. */
function checkTiming(name: keyof RingTiming, value: unknown): void {
  const number = typeof value === 'number' && Number.isFinite(value) ? value : Number.NaN;
  if (name === 'jitter' && number >= 0 && number < 1) return;
  if (name === 'electionHopMs' && number >= 0) return;
  if (name !== 'jitter' && name !== 'electionHopMs' && number > 0) return;
  const expected = name === 'jitter' ? 'a fraction from 0 up to (not including) 1' : `a ${name === 'electionHopMs' ? 'non-negative' : 'positive'} number of ms`;
  throw new TypeError(`joinRing: timing.${name} must be ${expected}, got ${String(value)}`);
}

function rejectUnknownKeys(given: object, known: Record<string, true>, what: string): void {
  for (const key of Object.keys(given)) {
    if (Object.hasOwn(known, key)) continue;
    const names = Object.keys(known);
    const guess = names.find((name) => resembles(key, name));
    throw new TypeError(`joinRing: unknown ${what} "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; known: ${names.join(', ')}`);
  }
}

/** A unit left off, the same letters in another order, or one letter added, dropped or changed. */
function resembles(typo: string, name: string): boolean {
  const a = typo.toLowerCase();
  const b = name.toLowerCase();
  if (a.length >= 4 && b.startsWith(a)) return true;
  if (a.length === b.length && [...a].sort().join('') === [...b].sort().join('')) return true;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  if (long.length - short.length > 1) return false;
  let i = 0;
  while (i < short.length && short[i] === long[i]) i += 1;
  const rest = short.length === long.length ? short.slice(i + 1) : short.slice(i);
  return rest === long.slice(i + 1);
}

function defaultLogger(): Logger {
  return pino({ level: 'warn', base: processFields('ringleader') }, process.stderr);
}

/** Every member of this process runs the same provided machine, each with its own connection (node/sharedMachine.ts). */
const relaySlot = connectionSlot<RelayCommand>();
const memberMachine = nodeMachine.provide({ actors: { relayConnection: relaySlot.logic } });

type Watcher = (event: NodeEmitted | { type: 'finished' }) => void;

class RingMember implements RingNode {
  readonly rank: number;
  readonly closed: Promise<CloseOutcome>;
  readonly welcomed: Promise<void>;

  private readonly logger: Logger;
  private readonly timing: RingTiming;
  private readonly actor: NodeActor;
  private readonly clock = new DueClock();
  private readonly link: RelayLink;
  private readonly logEvent: (event: NodeEmitted) => void;
  private readonly started: Listeners<Leadership>;
  private readonly stopped: Listeners<LeadershipEnded>;
  private readonly feed: LeaderFeed;
  private readonly watchers = new Set<Watcher>();
  private readonly leaseEnd: LeaseEnd;
  private readonly leaseConfirmed = new Set<() => void>();

  private pending: NodeEmitted[] = [];
  private flushing = false;
  private joined = false;
  private finished = false;
  private leadership: { term: number; controller: AbortController } | null = null;
  /** The highest leader term this node has known: `term()` never goes back, even when a remembered leadership is discarded. */
  private highestTerm = 0;
  private leaving: Promise<void> | null = null;
  private resolveLeft!: () => void;
  private readonly left = new Promise<void>((resolve) => (this.resolveLeft = resolve));
  private resigning: Promise<LeaderInfo | null> | null = null;
  private settleWelcome: { resolve: () => void; reject: (error: unknown) => void };
  private resolveClosed!: (outcome: CloseOutcome) => void;
  private readonly detachSignal: () => void;
  private readonly deadline: JoinDeadline;

  constructor(private readonly options: JoinRingOptions) {
    validate(options);
    this.logger = options.logger ?? defaultLogger();
    this.rank = options.rank ?? randomInt(0, 1_000_000);
    this.timing = resolveTiming(options.timing);
    this.leaseEnd = new LeaseEnd(this.timing.heartbeatTimeoutMs);
    this.started = new Listeners('onStartedLeading', this.logger);
    this.stopped = new Listeners('onStoppedLeading', this.logger);
    this.feed = new LeaderFeed(this.logger);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    let settle!: typeof this.settleWelcome;
    this.welcomed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.settleWelcome = settle;
    this.logEvent = createNodeLog(this.logger, () => this.logFields());
    // Checked in joinRing() before this runs: a URL or a non-empty list of them.
    const relays = relayUrls(options.relay)!;
    this.deadline = new JoinDeadline(relays.join(','), Boolean(options.token));

    const connection = createRelayConnection({
      url: relays,
      token: options.token,
      join: { ring: options.ring, id: options.id, host: hostLabel(), meta: options.meta },
      logger: this.logger,
      heartbeatTimeoutMs: this.timing.heartbeatTimeoutMs,
      backoff: { initialDelayMs: this.timing.reconnectInitialDelayMs, maxDelayMs: this.timing.reconnectMaxDelayMs },
      logFields: () => this.logFields(),
      onWelcome: (frame, resumed) => {
        // Logged before the machine sees the welcome, so it precedes any line the welcome causes.
        const fields = { ...this.logFields(), clientId: frame.clientId, memberCount: frame.members.length };
        if (!this.joined) this.logger.info(fields, 'node joined');
        else this.logger.info({ ...fields, resumed }, 'node rejoined');
      },
      onFatal: (error) => this.fail(error),
      onAttemptFailed: (failure) => this.deadline.attemptFailed(failure),
      // Timers that fell due while the event loop was busy fire before the next fact arrives.
      beforeEvent: () => this.clock.runDue(),
    });
    this.link = connection.link;

    // Only the timings the caller gave: the machine resolves the rest, and a lease left out follows
    // the relay's leader timeout (welcome.timing) rather than being fixed at this node's.
    const { reconnectInitialDelayMs: _initial, reconnectMaxDelayMs: _max, ...nodeTiming } = givenTiming(options.timing);
    this.actor = createActor(memberMachine, {
      // The machine knows its own metadata (what the relay stamps on its announcements), so a lap
      // it completes and wins is reported at once, metadata included.
      input: { rank: this.rank, meta: options.meta, seed: options.seed ?? randomInt(0, 2 ** 31 - 1), timing: nodeTiming },
      clock: this.clock,
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    relaySlot.bind(this.actor, connection.callback);
    this.actor.on('*', (event) => {
      if (event.type === 'leaderChanged') this.highestTerm = Math.max(this.highestTerm, event.leader.term);
      if (event.type === 'timingRefused') {
        // After the machine's step: it is leaving (`left`), and finish() stops it.
        const error = new RelayConnectionError('timing', `joinRing: refusing the relay's timing: ${event.detail}`, { relay: maskToken(relays.join(',')) });
        queueMicrotask(() => this.finish({ reason: 'fatal', error }));
      }
      this.pending.push(event as NodeEmitted);
    });
    this.actor.subscribe({
      next: (snapshot) => {
        // First, so that the time noted is as close as can be to when the step armed its lease timer.
        const renewed = this.leaseEnd.observe(snapshot.context.pingSeq, snapshot.context.confirmedSeq, performance.now());
        if (!this.joined && snapshot.context.id !== null && snapshot.matches('online')) {
          this.joined = true;
          this.deadline.settle();
          this.settleWelcome.resolve();
        }
        this.flush();
        if (renewed) for (const listener of [...this.leaseConfirmed]) listener();
        if (snapshot.status === 'done') this.resolveLeft();
      },
      error: (error) => {
        this.logger.error({ ...this.logFields(), err: error }, 'node machine failed');
        this.finish({ reason: 'fatal', error: error instanceof Error ? error : new Error(String(error)) });
      },
    });

    const signal = options.signal;
    const onAbort = () => {
      if (!this.joined) this.settleWelcome.reject(signal?.reason ?? new Error('joinRing aborted'));
      void this.leave();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.detachSignal = () => signal?.removeEventListener('abort', onAbort);

    if (signal?.aborted) {
      this.settleWelcome.reject(signal.reason ?? new Error('joinRing aborted'));
      this.finish({ reason: 'left' });
      return;
    }
    this.actor.start();
    // No welcome within `connectTimeoutMs`: stop trying, and say what the attempts ran into.
    this.deadline.start(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, (error) => this.fail(error));
  }

  get id(): ClientId {
    return this.actor.getSnapshot().context.id ?? '';
  }

  isLeader(): boolean {
    if (this.finished) return false;
    // A lease that ran out while the event loop was busy ends now, before the answer.
    this.clock.runDue();
    return this.actor.getSnapshot().matches({ online: 'leader' });
  }

  leader(): LeaderInfo | null {
    return reportedLeaderOf(this.actor.getSnapshot().context);
  }

  term(): number {
    return this.highestTerm;
  }

  members(): ClientId[] {
    return [...this.actor.getSnapshot().context.members];
  }

  onStartedLeading(callback: (leadership: Leadership) => unknown): Unsubscribe {
    const unsubscribe = this.started.add(callback);
    if (this.leadership) this.started.call(callback, { term: this.leadership.term, signal: this.leadership.controller.signal });
    return unsubscribe;
  }

  onStoppedLeading(callback: (ended: LeadershipEnded) => unknown): Unsubscribe {
    return this.stopped.add(callback);
  }

  onNewLeader(callback: (leader: LeaderInfo) => unknown): Unsubscribe {
    return this.feed.onNewLeader(callback);
  }

  leaders(): AsyncIterableIterator<LeaderInfo> {
    return this.feed.leaders();
  }

  campaign(options: { signal?: AbortSignal | undefined } = {}): Promise<Leadership> {
    const { signal } = options;
    if (this.finished) return Promise.reject(new Error('campaign: this node has left the ring'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.leadership) return Promise.resolve({ term: this.leadership.term, signal: this.leadership.controller.signal });
    return new Promise<Leadership>((resolve, reject) => {
      const done = () => {
        offStarted();
        this.watchers.delete(watcher);
        signal?.removeEventListener('abort', onAbort);
      };
      const offStarted = this.started.add((leadership) => {
        done();
        resolve(leadership);
      });
      const watcher: Watcher = (event) => {
        if (event.type !== 'finished') return;
        done();
        reject(new Error('campaign: this node left the ring before it was elected'));
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      this.watchers.add(watcher);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  startElection(): void {
    if (!this.finished) this.actor.send({ type: 'startElection' });
  }

  resign(): Promise<LeaderInfo | null> {
    if (this.finished) return Promise.reject(new Error('resign: this node has left the ring'));
    const snapshot = this.actor.getSnapshot();
    if (this.resigning) return this.resigning;
    if (!snapshot.matches({ online: 'leader' })) return Promise.resolve(snapshot.context.leader);
    if (!snapshot.can({ type: 'resign' })) return Promise.reject(new Error('resign: no other member to hand leadership to'));
    this.resigning = new Promise<LeaderInfo | null>((resolve, reject) => {
      const watcher: Watcher = (event) => {
        if (event.type === 'leaderChanged' && event.leader.id !== this.id) done(() => resolve(event.leader));
        else if (event.type === 'leadershipAcquired') done(() => reject(new Error('resign: the hand-off failed and this node was elected again')));
        else if (event.type === 'finished') done(() => reject(new Error('resign: this node left the ring before the hand-off completed')));
      };
      const done = (settle: () => void) => {
        this.watchers.delete(watcher);
        this.resigning = null;
        settle();
      };
      this.watchers.add(watcher);
      this.logger.info(this.logFields(), 'resigning leadership');
      this.actor.send({ type: 'resign' });
    });
    return this.resigning;
  }

  leave(): Promise<void> {
    this.leaving ??= this.leaveNow();
    return this.leaving;
  }

  /** The machine decides how to leave (a leader hands off first, within a time limit); this waits for it and the socket. */
  private async leaveNow(): Promise<void> {
    if (this.finished) return;
    if (this.actor.getSnapshot().matches({ online: 'leader' })) this.logger.info(this.logFields(), 'handing leadership off before leaving');
    this.actor.send({ type: 'leave' });
    await this.left;
    await this.link.close();
    this.logger.info(this.logFields(), 'node left');
    this.finish({ reason: 'left' });
  }

  /** See `leaseOf`. */
  leaseView(): LeaseView {
    return {
      lengthMs: this.timing.heartbeatTimeoutMs,
      endsAt: () => (this.isLeader() ? this.leaseEnd.endsAt() : null),
      onConfirmed: (listener) => {
        this.leaseConfirmed.add(listener);
        return () => this.leaseConfirmed.delete(listener);
      },
    };
  }

  /**
   * The relay refused this node for good, or the first join ran out of time. Before the welcome
   * `joinRing` rejects with the error: the caller handles it, so it is only a debug line here.
   * A member that had joined learns it from `closed`, which nobody may be awaiting: an error line.
   */
  private fail(error: RelayConnectionError): void {
    if (this.finished) return;
    const fields = { ...this.logFields(), relay: error.relay, code: error.code, status: error.status };
    if (this.joined) this.logger.error(fields, `left the ring: ${error.message}`);
    else this.logger.debug(fields, `join failed: ${error.message}`);
    this.finish({ reason: 'fatal', error });
  }

  private finish(outcome: CloseOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.deadline.settle();
    this.detachSignal();
    void this.link.close();
    this.flush();
    this.actor.stop();
    this.endLeadership();
    if (!this.joined) this.settleWelcome.reject(outcome.reason === 'fatal' ? outcome.error : new Error('left before joining'));
    for (const watcher of [...this.watchers]) watcher({ type: 'finished' });
    this.feed.end();
    this.resolveClosed(outcome);
  }

  private logFields(): { clientId: ClientId | null; rank: number; term: number } {
    const context = this.actor?.getSnapshot().context;
    return { clientId: context?.id ?? null, rank: this.rank, term: context?.term ?? 0 };
  }

  /** Hands queued machine events to logs and user code, in the order the machine emitted them. */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let event = this.pending.shift(); event !== undefined; event = this.pending.shift()) {
        this.logEvent(event);
        this.dispatch(event);
      }
    } finally {
      this.flushing = false;
    }
  }

  private dispatch(event: NodeEmitted): void {
    switch (event.type) {
      case 'leaderChanged':
        this.feed.push(event.leader);
        break;
      case 'leadershipAcquired':
        this.beginLeadership(event.term);
        break;
      case 'leadershipLost':
        this.endLeadership();
        break;
    }
    if (this.watchers.size > 0) for (const watcher of [...this.watchers]) watcher(event);
  }

  private beginLeadership(term: number): void {
    if (this.leadership) this.endLeadership();
    const controller = new AbortController();
    this.leadership = { term, controller };
    this.started.emit({ term, signal: controller.signal });
  }

  private endLeadership(): void {
    if (!this.leadership) return;
    const { term, controller } = this.leadership;
    this.leadership = null;
    controller.abort(new LeadershipLostError(term));
    this.stopped.emit({ term });
  }
}
