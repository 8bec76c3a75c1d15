/**
 * RING_TOKEN at the WebSocket upgrade: `Authorization: Bearer <token>`, or `?token=` for
 * browsers (which cannot set headers). A refused upgrade gets a plain HTTP 401 and no socket.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** The token a request presents, from the header first, then the query string. */
export function presentedToken(request: IncomingMessage, url: URL): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1]!;
  }
  return url.searchParams.get('token');
}

/** Compares in constant time (hashing first so different lengths do not leak either). */
export function tokenMatches(presented: string | null, expected: string): boolean {
  if (presented === null) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

export function refuseUpgrade(socket: Duplex, status: 401 | 400, reason: string): void {
  const body = `${reason}\n`;
  const title = status === 401 ? 'Unauthorized' : 'Bad Request';
  const headers = [
    `HTTP/1.1 ${status} ${title}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(status === 401 ? ['WWW-Authenticate: Bearer realm="ringleader"'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
