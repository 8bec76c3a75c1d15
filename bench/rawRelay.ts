/**
 * The physical limit the real relay is compared with: a relay written with plain `ws` and no
 * statecharts, no validation beyond reading `to`, no metrics, no rate limit, no heartbeats.
 *
 * It keeps the same ring (members in join order) and the same routing (`next`, `all`, an id)
 * and forwards the sender's text unchanged, so a client cannot tell the two apart except by
 * speed. It runs as its own child process, like the real relay, so both comparisons pay the
 * same process hop: `node dist/bench/rawRelay.js --port 0` logs one JSON line
 * `{"msg":"relay listening","port":…,"url":…}` like `ringleader relay` does; `--announce-leaves`
 * turns on the leave notices (`RawRelayOptions`).
 */
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';

export interface RawRelay {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface RawRelayOptions {
  /**
   * Tell the members when one leaves, as the real relay's `ring {left}` does: one
   * `{"type":"left","id","next"}` frame each, the leaver's successor (`next`) first, then in ring
   * order. Off by default: only the failover floor (bench/rawFailover.ts) needs it, and a lap
   * benchmark's clean-up would otherwise pay N² notices.
   */
  announceLeaves?: boolean;
}

export function startRawRelay(port = 0, host = '127.0.0.1', options: RawRelayOptions = {}): Promise<RawRelay> {
  const server = new WebSocketServer({ port, host, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  const members: string[] = [];
  const sockets = new Map<string, WebSocket>();
  const position = new Map<string, number>();
  let issued = 0;

  const reindex = () => {
    position.clear();
    members.forEach((id, index) => position.set(id, index));
  };

  server.on('connection', (socket) => {
    issued += 1;
    const id = `r${issued}`;
    members.push(id);
    position.set(id, members.length - 1);
    sockets.set(id, socket);
    socket.send(`{"type":"welcome","clientId":"${id}"}`);

    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      let to: unknown;
      try {
        to = (JSON.parse(text) as { to?: unknown }).to;
      } catch {
        return;
      }
      if (to === 'next') {
        const index = position.get(id);
        if (index === undefined || members.length < 2) return;
        sockets.get(members[(index + 1) % members.length]!)?.send(text);
      } else if (to === 'all') {
        for (const member of members) if (member !== id) sockets.get(member)?.send(text);
      } else if (typeof to === 'string') {
        sockets.get(to)?.send(text);
      }
    });
    socket.on('close', () => {
      sockets.delete(id);
      const index = members.indexOf(id);
      if (index === -1) return;
      members.splice(index, 1);
      reindex();
      if (options.announceLeaves && members.length > 0) {
        // `index` is now the successor's position: it hears first, the rest in ring order.
        const notice = `{"type":"left","id":"${id}","next":"${members[index % members.length]!}"}`;
        for (let step = 0; step < members.length; step += 1) sockets.get(members[(index + step) % members.length]!)?.send(notice);
      }
    });
    socket.on('error', () => socket.terminate());
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      resolve({
        url: `ws://${host}:${bound}`,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets.values()) socket.terminate();
            server.close(() => done());
          }),
      });
    });
  });
}

async function main(argv: string[]): Promise<void> {
  const portFlag = argv.indexOf('--port');
  const port = portFlag === -1 ? 0 : Number(argv[portFlag + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`rawRelay: --port must be an integer 0-65535, got ${String(argv[portFlag + 1])}\n`);
    process.exitCode = 2;
    return;
  }
  const relay = await startRawRelay(port, '127.0.0.1', { announceLeaves: argv.includes('--announce-leaves') });
  process.stdout.write(`${JSON.stringify({ msg: 'relay listening', port: relay.port, url: relay.url, pid: process.pid })}\n`);
  const stop = () => void relay.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main(process.argv.slice(2));
