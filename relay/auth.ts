/**
 * Refusing a WebSocket upgrade: a plain HTTP answer (400 bad request, 401 missing or wrong
 * RING_TOKEN, 409 a `?id=` that a live member holds, 500 a bug of the relay's, 503 full) with a
 * one-line reason, and no socket.
 */
import type { Duplex } from 'node:stream';

const TITLES = { 400: 'Bad Request', 401: 'Unauthorized', 409: 'Conflict', 500: 'Internal Server Error', 503: 'Service Unavailable' } as const;

export function refuseUpgrade(socket: Duplex, status: keyof typeof TITLES, reason: string): void {
  const body = `${reason}\n`;
  const title = TITLES[status];
  const headers = [
    `HTTP/1.1 ${status} ${title}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(status === 401 ? ['WWW-Authenticate: Bearer realm="ringleader"'] : []),
    ...(status === 503 ? ['Retry-After: 5'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
