/**
 * The baseline of `memory.node-process`: a bare Node process that has loaded `ws` and holds one
 * open WebSocket to the relay, taking the frames the relay sends it and doing nothing else.
 *
 * It joins as an observer (`?role=observer`): it gets a welcome and the ring's news as a member
 * does, but it is not in the ring, so the one node process measured next to it stays idle
 * instead of running elections through a member that never answers.
 *
 *   node dist/bench/idleClient.js ws://127.0.0.1:PORT
 */
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

export const IDLE_CLIENT_PATH = fileURLToPath(import.meta.url);

if (process.argv[1] === IDLE_CLIENT_PATH) {
  const url = new URL(process.argv[2] ?? '');
  url.searchParams.set('role', 'observer');
  const socket = new WebSocket(url);
  socket.on('message', () => {});
  socket.on('error', (error) => {
    process.stderr.write(`idle client: ${error.message}\n`);
    process.exit(1);
  });
}
