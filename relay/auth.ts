/**
 * RING_TOKEN at the WebSocket upgrade (read by runtime/token.ts). A refused upgrade gets a plain
 * HTTP 401 and no socket.
 */
import type { Duplex } from 'node:stream';

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
