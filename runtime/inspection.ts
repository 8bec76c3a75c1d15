/**
 * The one channel every machine's inspection events travel on: with INSPECT_URL set, a process
 * passes `inspect` to `createActor(..., { inspect })` and its actors stream to that WebSocket
 * (Ringleader's inspector, or a bridge to the Stately inspector).
 *
 * Contract for callers: never blocks start-up, never keeps the process alive, `stop()` is safe
 * to call more than once. (Owned by the inspector work; see inspector/README.md.)
 */
import type { InspectionEvent } from 'xstate';
import type { Logger } from './logger.js';

export interface Inspection {
  /** Pass to createActor's `inspect` option; undefined when inspection is off. */
  inspect: ((event: InspectionEvent) => void) | undefined;
  stop(): void;
}

export interface InspectionOptions {
  url: string | undefined;
  /** Names this process in the inspector (e.g. "relay", "node n3"). */
  name: string;
  logger: Logger;
}

export function createInspection({ url }: InspectionOptions): Inspection {
  if (!url) return { inspect: undefined, stop() {} };
  // Placeholder until the inspector lands: inspection is accepted but goes nowhere.
  return { inspect: undefined, stop() {} };
}
