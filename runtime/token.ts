/**
 * RING_TOKEN as a request presents it, for the relay's upgrade and the inspector's ingest and
 * controls alike: `Authorization: Bearer <token>`, or `?token=` for browsers (which cannot set
 * headers on a WebSocket).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token a request presents, from the header first, then the query string; null when none. */
export function presentedToken(request: IncomingMessage, url?: URL): string | null {
  const match = /^Bearer\s+(.+)$/i.exec((request.headers.authorization ?? '').trim());
  if (match) return match[1]!.trim();
  return url?.searchParams.get('token') ?? null;
}

/** Compares in constant time (hashing first so different lengths do not leak either). */
export function tokenMatches(presented: string | null, expected: string): boolean {
  if (presented === null) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
