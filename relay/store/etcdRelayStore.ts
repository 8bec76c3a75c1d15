/**
 * The relay's store on etcd (`ringleader relay --store etcd://...`): which relay serves each ring,
 * and each ring's highest term and reported leader, shared by every relay on the same store and
 * prefix. For each ring it is asked about, a relay either serves it (it holds the ring's ownership
 * key, on its own lease) or is a standby that knows who serves it (for the 307) and claims it
 * when the key goes away.
 *
 * Claiming is one transaction: "if the ownership key was never created (create revision 0), create
 * it on my lease and read the ring's record; else read who holds it". So the new owner reads the
 * record (the floor it tells joiners) in the same instant it becomes owner. Recording is one
 * transaction too: "if the ownership key still has my create revision and my lease, write the
 * record": a relay that was deposed, even one that does not know it yet, cannot write a term.
 *
 * Serving is judged every time on the relay's monotonic clock (relay/store/leaseKeeper.ts): a
 * ring is served only while the lease's last confirmed keep-alive, counted from when it was sent,
 * is recent enough (machines/relayLease.ts). When it is not, every ring stops ('stopped' events:
 * the relay closes those rings' sockets) before etcd can hand them to another relay. The store
 * then takes a new lease and claims its rings again (usually as a standby by then).
 *
 * Not built on etcd3's Election helper: on 1.1.2 its observer on an empty election can name the
 * wrong leader, and a campaign can emit 'elected' after 'error' once its lease is lost.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Etcd3, IKeyValue, IResponseOp, Namespace, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { DEFAULT_RELAY_LEASE_TTL_S } from '../../machines/relayLease.js';
import { isValidRingName, type LeaderInfo } from '../../machines/protocol.js';
import type { RingTerms } from '../connections.js';
import { connectEtcd } from './etcdConnection.js';
import { LeaseKeeper, type LeaseLoss } from './leaseKeeper.js';
import { EMPTY_RECORD, decodeRingRecord, encodeRingRecord, type RingRecord } from './ringRecord.js';
import { DEFAULT_STORE_PREFIX, parseAdvertiseUrl, parseStorePrefix, parseStoreUrl } from './storeConfig.js';
import { AdvertiseUrlInUseError, NotServingError } from './storeErrors.js';
import { RINGS_FOLDER, ownerKey, relayKey, ringOfOwnerKey, ringOfTermsKey, termsKey } from './storeKeys.js';

export interface EtcdRelayStoreOptions {
  /** `etcd://host:2379[,host:2379...]` */
  store: string;
  /** Default `ringleader/`. */
  prefix?: string | undefined;
  /** `ws://host:port`: how members reach this relay (what standbys redirect to). */
  advertiseUrl: string;
  /** The nodes' lease W on their relay link (LEADER_TIMEOUT_MS / 3): the relay's margin covers it. */
  nodeLeaseMs: number;
  logger: Logger;
  /** The TTL to ask for, whole seconds. Default DEFAULT_RELAY_LEASE_TTL_S (5). */
  leaseTtlSeconds?: number | undefined;
  /** How long etcd may take to answer at start. Default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /** How long one request may take while running. Default 3000 ms. */
  callTimeoutMs?: number | undefined;
}

/** What one relay knows of one ring. */
export interface RingOwnership {
  /** This relay serves the ring now. */
  serving: boolean;
  /** The advertise URL of the relay that serves it (this one's when serving), or null while none is known to. */
  activeRelay: string | null;
}

export type StoreEvent =
  /** This relay now serves `ring`; `record` is what etcd held when it claimed it (the floor for joiners). */
  | { type: 'serving'; ring: string; since: number; record: RingRecord }
  /** This relay no longer serves `ring`: close its sockets. `servedUntil` is the last instant (performance.now()) it could. */
  | { type: 'stopped'; ring: string; servedUntil: number; reason: string }
  /** Another relay (or none) serves `ring`, as far as this relay knows. */
  | { type: 'activeRelay'; ring: string; activeRelay: string | null };

/** What the ownership key holds besides the lease it is attached to. */
interface OwnerValue {
  advertiseUrl: string;
  /** This store instance: a key of an older lease of our own is not "another relay". */
  instance: string;
}

interface Claim {
  leaseId: string;
  createRevision: string;
}

interface RingState {
  claim: Claim | null;
  /** Who serves the ring, when another relay does. */
  otherRelay: string | null;
  record: RingRecord;
  /** A record in etcd this relay will not guess around: it does not serve the ring. */
  unreadable: string | null;
  /** Claims and records of one ring run one at a time, in order. */
  claimQueue: Promise<void>;
  recordQueue: Promise<void>;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_CALL_TIMEOUT_MS = 3000;
/** While etcd refuses a new lease (it is down, or has no quorum), the store asks again this often. */
const REGRANT_DELAY_MS = 500;
/** A relay URL held by another instance is looked at this often until its lease could have run out. */
const ADVERTISE_RECHECK_MS = 250;

function rangeKv(op: IResponseOp | undefined): IKeyValue | undefined {
  return op?.response_range?.kvs?.[0];
}

function parseOwner(kv: IKeyValue): OwnerValue | null {
  try {
    const value = JSON.parse(kv.value.toString()) as Partial<OwnerValue>;
    return typeof value.advertiseUrl === 'string' && typeof value.instance === 'string' ? { advertiseUrl: value.advertiseUrl, instance: value.instance } : null;
  } catch {
    return null;
  }
}

/** "host h, pid p" of the relay that holds an advertise URL, as it wrote them. */
function describeHolder(kv: IKeyValue): string {
  try {
    const { host, pid } = JSON.parse(kv.value.toString()) as { host?: unknown; pid?: unknown };
    return `host ${String(host)}, pid ${String(pid)}`;
  } catch {
    return 'unreadable key';
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Implements the hub's RingTerms (relay/connections.ts): floor read at claim time, record resolved once etcd has it. */
export class EtcdRelayStore implements RingTerms {
  private readonly rings = new Map<string, RingState>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly instance = randomUUID();
  private watcher: Watcher | null = null;
  private closed = false;
  private renewing: Promise<void> | null = null;

  private constructor(
    private readonly client: Etcd3,
    private readonly keys: Namespace,
    readonly advertiseUrl: string,
    private lease: LeaseKeeper,
    private readonly options: Required<Pick<EtcdRelayStoreOptions, 'nodeLeaseMs' | 'logger' | 'leaseTtlSeconds' | 'callTimeoutMs'>>,
  ) {}

  /**
   * Checks the flags, connects, takes a lease and registers the advertise URL. Throws
   * StoreConfigError (exit 2), StoreUnreachableError (exit 4) or AdvertiseUrlInUseError (exit 5).
   */
  static async open(options: EtcdRelayStoreOptions): Promise<EtcdRelayStore> {
    const { endpoints } = parseStoreUrl(options.store);
    const prefix = parseStorePrefix(options.prefix ?? DEFAULT_STORE_PREFIX);
    const advertiseUrl = parseAdvertiseUrl(options.advertiseUrl);
    const settings = {
      nodeLeaseMs: options.nodeLeaseMs,
      logger: options.logger,
      leaseTtlSeconds: options.leaseTtlSeconds ?? DEFAULT_RELAY_LEASE_TTL_S,
      callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    };
    const client = await connectEtcd({ endpoints, connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, callTimeoutMs: settings.callTimeoutMs });
    let lease: LeaseKeeper | null = null;
    try {
      lease = await LeaseKeeper.grant({ client, ttlSeconds: settings.leaseTtlSeconds, nodeLeaseMs: settings.nodeLeaseMs, logger: settings.logger, callTimeoutMs: settings.callTimeoutMs });
      const store = new EtcdRelayStore(client, client.namespace(prefix), advertiseUrl, lease, settings);
      await store.registerAdvertiseUrl(lease, true);
      await store.watchRings();
      store.followLease(lease);
      settings.logger.info({ store: endpoints, prefix, advertiseUrl, lease: lease.id, ...lease.timing }, 'relay store on etcd');
      return store;
    } catch (error) {
      await lease?.revoke('relay store did not start');
      client.close();
      throw error;
    }
  }

  /** Listens to ownership changes; returns a function that stops listening. */
  onEvent(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Takes part in `ring`: claims it when nobody serves it, else follows who does (and claims it
   * when they stop). Resolves with what this relay knows once the first claim was tried.
   */
  async want(ring: string): Promise<RingOwnership> {
    if (!isValidRingName(ring)) throw new Error(`ring names are 1-64 of A-Z a-z 0-9 . _ - (got ${JSON.stringify(ring)})`);
    if (!this.rings.has(ring)) {
      this.rings.set(ring, { claim: null, otherRelay: null, record: EMPTY_RECORD, unreadable: null, claimQueue: Promise.resolve(), recordQueue: Promise.resolve() });
    }
    await this.claim(ring);
    return this.ownership(ring);
  }

  /** Whether this relay serves `ring` at this instant (judged on the monotonic clock, every call). */
  serving(ring: string): boolean {
    const claim = this.rings.get(ring)?.claim;
    return claim !== null && claim !== undefined && claim.leaseId === this.lease.id && this.lease.serving();
  }

  ownership(ring: string): RingOwnership {
    if (this.serving(ring)) return { serving: true, activeRelay: this.advertiseUrl };
    return { serving: false, activeRelay: this.rings.get(ring)?.otherRelay ?? null };
  }

  /** The rings this relay serves now. */
  servedRings(): string[] {
    return [...this.rings.keys()].filter((ring) => this.serving(ring));
  }

  /** Terms at or below this were used by `ring` before: read from etcd when this relay claimed it, raised by its records since. */
  floor(ring: string): number {
    return this.rings.get(ring)?.record.highestTerm ?? 0;
  }

  /** The ring's record as this relay last read or wrote it. */
  recordOf(ring: string): RingRecord {
    return this.rings.get(ring)?.record ?? EMPTY_RECORD;
  }

  /**
   * Records what `ring` reached, in etcd, only if this relay still owns the ring there. Resolves
   * once etcd has it; rejects (NotServingError, or etcd's error) when it cannot, and then the
   * frame that raised it must not be forwarded. Records of one ring are written in call order,
   * and the recorded term never goes down.
   */
  record(ring: string, highestTerm: number, leader: LeaderInfo | null): Promise<void> {
    const state = this.rings.get(ring);
    if (state === undefined) return Promise.reject(new NotServingError(ring, 'this relay never claimed it'));
    const written = state.recordQueue.then(() => this.writeRecord(ring, state, highestTerm, leader));
    state.recordQueue = written.catch(() => undefined);
    return written;
  }

  /** Stops serving every ring, gives the lease back (so standbys take over at once) and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
    await this.lease.revoke('relay closing');
    await this.renewing?.catch(() => undefined);
    this.client.close();
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.error({ err: error }, 'relay store listener threw');
      }
    }
  }

  private claim(ring: string): Promise<void> {
    const state = this.rings.get(ring)!;
    const attempt = state.claimQueue.then(() => this.tryClaim(ring, state));
    state.claimQueue = attempt.catch((error: unknown) => {
      this.options.logger.warn({ ring, err: (error as Error).message }, 'claiming a ring failed; the next change in etcd or lease tries again');
    });
    return state.claimQueue;
  }

  private async tryClaim(ring: string, state: RingState): Promise<void> {
    const lease = this.lease;
    if (this.closed || !lease.serving()) return;
    const key = ownerKey(ring);
    const value: OwnerValue = { advertiseUrl: this.advertiseUrl, instance: this.instance };
    const result = await this.keys
      .if(key, 'Create', '==', 0)
      .then(this.keys.put(key).value(JSON.stringify(value)).lease(lease.id), this.keys.get(termsKey(ring)))
      .else(this.keys.get(key), this.keys.get(termsKey(ring)))
      .commit();
    const claim = result.succeeded ? { leaseId: lease.id, createRevision: result.header.revision } : this.claimOfOwnKey(rangeKv(result.responses[0]), lease);
    if (claim === null) {
      const holder = rangeKv(result.responses[0]);
      const owner = holder === undefined ? null : parseOwner(holder);
      // A key of an older lease of our own serves nobody: it goes away with that lease.
      this.setOtherRelay(ring, state, owner === null || owner.instance === this.instance ? null : owner.advertiseUrl);
      return;
    }
    const termsKv = rangeKv(result.responses[1]);
    let record: RingRecord;
    try {
      record = termsKv === undefined ? EMPTY_RECORD : decodeRingRecord(termsKey(ring), ring, termsKv.value.toString());
    } catch (error) {
      state.unreadable = (error as Error).message;
      this.options.logger.error({ ring, problem: state.unreadable }, 'the ring record in etcd cannot be trusted; this relay does not serve the ring (fix or delete the key)');
      await this.keys.if(key, 'Create', '==', claim.createRevision).then(this.keys.delete().key(key)).commit();
      return;
    }
    state.unreadable = null;
    const already = state.claim !== null && state.claim.createRevision === claim.createRevision && state.claim.leaseId === claim.leaseId;
    if (already) return;
    if (lease !== this.lease || !lease.serving()) return;
    state.claim = claim;
    state.otherRelay = null;
    if (record.highestTerm >= state.record.highestTerm) state.record = record;
    this.options.logger.info({ ring, floor: state.record.highestTerm, leader: state.record.leader?.id ?? null }, 'serving ring');
    this.emit({ type: 'serving', ring, since: performance.now(), record: state.record });
  }

  /** The ownership key is already ours, on this very lease (a claim tried again after a reconnect). */
  private claimOfOwnKey(kv: IKeyValue | undefined, lease: LeaseKeeper): Claim | null {
    if (kv === undefined || kv.lease !== lease.id) return null;
    return { leaseId: lease.id, createRevision: kv.create_revision };
  }

  private setOtherRelay(ring: string, state: RingState, url: string | null): void {
    if (state.otherRelay === url) return;
    state.otherRelay = url;
    this.emit({ type: 'activeRelay', ring, activeRelay: url });
  }

  /** Stops serving `ring` when it is still served under `claim` (a late answer about an older claim changes nothing). */
  private stopRing(ring: string, state: RingState, servedUntil: number, reason: string, claim: Claim | null = state.claim): void {
    if (state.claim === null || state.claim !== claim) return;
    state.claim = null;
    this.options.logger.warn({ ring, reason }, 'no longer serving ring');
    this.emit({ type: 'stopped', ring, servedUntil, reason });
  }

  private async writeRecord(ring: string, state: RingState, highestTerm: number, leader: LeaderInfo | null): Promise<void> {
    const claim = state.claim;
    const lease = this.lease;
    if (claim === null || claim.leaseId !== lease.id || !lease.serving()) throw new NotServingError(ring, 'it does not own the ring now');
    const term = Math.max(highestTerm, state.record.highestTerm);
    const text = encodeRingRecord(term, leader);
    if (text === encodeRingRecord(state.record.highestTerm, state.record.leader)) return;
    const key = ownerKey(ring);
    const result = await this.keys
      .if(key, 'Create', '==', claim.createRevision)
      .and(key, 'Lease', '==', claim.leaseId)
      .then(this.keys.put(termsKey(ring)).value(text))
      .commit();
    if (!result.succeeded) {
      this.stopRing(ring, state, performance.now(), 'the ownership key in etcd is no longer this relay’s', claim);
      throw new NotServingError(ring, 'the ownership key in etcd is no longer this relay’s');
    }
    state.record = decodeRingRecord(termsKey(ring), ring, text);
    if (!lease.serving()) throw new NotServingError(ring, 'its lease ran out while the record was written');
  }

  /** One watch over every ring's keys: who serves a ring changes, or its key goes away (a standby claims it). */
  private async watchRings(): Promise<void> {
    const watcher = await this.keys.watch().prefix(RINGS_FOLDER).create();
    this.watcher = watcher;
    let connectedOnce = false;
    watcher.on('connected', () => {
      // After a broken watch, look again at every ring: a delete may have happened meanwhile.
      if (connectedOnce) for (const ring of this.rings.keys()) void this.claim(ring);
      connectedOnce = true;
    });
    watcher.on('put', (kv) => this.ownerChanged(kv, false));
    watcher.on('delete', (kv) => this.ownerChanged(kv, true));
    watcher.on('error', (error) => this.options.logger.warn({ err: error.message }, 'etcd watch error'));
  }

  private ownerChanged(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString();
    const recordRing = ringOfTermsKey(key);
    const recordState = recordRing === null ? undefined : this.rings.get(recordRing);
    if (recordRing !== null && recordState?.unreadable !== null && recordState !== undefined && !this.closed) {
      // Someone fixed (or deleted) a record this relay would not trust: try the ring again.
      recordState.unreadable = null;
      void this.claim(recordRing);
      return;
    }
    const ring = ringOfOwnerKey(key);
    const state = ring === null ? undefined : this.rings.get(ring);
    if (ring === null || state === undefined || this.closed) return;
    // Events come in revision order, but a claim's answer may come before the watch reports
    // older changes: a change older than this relay's claim is about an earlier owner's key.
    if (state.claim !== null && BigInt(kv.mod_revision) < BigInt(state.claim.createRevision)) return;
    if (deleted) {
      this.stopRing(ring, state, performance.now(), 'its ownership key was deleted in etcd');
      this.setOtherRelay(ring, state, null);
      // Not while its record is unreadable: every relay would claim, refuse and delete in a loop.
      if (state.unreadable === null) void this.claim(ring);
      return;
    }
    if (state.claim !== null && kv.create_revision === state.claim.createRevision) return;
    this.stopRing(ring, state, performance.now(), 'another relay holds its ownership key in etcd');
    const owner = parseOwner(kv);
    this.setOtherRelay(ring, state, owner === null || owner.instance === this.instance ? null : owner.advertiseUrl);
  }

  /** When the lease stops letting this relay serve: stop every ring, then take a new lease and claim them again. */
  private followLease(lease: LeaseKeeper): void {
    lease.onLost((loss) => this.leaseLost(lease, loss));
  }

  private leaseLost(lease: LeaseKeeper, loss: LeaseLoss): void {
    if (lease !== this.lease) return;
    for (const [ring, state] of this.rings) this.stopRing(ring, state, loss.servedUntil, loss.reason);
    if (this.closed) return;
    this.options.logger.warn({ lease: lease.id, reason: loss.reason }, 'relay lease lost; every ring stopped; taking a new lease');
    // Give the old lease back: its keys go now, so a standby (or this relay) claims the rings without waiting out the TTL.
    void lease.revoke(loss.reason);
    this.renewing = this.renewLease();
  }

  private async renewLease(): Promise<void> {
    while (!this.closed) {
      try {
        const lease = await LeaseKeeper.grant({
          client: this.client,
          ttlSeconds: this.options.leaseTtlSeconds,
          nodeLeaseMs: this.options.nodeLeaseMs,
          logger: this.options.logger,
          callTimeoutMs: this.options.callTimeoutMs,
        });
        try {
          if (this.closed) throw new Error('relay closing');
          await this.registerAdvertiseUrl(lease, false);
        } catch (error) {
          // Not kept: a lease nobody follows would hold nothing but still be renewed.
          await lease.revoke((error as Error).message);
          if (this.closed) return;
          throw error;
        }
        this.lease = lease;
        this.followLease(lease);
        for (const ring of this.rings.keys()) void this.claim(ring);
        return;
      } catch (error) {
        this.options.logger.warn({ err: (error as Error).message }, 'cannot take a new relay lease yet; trying again');
        await delay(REGRANT_DELAY_MS);
      }
    }
  }

  /**
   * Puts `relays/<advertise url>` on the lease, unless another live relay holds it. A key left by
   * a relay that died (or by this one before a restart) goes away with its lease, so a holder is
   * waited for until its lease could have run out; one still there then is alive: two relays on
   * one URL would redirect joiners to each other.
   */
  private async registerAdvertiseUrl(lease: LeaseKeeper, atStart: boolean): Promise<void> {
    const key = relayKey(this.advertiseUrl);
    const value = JSON.stringify({ advertiseUrl: this.advertiseUrl, instance: this.instance, host: hostname(), pid: process.pid });
    let waitUntil: number | null = null;
    for (;;) {
      const result = await this.keys.if(key, 'Create', '==', 0).then(this.keys.put(key).value(value).lease(lease.id)).else(this.keys.get(key)).commit();
      if (result.succeeded) return;
      const holder = rangeKv(result.responses[0]);
      if (holder === undefined) continue;
      const owner = parseOwner(holder);
      if (owner?.instance === this.instance) {
        await this.keys.if(key, 'Mod', '==', holder.mod_revision).then(this.keys.put(key).value(value).lease(lease.id)).commit();
        return;
      }
      if (waitUntil === null) {
        const ttl = await this.client.leaseClient.leaseTimeToLive({ ID: holder.lease });
        waitUntil = performance.now() + Math.max(0, Number(ttl.grantedTTL)) * 1000 + 1000;
        this.options.logger.info({ advertiseUrl: this.advertiseUrl, holderLease: holder.lease }, 'another relay holds this advertise URL; waiting to see whether its lease runs out');
      }
      if (performance.now() > waitUntil) {
        const who = `another relay (${describeHolder(holder)})`;
        const error = new AdvertiseUrlInUseError(
          `--advertise-url ${this.advertiseUrl} is already used by ${who} on this store (etcd key ${key} under the prefix, kept alive by its lease); give every relay its own --advertise-url`,
        );
        if (atStart) throw error;
        this.options.logger.error({ err: error.message }, 'advertise URL taken while this relay renewed its lease');
        return;
      }
      await delay(ADVERTISE_RECHECK_MS);
    }
  }
}
