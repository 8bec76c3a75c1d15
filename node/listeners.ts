/**
 * A set of user callbacks that are called in subscription order, where one that throws (or
 * returns a promise that rejects) is logged and never stops the others or the node.
 */
import type { Logger } from '../runtime/logger.js';

export type Unsubscribe = () => void;

export class Listeners<T> {
  private readonly callbacks = new Set<(value: T) => unknown>();

  constructor(
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  add(callback: (value: T) => unknown): Unsubscribe {
    // Wrapped so that subscribing the same function twice gives two independent subscriptions.
    const entry = (value: T) => callback(value);
    this.callbacks.add(entry);
    return () => {
      this.callbacks.delete(entry);
    };
  }

  /** Calls every callback with `value`; snapshot of the set, so (un)subscribing inside is safe. */
  emit(value: T): void {
    for (const callback of [...this.callbacks]) this.call(callback, value);
  }

  /** Calls one callback with the same protection as `emit`. */
  call(callback: (value: T) => unknown, value: T): void {
    try {
      const result = callback(value);
      if (isPromiseLike(result)) {
        result.then(undefined, (error: unknown) => this.report(error));
      }
    } catch (error) {
      this.report(error);
    }
  }

  clear(): void {
    this.callbacks.clear();
  }

  private report(error: unknown): void {
    this.logger.error({ err: error, callback: this.name }, `${this.name} callback failed`);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
