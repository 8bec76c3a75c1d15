/**
 * Which relay a connection dials next, when it knows several (`relay: ['ws://r1', 'ws://r2']`,
 * `--relay ws://r1,ws://r2`) and when a standby relay redirects it (HTTP 307 to the relay that
 * serves the ring, issue 23):
 *
 * - the first attempt goes to the first relay of the list; an attempt that fails sends the next
 *   one (after the usual backoff) to the next relay, round the list;
 * - a link that was welcomed and then lost is dialled again on the same relay first (a relay
 *   restart is the common case); if that fails, the list goes on;
 * - a 307/308 is followed at once to the scheme, host and port of its `Location` (ws:// or wss://
 *   only, never from wss:// down to ws://), with this connection's own path and query
 *   (`/rings/<name>`, `?resume=`, `?role=` ...), so nothing the join asks for is lost on the way;
 *   at most MAX_REDIRECTS in a row, so two relays that point at each other cannot hold a node;
 * - before the first welcome, an answer that retrying cannot change ends the join only once
 *   every relay of the list has given one (a single bad address among good ones is skipped).
 */

/** Redirects followed in a row without a welcome before the attempt counts as failed. */
export const MAX_REDIRECTS = 3;

export type RedirectDecision = { follow: true; target: string } | { follow: false; reason: string };

/** Whether to follow a redirect from `from` to `location` (its `Location` header), and where to. */
export function redirectTarget(from: string, location: string | undefined): RedirectDecision {
  if (location === undefined || location === '') return { follow: false, reason: 'a redirect without a Location header' };
  let url: URL;
  try {
    url = new URL(location, from);
  } catch {
    return { follow: false, reason: `a redirect to ${JSON.stringify(location)}, which is not a URL` };
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return { follow: false, reason: `a redirect to ${url.protocol}// (only ws:// and wss:// are followed)` };
  if (new URL(from).protocol === 'wss:' && url.protocol === 'ws:') return { follow: false, reason: 'a redirect from wss:// down to ws:// (not followed: the token would travel in clear)' };
  if (url.username !== '' || url.password !== '') return { follow: false, reason: 'a redirect to a URL with credentials' };
  return { follow: true, target: `${url.protocol}//${url.host}` };
}

export class RelayList {
  private index = 0;
  private redirectedTo: string | null = null;
  private redirectsInARow = 0;
  private readonly finalAnswers = new Set<string>();

  constructor(readonly relays: readonly string[]) {
    if (relays.length === 0) throw new TypeError('at least one relay URL is needed');
  }

  /** The relay the next attempt dials. */
  current(): string {
    return this.redirectedTo ?? this.relays[this.index]!;
  }

  /** The attempt at the current relay failed: the next goes to the next relay of the list. */
  failed(): void {
    this.redirectedTo = null;
    this.redirectsInARow = 0;
    this.index = (this.index + 1) % this.relays.length;
  }

  /** The current relay answered with a redirect: where to dial at once, or why not (then the attempt failed). */
  redirect(location: string | undefined): RedirectDecision {
    const decision = redirectTarget(this.current(), location);
    if (!decision.follow) return decision;
    if (this.redirectsInARow >= MAX_REDIRECTS) return { follow: false, reason: `more than ${MAX_REDIRECTS} redirects in a row (relays that point at each other?)` };
    this.redirectsInARow += 1;
    this.redirectedTo = decision.target;
    return decision;
  }

  /** Welcomed: the redirect count starts again; the relay that welcomed stays the one to dial first. */
  welcomed(): void {
    this.redirectsInARow = 0;
  }

  /** The current relay gave an answer retrying cannot change: true once every relay of the list has. */
  finalAnswer(): boolean {
    this.finalAnswers.add(this.current());
    return this.relays.every((relay) => this.finalAnswers.has(relay));
  }
}

/** The `relay` option as a list: one ws:// or wss:// URL, or a non-empty array of them; null when it is neither. */
export function relayUrls(relay: unknown): string[] | null {
  const list = typeof relay === 'string' ? [relay] : Array.isArray(relay) ? (relay as unknown[]) : null;
  if (list === null || list.length === 0) return null;
  if (!list.every((url): url is string => typeof url === 'string' && isWebSocketUrl(url))) return null;
  return [...list];
}

function isWebSocketUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'ws:' || protocol === 'wss:';
  } catch {
    return false;
  }
}
