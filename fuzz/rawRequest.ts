/**
 * One raw HTTP/1.1 request over a plain TCP socket, for requests no HTTP client will send (a
 * malformed percent-encoding, a repeated header, an upgrade whose answer is not a WebSocket):
 * what came back (status line on), or '' when the peer closed or the time ran out without a word.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  /** The status code of the answer, or null when none came. */
  status: number | null;
  /** Everything that came back, up to `maxBytes`. */
  text: string;
}

export function rawRequest(port: number, request: string | Buffer, { timeoutMs = 5000, maxBytes = 64 * 1024, host = '127.0.0.1' } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const socket = connect({ port, host });
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: status ? Number(status[1]) : null, text });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      // An answer has come once its head has (the body of a refused upgrade is one line): a
      // socket that was upgraded stays open, so waiting for the close would wait for the timeout.
      if (size >= maxBytes || Buffer.concat(chunks).includes('\r\n\r\n')) setImmediate(finish);
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

/** The upgrade headers of a WebSocket handshake, after the request line. */
export function upgradeHeaders(port: number): string[] {
  return [`Host: 127.0.0.1:${port}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
}

/** A whole request: `GET <target> HTTP/1.1`, the headers, and an empty line. */
export function requestText(method: string, target: string, headers: string[]): string {
  return `${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
}
