/**
 * The producer side (runtime/inspection.ts) that every node and the relay use: it streams
 * @statelyai/inspect messages, never blocks start-up, never keeps a process alive, and drops
 * rather than buffers without bound. Process-level checks run dist/ (npm run build first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { assign, createActor, createMachine } from 'xstate';
import { createInspection, INSPECTION_MESSAGE_LIMIT, QUEUE_LIMIT } from '../runtime/inspection.js';
import { createLogger } from '../runtime/logger.js';
import { waitUntil } from './inspectorHarness.js';

const logger = createLogger({ component: 'test', level: 'silent', pretty: false });
const DIST_INSPECTION = fileURLToPath(new URL('../dist/runtime/inspection.js', import.meta.url));
const DIST_LOGGER = fileURLToPath(new URL('../dist/runtime/logger.js', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const toggle = createMachine({ id: 'toggle', initial: 'off', states: { off: { on: { flip: 'on' } }, on: { on: { flip: 'off' } } } });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function wsServer(port = 0): Promise<{ server: WebSocketServer; port: number; received: string[]; urls: string[]; headers: (string | undefined)[] }> {
  const received: string[] = [];
  const urls: string[] = [];
  const headers: (string | undefined)[] = [];
  const server = new WebSocketServer({ port, host: '127.0.0.1' });
  server.on('connection', (socket, request) => {
    urls.push(request.url ?? '');
    headers.push(request.headers.authorization);
    socket.on('message', (data) => received.push(String(data)));
  });
  cleanups.push(() => {
    for (const client of server.clients) client.terminate();
    return new Promise((resolve) => server.close(resolve));
  });
  return new Promise((resolve) => server.on('listening', () => resolve({ server, port: (server.address() as { port: number }).port, received, urls, headers })));
}

/** Runs a node process whose machine streams to `url` and never calls stop(); resolves with its exit code and run time. */
function runProcess(url: string): Promise<{ code: number | null; ms: number; stderr: string }> {
  const script = `
    import { assign, createActor, createMachine } from 'xstate';
    import { createInspection } from ${JSON.stringify(DIST_INSPECTION)};
    import { createLogger } from ${JSON.stringify(DIST_LOGGER)};
    const inspection = createInspection({ url: ${JSON.stringify(url)}, name: 'exit-test', logger: createLogger({ component: 't', level: 'silent', pretty: false }) });
    const actor = createActor(createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: {} } }), { inspect: inspection.inspect });
    actor.start();
    actor.send({ type: 'go' });
    setTimeout(() => actor.stop(), 300);
  `;
  const started = Date.now();
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  // A process held open by its inspection socket would never exit: give up after a generous deadline.
  const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code, ms: Date.now() - started, stderr });
    }),
  );
}

describe('inspection producer', () => {
  it('streams @statelyai/inspect messages, with session ids unique to this process and its name on the URL', async () => {
    const { port, received, urls, headers } = await wsServer();
    const inspection = createInspection({ url: `ws://127.0.0.1:${port}/inspect`, name: 'node n3', logger, token: 'tok' });
    cleanups.push(() => inspection.stop());
    const actor = createActor(toggle, { inspect: inspection.inspect });
    actor.start();
    actor.send({ type: 'flip' });
    await waitUntil(() => received.some((text) => text.includes('"@xstate.snapshot"') && text.includes('"on"')), 10_000, 'the snapshot after flip');
    const messages = received.map((text) => JSON.parse(text));
    const registration = messages.find((message) => message.type === '@xstate.actor');
    expect(registration).toMatchObject({ name: 'toggle', sessionId: expect.stringMatching(new RegExp(`^node-n3@${process.pid}(\\.\\d+)?/x:\\d+$`)) });
    expect(JSON.parse(registration.definition).id).toBe('toggle');
    expect(messages.find((message) => message.type === '@xstate.event' && message.event.type === 'flip')).toBeTruthy();
    expect(new URL(urls[0]!, 'ws://x').searchParams.get('name')).toBe('node n3');
    expect(headers[0]).toBe('Bearer tok');
    actor.stop();
  });

  it("streams to @statelyai/inspect/server's bridge, which hands the events to its browser page", async () => {
    const { createInspectorServer } = await import('@statelyai/inspect/server');
    const port = await freePort();
    const bridge = createInspectorServer({ port, autoOpen: false });
    cleanups.push(() => bridge.stop());
    // The bridge page's side of the bridge: a plain WebSocket client on the bridge's port.
    let browserSide: WebSocket | undefined;
    await waitUntil(async () => {
      browserSide = await new Promise<WebSocket | undefined>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}`);
        socket.once('open', () => resolve(socket));
        socket.once('error', () => resolve(undefined));
      });
      return browserSide !== undefined;
    }, 10_000, 'the bridge to listen');
    cleanups.push(() => browserSide!.terminate());
    const seen: { type: string; name?: string }[] = [];
    browserSide!.on('message', (data) => seen.push(JSON.parse(String(data))));
    const inspection = createInspection({ url: `ws://127.0.0.1:${port}`, name: 'relay', logger });
    cleanups.push(() => inspection.stop());
    const actor = createActor(toggle, { inspect: inspection.inspect });
    actor.start();
    actor.send({ type: 'flip' });
    await waitUntil(() => seen.some((message) => message.type === '@xstate.actor' && message.name === 'toggle') && seen.some((message) => message.type === '@xstate.snapshot'), 10_000, 'events on the bridge page');
    actor.stop();
  });

  it('is off, and costs nothing, without a URL or with a URL that is not ws:', () => {
    expect(createInspection({ url: undefined, name: 'a', logger }).inspect).toBeUndefined();
    expect(createInspection({ url: 'http://127.0.0.1:1/', name: 'a', logger }).inspect).toBeUndefined();
    expect(createInspection({ url: 'not a url', name: 'a', logger }).inspect).toBeUndefined();
  });

  it('keeps at most QUEUE_LIMIT events, the newest, while the inspector is unreachable', async () => {
    const port = await freePort();
    const inspection = createInspection({ url: `ws://127.0.0.1:${port}/inspect`, name: 'burst', logger });
    cleanups.push(() => inspection.stop());
    const actor = createActor(toggle, { inspect: inspection.inspect });
    actor.start();
    for (let index = 0; index < 3 * QUEUE_LIMIT; index += 1) actor.send({ type: 'flip', index } as never);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { received } = await wsServer(port);
    await waitUntil(() => received.some((text) => text.includes(`"index":${3 * QUEUE_LIMIT - 1}`)), 30_000, 'the last event after reconnecting');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received.length).toBeLessThanOrEqual(QUEUE_LIMIT + 50);
    expect(received.some((text) => text.includes('"index":0,'))).toBe(false);
    actor.stop();
  });

  it('announces every actor again, with its latest snapshot, on a new connection: a restarted inspector still knows the machines', async () => {
    const connections: string[][] = [];
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => {
      const received: string[] = [];
      connections.push(received);
      socket.on('message', (data) => received.push(String(data)));
    });
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    await new Promise((resolve) => server.on('listening', resolve));
    const port = (server.address() as { port: number }).port;
    const inspection = createInspection({ url: `ws://127.0.0.1:${port}/inspect`, name: 'node n1', logger });
    cleanups.push(() => inspection.stop());
    const actor = createActor(toggle, { inspect: inspection.inspect });
    actor.start();
    actor.send({ type: 'flip' });
    await waitUntil(() => connections[0]?.some((text) => text.includes('"@xstate.snapshot"') && text.includes('"on"')) === true, 10_000, 'the first stream');
    // The inspector goes away (restart, or it closed the stream): the machine does nothing meanwhile.
    for (const client of server.clients) client.terminate();
    await waitUntil(() => connections.length === 2 && connections[1]!.length >= 2, 20_000, 'the producer to reconnect and announce');
    const again = connections[1]!.map((text) => JSON.parse(text));
    expect(again[0]).toMatchObject({ type: '@xstate.actor', name: 'toggle' });
    expect(again[1]).toMatchObject({ type: '@xstate.snapshot', sessionId: again[0].sessionId, snapshot: { value: 'on' } });
    actor.stop();
  });

  it('drops a message over the inspector\'s size limit instead of sending it, and the stream carries on', async () => {
    const urls: string[] = [];
    const received: string[] = [];
    // The inspector's own limit: a larger message would make it close the stream (1009).
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: INSPECTION_MESSAGE_LIMIT });
    server.on('connection', (socket, request) => {
      urls.push(request.url ?? '');
      socket.on('message', (data) => received.push(String(data)));
    });
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    await new Promise((resolve) => server.on('listening', resolve));
    const port = (server.address() as { port: number }).port;
    const inspection = createInspection({ url: `ws://127.0.0.1:${port}/inspect`, name: 'relay', logger });
    cleanups.push(() => inspection.stop());
    const holder = createMachine({
      types: {} as { context: { blob: string }; events: { type: 'hold'; blob: string } | { type: 'flip' } },
      context: { blob: '' },
      initial: 'off',
      states: { off: { on: { flip: 'on' } }, on: {} },
      on: { hold: { actions: assign({ blob: ({ event }) => event.blob }) } },
    });
    const actor = createActor(holder, { inspect: inspection.inspect });
    actor.start();
    await waitUntil(() => received.some((text) => text.includes('"@xstate.actor"')), 10_000, 'the announcement');
    actor.send({ type: 'hold', blob: 'x'.repeat(INSPECTION_MESSAGE_LIMIT + 1000) });
    actor.send({ type: 'hold', blob: 'small' });
    actor.send({ type: 'flip' });
    await waitUntil(() => received.some((text) => text.includes('"@xstate.snapshot"') && text.includes('"on"')), 10_000, 'the snapshot after the oversized one');
    expect(urls).toHaveLength(1);
    expect(received.every((text) => Buffer.byteLength(text) <= INSPECTION_MESSAGE_LIMIT)).toBe(true);
    actor.stop();
  });

  it('never keeps a process alive: it exits on its own whether the inspector is unreachable or connected', async () => {
    const unreachable = await runProcess(`ws://127.0.0.1:${await freePort()}/inspect`);
    expect(unreachable).toMatchObject({ code: 0, stderr: '' });
    const { port, received } = await wsServer();
    const connected = await runProcess(`ws://127.0.0.1:${port}/inspect`);
    expect(connected).toMatchObject({ code: 0, stderr: '' });
    expect(received.length).toBeGreaterThan(0);
  });
});
