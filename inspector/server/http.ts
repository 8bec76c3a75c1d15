/** Small HTTP helpers shared by the inspector's endpoints: JSON replies and the admin token. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(JSON.stringify(body));
}

/** `Authorization: Bearer <token>`, or `?token=` for browsers, which cannot set headers on a WebSocket. */
export function presentedToken(request: IncomingMessage, url?: URL): string {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
  if (match) return match[1]!.trim();
  return url?.searchParams.get('token') ?? '';
}

/** Constant-time comparison (of digests, so lengths leak nothing either). */
export function tokenMatches(presented: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
