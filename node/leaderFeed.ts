/**
 * Who leads, as a program sees it: the latest leader, `onNewLeader` callbacks and `leaders()`
 * async iterators, each told every change once and in order. A member (joinRing) and an observer
 * (observeRing) feed it from their machine's `leaderChanged` events.
 */
import type { LeaderInfo } from '../machines/protocol.js';
import type { Logger } from '../runtime/logger.js';
import { Listeners, type Unsubscribe } from './listeners.js';

interface LeaderStream {
  push(leader: LeaderInfo): void;
  end(): void;
}

/** Same leader, same term, and the same metadata (it may arrive after the leader: then it is news). */
function sameLeader(a: LeaderInfo | null, b: LeaderInfo): boolean {
  return a !== null && a.id === b.id && a.rank === b.rank && a.term === b.term && JSON.stringify(a.meta) === JSON.stringify(b.meta);
}

export class LeaderFeed {
  private readonly listeners: Listeners<LeaderInfo>;
  private readonly streams = new Set<LeaderStream>();
  private reported: LeaderInfo | null = null;
  private ended = false;

  constructor(logger: Logger) {
    this.listeners = new Listeners('onNewLeader', logger);
  }

  /** A leader the machine announced; news only when it differs from the last one reported. */
  push(leader: LeaderInfo): void {
    if (sameLeader(this.reported, leader)) return;
    this.reported = leader;
    this.listeners.emit(leader);
    for (const stream of this.streams) stream.push(leader);
  }

  onNewLeader(callback: (leader: LeaderInfo) => unknown): Unsubscribe {
    const unsubscribe = this.listeners.add(callback);
    if (this.reported) this.listeners.call(callback, this.reported);
    return unsubscribe;
  }

  leaders(): AsyncIterableIterator<LeaderInfo> {
    const queue: LeaderInfo[] = this.reported ? [this.reported] : [];
    let wake: ((result: IteratorResult<LeaderInfo>) => void) | null = null;
    let ended = false;
    const stream: LeaderStream = {
      push(leader) {
        if (wake) {
          const resolve = wake;
          wake = null;
          resolve({ value: leader, done: false });
        } else queue.push(leader);
      },
      end() {
        ended = true;
        if (wake) {
          const resolve = wake;
          wake = null;
          resolve({ value: undefined, done: true });
        }
      },
    };
    if (this.ended) stream.end();
    else this.streams.add(stream);
    const iterator: AsyncIterableIterator<LeaderInfo> = {
      next: () => {
        const value = queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (wake = resolve));
      },
      return: () => {
        this.streams.delete(stream);
        queue.length = 0;
        stream.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** No more changes: every iterator ends. */
  end(): void {
    this.ended = true;
    for (const stream of this.streams) stream.end();
    this.streams.clear();
  }
}
