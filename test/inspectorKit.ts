/**
 * What the inspector's server tests share: an inspector on a free loopback port that is closed
 * after each test, a RingControl that records what it is asked, and the HTTP status a WebSocket
 * upgrade gets. Call `closeAll()` in afterEach.
 */
import WebSocket from 'ws';
import { startInspector, type InspectorOptions, type RunningInspector } from '../inspector/server/index.js';
import type { RingControl } from '../runtime/control.js';
import { createLogger } from '../runtime/logger.js';

const silent = createLogger({ component: 'inspector', level: 'silent', pretty: false });
const cleanups: (() => unknown)[] = [];

/** Registers something to undo after the test (last in, first out). */
export function cleanup(undo: () => unknown): void {
  cleanups.push(undo);
}

export async function closeAll(): Promise<void> {
  for (const undo of cleanups.splice(0).reverse()) await undo();
}

/** An inspector on 127.0.0.1, a free port, no token, a relay that is not there; options override. */
export async function inspectorWith(options: Partial<InspectorOptions> = {}): Promise<RunningInspector> {
  const inspector = await startInspector({ port: 0, host: '127.0.0.1', relayUrl: 'ws://127.0.0.1:9/', logger: silent, token: '', ...options });
  cleanup(() => inspector.close());
  return inspector;
}

/** A RingControl that records each call ("crash n1", "addNode", ...) and counts the nodes addNode made. */
export function recordingControl(startingNodes = 0): RingControl & { calls: string[] } {
  const calls: string[] = [];
  let nodes = startingNodes;
  const record = (name: string) => async (id: string) => {
    calls.push(`${name} ${id}`);
  };
  return {
    calls,
    crash: record('crash'),
    freeze: record('freeze'),
    unfreeze: record('unfreeze'),
    startElection: record('startElection'),
    async addNode(options) {
      nodes += 1;
      calls.push(options === undefined ? 'addNode' : `addNode ${JSON.stringify(options)}`);
      await new Promise((resolve) => setTimeout(resolve, 20)); // a node takes a while to join
    },
    async restartRelay() {
      calls.push('restartRelay');
    },
    nodeCount: () => nodes,
  };
}

/** The HTTP status a WebSocket upgrade gets (101 when it opens). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    cleanup(() => socket.terminate());
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.on('open', () => resolve(101));
    socket.on('error', () => {});
  });
}
