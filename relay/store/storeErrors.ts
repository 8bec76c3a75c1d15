/**
 * How the etcd store fails, each with what the relay does about it. At start, the relay exits
 * with the error's own code (so a supervisor can tell "etcd is not there" from "bad flags");
 * while running, a ring the relay can no longer be sure of stops being served.
 */

/** `ringleader relay --store etcd://...` exits 4 when it cannot reach etcd at start (2 is bad configuration, 3 the state file). */
export const STORE_UNREACHABLE_EXIT_CODE = 4;

/** ... and 5 when another live relay already uses its --advertise-url on the same store and prefix. */
export const ADVERTISE_URL_IN_USE_EXIT_CODE = 5;

/** No etcd endpoint of the list answered at start. */
export class StoreUnreachableError extends Error {
  override name = 'StoreUnreachableError';
  readonly exitCode = STORE_UNREACHABLE_EXIT_CODE;
}

/** Another relay that is alive holds this advertise URL: two relays would answer for one address. */
export class AdvertiseUrlInUseError extends Error {
  override name = 'AdvertiseUrlInUseError';
  readonly exitCode = ADVERTISE_URL_IN_USE_EXIT_CODE;
}

/**
 * The relay does not serve this ring (any more): another relay owns it, or this relay's lease ran
 * out on its own clock. What raised a term must not be forwarded.
 */
export class NotServingError extends Error {
  override name = 'NotServingError';
  constructor(
    readonly ring: string,
    reason: string,
  ) {
    super(`ring ${JSON.stringify(ring)}: not served by this relay (${reason})`);
  }
}
