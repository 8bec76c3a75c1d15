/**
 * `ringleader/relay`: the relay in your own process, for embedding it and for your tests.
 * `startRelay()` listens (port 0 picks a free one) and resolves once it does; `close()` ends every
 * connection and timer it made, so a process that started and closed a relay exits by itself.
 */
export { startRelay, type RelayOptions, type RunningRelay } from './server.js';
export type { RelayStatus } from './connections.js';
export type { RelayLimits } from './limits.js';
/** What startRelay throws for a `stateFile` it cannot trust or write (the CLI exits with STATE_FILE_EXIT_CODE). */
export { STATE_FILE_EXIT_CODE, StateFileError } from './stateFile.js';
