/**
 * Where the store's facts live under `--store-prefix` (default `ringleader/`). Ring names are
 * 1-64 of A-Z a-z 0-9 . _ - (machines/protocol.ts), so they go into keys as they are.
 *
 * - `relays/<advertise url>`: one per live relay, on its lease (two relays may not share a URL);
 * - `rings/<ring>/owner`: the relay that serves the ring, on that relay's lease;
 * - `rings/<ring>/terms`: the ring's highest term and reported leader (no lease: it outlives every relay).
 */
export const RINGS_FOLDER = 'rings/';

export function relayKey(advertiseUrl: string): string {
  return `relays/${encodeURIComponent(advertiseUrl)}`;
}

export function ownerKey(ring: string): string {
  return `${RINGS_FOLDER}${ring}/owner`;
}

export function termsKey(ring: string): string {
  return `${RINGS_FOLDER}${ring}/terms`;
}

/** The ring whose owner key this is, or null for any other key. */
export function ringOfOwnerKey(key: string): string | null {
  const match = /^rings\/([A-Za-z0-9._-]{1,64})\/owner$/.exec(key);
  return match === null ? null : match[1]!;
}

/** The ring whose record this is, or null for any other key. */
export function ringOfTermsKey(key: string): string | null {
  const match = /^rings\/([A-Za-z0-9._-]{1,64})\/terms$/.exec(key);
  return match === null ? null : match[1]!;
}
