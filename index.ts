/** Ringleader's public API: the embeddable `joinRing()` and the pure core it is built on. */
export * from './machines/index.js';
export {
  joinRing,
  LeadershipLostError,
  type CloseOutcome,
  type JoinRingOptions,
  type Leadership,
  type LeadershipEnded,
  type RingNode,
  type RingTiming,
  type Unsubscribe,
} from './node/joinRing.js';
export { RelayUnauthorizedError } from './node/relayConnection.js';
