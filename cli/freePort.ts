/**
 * A TCP port that is free right now on this machine. `up` needs the relay's port before the
 * relay starts (the inspector is told where the relay is, and the relay where the inspector is),
 * so "--port 0" is resolved here instead of by the relay. Another process could take the port in
 * the moment between; the relay then fails to start with a clear error.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}
