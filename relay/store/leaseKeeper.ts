/**
 * The relay's one etcd lease, kept alive and judged on the relay's own monotonic clock. Every ring
 * this relay serves hangs on it (its ownership key is attached to the lease). The rule is in
 * machines/relayLease.ts; this module carries the facts: when each keep-alive was *sent*, which
 * ones etcd confirmed, and a timer for the instant the rule says to stop.
 *
 * Keep-alives go out on one gRPC stream, whose answers come back in the order of the requests, so
 * the send times wait in a queue and each answer confirms the oldest. A keep-alive that gets no
 * answer confirms nothing; when the stream breaks or stops answering, its unanswered sends are
 * dropped and a new stream is opened. `serving()` reads the clock each time: a relay whose event loop was stuck past
 * the end (a freeze, a long pause) answers false before its timer has had a chance to run.
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { Logger } from 'pino';
import { relayLeaseTiming, servesUntil, stillServing, type RelayLeaseTiming } from '../../machines/relayLease.js';
import { StoreConfigError } from './storeConfig.js';

export interface LeaseKeeperOptions {
  client: Etcd3;
  /** The TTL to ask etcd for, in whole seconds (etcd may grant more). */
  ttlSeconds: number;
  /** The nodes' lease W on their relay link (L / 3), which the margin must cover. */
  nodeLeaseMs: number;
  logger: Logger;
  /** How long one unary call to etcd may take. */
  callTimeoutMs: number;
}

export interface LeaseLoss {
  /** The last instant (performance.now()) the relay could serve under this lease. */
  servedUntil: number;
  reason: string;
}

/** A broken keep-alive stream is opened again after this long. */
const REOPEN_DELAY_MS = 100;

export class LeaseKeeper {
  private until: number;
  private readonly pendingSends: number[] = [];
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | null = null;
  private readonly keepAliveTimer: NodeJS.Timeout;
  private fenceTimer: NodeJS.Timeout | null = null;
  /** Drops the current stream and opens another. */
  private recycle: ((why: string) => void) | null = null;
  private loss: LeaseLoss | null = null;
  private readonly lossListeners = new Set<(loss: LeaseLoss) => void>();

  private constructor(
    private readonly options: LeaseKeeperOptions,
    /** The lease's id, as etcd spells int64 (a decimal string). */
    readonly id: string,
    readonly timing: RelayLeaseTiming,
    grantSentAt: number,
  ) {
    this.until = servesUntil(Number.NEGATIVE_INFINITY, grantSentAt, timing);
    this.keepAliveTimer = setInterval(() => this.sendKeepAlive(), timing.keepAliveIntervalMs);
    this.armFence();
    this.openStream();
  }

  /** Grants a lease and starts keeping it. Throws StoreConfigError when the granted TTL cannot keep the rule. */
  static async grant(options: LeaseKeeperOptions): Promise<LeaseKeeper> {
    const sentAt = performance.now();
    const granted = await options.client.leaseClient.leaseGrant({ TTL: options.ttlSeconds }, { deadline: Date.now() + options.callTimeoutMs });
    const result = relayLeaseTiming(Number(granted.TTL) * 1000, options.nodeLeaseMs);
    if (!result.ok) {
      await options.client.leaseClient.leaseRevoke({ ID: granted.ID }, { deadline: Date.now() + options.callTimeoutMs }).catch(() => undefined);
      throw new StoreConfigError(`--store-lease-ttl: ${result.problem}`);
    }
    options.logger.debug({ lease: granted.ID, ...result.timing }, 'relay lease granted');
    return new LeaseKeeper(options, granted.ID, result.timing, sentAt);
  }

  /** Whether the relay may serve under this lease right now (read on the monotonic clock, every time). */
  serving(): boolean {
    return this.loss === null && stillServing(performance.now(), this.until);
  }

  /** Why and since when this lease no longer lets the relay serve, or null while it does. */
  lost(): LeaseLoss | null {
    if (this.loss === null && !stillServing(performance.now(), this.until)) this.lose(this.overdueReason());
    return this.loss;
  }

  /** Calls `listener` once when the lease stops letting the relay serve (at once if it already has). */
  onLost(listener: (loss: LeaseLoss) => void): void {
    if (this.loss !== null) listener(this.loss);
    else this.lossListeners.add(listener);
  }

  /** Stops keeping the lease and revokes it, so etcd deletes this relay's keys now rather than after the TTL. */
  async revoke(reason: string): Promise<void> {
    this.lose(reason);
    await this.options.client.leaseClient.leaseRevoke({ ID: this.id }, { deadline: Date.now() + this.options.callTimeoutMs }).catch(() => undefined);
  }

  private openStream(): void {
    if (this.loss !== null) return;
    this.options.client.leaseClient.leaseKeepAlive().then(
      (stream) => {
        if (this.loss !== null) {
          stream.end();
          return;
        }
        this.stream = stream;
        const broken = (why: string): void => {
          if (this.stream !== stream) return;
          this.stream = null;
          this.recycle = null;
          stream.end();
          this.pendingSends.length = 0;
          this.options.logger.debug({ lease: this.id, why }, 'lease keep-alive stream broke; opening another');
          setTimeout(() => this.openStream(), REOPEN_DELAY_MS).unref();
        };
        stream.on('data', (response) => this.confirm(response));
        stream.on('error', (error) => broken(error.message));
        stream.on('end', () => broken('ended'));
        this.recycle = broken;
        this.sendKeepAlive();
      },
      (error: Error) => {
        this.options.logger.debug({ lease: this.id, err: error.message }, 'cannot open a lease keep-alive stream; trying again');
        setTimeout(() => this.openStream(), REOPEN_DELAY_MS).unref();
      },
    );
  }

  private sendKeepAlive(): void {
    if (this.stream === null || this.loss !== null) return;
    // A stream to a member that lost its quorum stays open and answers nothing: after two
    // intervals without an answer, try another (the client picks among the endpoints).
    const oldest = this.pendingSends[0];
    if (oldest !== undefined && performance.now() - oldest > 2 * this.timing.keepAliveIntervalMs) {
      this.recycle?.('no answer for two keep-alive intervals');
      return;
    }
    this.pendingSends.push(performance.now());
    this.stream.write({ ID: this.id });
  }

  private confirm(response: ILeaseKeepAliveResponse): void {
    const sentAt = this.pendingSends.shift();
    if (sentAt === undefined || this.loss !== null) return;
    if (response.TTL === '0' || Number(response.TTL) <= 0) {
      this.lose('etcd says the lease has expired');
      return;
    }
    this.until = servesUntil(this.until, sentAt, this.timing);
    this.armFence();
  }

  private armFence(): void {
    if (this.fenceTimer !== null) clearTimeout(this.fenceTimer);
    this.fenceTimer = setTimeout(() => this.checkFence(), Math.max(0, this.until - performance.now()));
  }

  private checkFence(): void {
    this.fenceTimer = null;
    if (this.loss !== null) return;
    if (stillServing(performance.now(), this.until)) this.armFence();
    else this.lose(this.overdueReason());
  }

  private overdueReason(): string {
    return `no keep-alive confirmed within ${this.timing.renewalWindowMs} ms of being sent (lease TTL ${this.timing.ttlMs} ms less a margin of ${this.timing.marginMs} ms)`;
  }

  private lose(reason: string): void {
    if (this.loss !== null) return;
    this.loss = { servedUntil: Math.min(this.until, performance.now()), reason };
    clearInterval(this.keepAliveTimer);
    if (this.fenceTimer !== null) clearTimeout(this.fenceTimer);
    this.fenceTimer = null;
    const stream = this.stream;
    this.stream = null;
    stream?.end();
    for (const listener of this.lossListeners) listener(this.loss);
    this.lossListeners.clear();
  }
}
