/** Ringleader's public API. */
export * from './machines/index.js';
