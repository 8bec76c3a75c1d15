/**
 * `observeRing()`: watch who leads a ring without standing in it (`?role=observer`). The relay
 * sends an observer `welcome`, `ring` and `newLeader` and nothing else; it is never in ring
 * order, never handed an election frame, never elected. The same leader callbacks as a member:
 * `leader()`, `onNewLeader`, `leaders()`.
 */
import { pino } from 'pino';
import { createActor } from 'xstate';
import { observerMachine, watchedLeaderOf, type ObserverActor, type ObserverEmitted } from '../machines/observerMachine.js';
import type { RelayCommand } from '../machines/nodeMachine.js';
import type { ClientId, LeaderInfo } from '../machines/protocol.js';
import { DEFAULT_LEADER_TIMEOUT_MS, leaseFor } from '../machines/timing.js';
import { processFields, type Logger } from '../runtime/logger.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { badRelayUrl, type RelayConnectionError } from './connectFailure.js';
import { DueClock } from './dueClock.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, JoinDeadline } from './joinDeadline.js';
import { checkRingAndMeta } from './joinRing.js';
import { LeaderFeed } from './leaderFeed.js';
import type { Unsubscribe } from './listeners.js';
import { createRelayConnection, type RelayLink } from './relayConnection.js';
import { relayUrls } from './relayList.js';
import { connectionSlot } from './sharedMachine.js';

export interface ObserveRingOptions {
  /** The relay's address, e.g. `ws://relay:8080`, or several relays on one store, tried in turn (as for joinRing). */
  relay: string | readonly string[];
  /** The ring to watch (default: the relay's default ring). */
  ring?: string | undefined;
  /** The ring's shared secret (RING_TOKEN), if the relay requires one. */
  token?: string | undefined;
  /** A pino logger; default: warnings and errors to stderr. */
  logger?: Logger | undefined;
  /** Aborting it stops watching, as `observer.close()` does, or cancels a join still waiting. */
  signal?: AbortSignal | undefined;
  /** How long to keep trying until the relay welcomes the observer (ms; 0 = for ever). Default 10000. */
  connectTimeoutMs?: number | undefined;
  /** `LEADER_TIMEOUT_MS` of the ring: the observer's lease on its link is a third of it. Default 5000. */
  leaderTimeoutMs?: number | undefined;
}

export interface RingObserver {
  /** The id the relay gave this observer (ids of observers and members never collide). */
  readonly id: ClientId;
  /** The leader the ring names now, or null while none is known (or it left and none is elected yet). */
  leader(): LeaderInfo | null;
  /** The ring's members in ring order. */
  members(): ClientId[];
  /** Called for each new leader; also at once with the current one if known. */
  onNewLeader(callback: (leader: LeaderInfo) => unknown): Unsubscribe;
  /** The same changes as an async iterator; it ends when the observer closes. */
  leaders(): AsyncIterableIterator<LeaderInfo>;
  /** Stops watching and closes the connection. Idempotent. */
  close(): Promise<void>;
  /** Resolves once the observer is closed: by `close()`, or because the relay refused it for good. */
  readonly closed: Promise<{ reason: 'closed' } | { reason: 'fatal'; error: Error }>;
}

/** One provided machine for every observer of this process (node/sharedMachine.ts). */
const relaySlot = connectionSlot<RelayCommand>();
const watcherMachine = observerMachine.provide({ actors: { relayConnection: relaySlot.logic } });

const OPTION_NAMES = new Set(['relay', 'ring', 'token', 'logger', 'signal', 'connectTimeoutMs', 'leaderTimeoutMs']);

/** Starts watching the ring at `options.relay` and resolves once the relay has welcomed the observer. */
export async function observeRing(options: ObserveRingOptions): Promise<RingObserver> {
  if (typeof options !== 'object' || options === null) throw new TypeError('observeRing: options must be an object with at least `relay`');
  const unknown = Object.keys(options).find((key) => !OPTION_NAMES.has(key));
  if (unknown !== undefined) throw new TypeError(`observeRing: unknown option "${unknown}"`);
  if (relayUrls(options.relay) === null) throw badRelayUrl(options.relay);
  checkRingAndMeta('observeRing', options);
  const observer = new Observer(options);
  await observer.welcomed;
  return observer;
}

class Observer implements RingObserver {
  readonly welcomed: Promise<void>;
  readonly closed: RingObserver['closed'];
  private readonly actor: ObserverActor;
  private readonly link: RelayLink;
  private readonly feed: LeaderFeed;
  private readonly clock = new DueClock();
  private readonly deadline: JoinDeadline;
  private readonly logger: Logger;
  private watching = false;
  private finished = false;
  private closing: Promise<void> | null = null;
  private settleWelcome!: { resolve: () => void; reject: (error: unknown) => void };
  private resolveClosed!: (outcome: { reason: 'closed' } | { reason: 'fatal'; error: Error }) => void;

  constructor(options: ObserveRingOptions) {
    this.logger = options.logger ?? pino({ level: 'warn', base: processFields('ringleader') }, process.stderr);
    this.feed = new LeaderFeed(this.logger);
    // Checked in observeRing() before this runs: a URL or a non-empty list of them.
    const relays = relayUrls(options.relay)!;
    this.deadline = new JoinDeadline(relays.join(','), Boolean(options.token));
    this.welcomed = new Promise((resolve, reject) => (this.settleWelcome = { resolve, reject }));
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    const leaderTimeoutMs = options.leaderTimeoutMs ?? DEFAULT_LEADER_TIMEOUT_MS;
    const connection = createRelayConnection({
      url: relays,
      token: options.token,
      join: { ring: options.ring, role: 'observer' },
      logger: this.logger,
      heartbeatTimeoutMs: leaseFor(leaderTimeoutMs),
      backoff: DEFAULT_BACKOFF,
      logFields: () => ({ clientId: this.actor?.getSnapshot().context.id ?? null, role: 'observer' }),
      onFatal: (error) => this.fail(error),
      onAttemptFailed: (failure) => this.deadline.attemptFailed(failure),
      beforeEvent: () => this.clock.runDue(),
    });
    this.link = connection.link;
    this.actor = createActor(watcherMachine, {
      input: { timing: { leaderTimeoutMs } },
      clock: this.clock,
    });
    relaySlot.bind(this.actor, connection.callback);
    this.actor.on('leaderChanged', (event: Extract<ObserverEmitted, { type: 'leaderChanged' }>) => this.feed.push(event.leader));
    this.actor.subscribe((snapshot) => {
      if (!this.watching && snapshot.matches('watching')) {
        this.watching = true;
        this.deadline.settle();
        this.settleWelcome.resolve();
      }
    });
    const signal = options.signal;
    signal?.addEventListener('abort', () => void this.close(), { once: true });
    if (signal?.aborted) {
      this.finish({ reason: 'fatal', error: signal.reason instanceof Error ? signal.reason : new Error('observeRing aborted') });
      return;
    }
    this.actor.start();
    this.deadline.start(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, (error: RelayConnectionError) => this.fail(error));
  }

  get id(): ClientId {
    return this.actor.getSnapshot().context.id ?? '';
  }

  leader(): LeaderInfo | null {
    return watchedLeaderOf(this.actor.getSnapshot().context);
  }

  members(): ClientId[] {
    return this.actor.getSnapshot().context.members.toArray();
  }

  onNewLeader(callback: (leader: LeaderInfo) => unknown): Unsubscribe {
    return this.feed.onNewLeader(callback);
  }

  leaders(): AsyncIterableIterator<LeaderInfo> {
    return this.feed.leaders();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.finished) return;
      this.actor.send({ type: 'close' });
      await this.link.close();
      this.finish({ reason: 'closed' });
    })();
    return this.closing;
  }

  /** As joinRing's: a debug line when `observeRing` rejects with it, an error line once watching. */
  private fail(error: RelayConnectionError): void {
    if (this.finished) return;
    const fields = { relay: error.relay, code: error.code, status: error.status };
    if (this.watching) this.logger.error(fields, `stopped watching the ring: ${error.message}`);
    else this.logger.debug(fields, `watch failed: ${error.message}`);
    this.finish({ reason: 'fatal', error });
  }

  private finish(outcome: { reason: 'closed' } | { reason: 'fatal'; error: Error }): void {
    if (this.finished) return;
    this.finished = true;
    this.deadline.settle();
    void this.link.close();
    this.actor.stop();
    this.feed.end();
    if (!this.watching) this.settleWelcome.reject(outcome.reason === 'fatal' ? outcome.error : new Error('closed before the relay welcomed the observer'));
    this.resolveClosed(outcome);
  }
}
