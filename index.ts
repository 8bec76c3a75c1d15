/**
 * `ringleader`: the library. `joinRing()` makes this process a member of a ring and tells it when
 * it leads; `observeRing()` watches who leads without standing; these are their types and the
 * errors they reject with. The relay (`ringleader/relay`)
 * and the statecharts (`ringleader/machines`) are entry points of their own.
 */
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  joinRing,
  LeadershipLostError,
  type CloseOutcome,
  type JoinRingOptions,
  type Leadership,
  type LeadershipEnded,
  type RingNode,
  type RingTiming,
  type RingTimingOptions,
  type Unsubscribe,
} from './node/joinRing.js';
export {
  RelayConnectionError,
  RelayUnauthorizedError,
  type RelayConnectionErrorCode,
  type RelayConnectionErrorDetails,
} from './node/connectFailure.js';
export { observeRing, type ObserveRingOptions, type RingObserver } from './node/observeRing.js';
export type { ClientId, JsonValue, LeaderInfo, Meta } from './machines/protocol.js';
