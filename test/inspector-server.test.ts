/**
 * The inspector server with a ring of real machines streaming through the real producer:
 * what a page sees on /events, what the controls do, and how bad input is turned away.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningInspector } from '../inspector/server/index.js';
import type { RingState, ServerMessage } from '../inspector/server/messages.js';
import { InProcessRing, waitUntil } from './inspectorHarness.js';
import { cleanup, closeAll, inspectorWith, recordingControl, upgradeStatus } from './inspectorKit.js';

afterEach(closeAll);

function ringFor(inspector: RunningInspector): InProcessRing {
  const ring = new InProcessRing(inspector.ingestUrl);
  cleanup(() => ring.close());
  return ring;
}

/** A page's view of /events: every message, and the latest state. */
async function watch(inspector: RunningInspector, token?: string): Promise<{ messages: ServerMessage[]; state(): RingState | null }> {
  const socket = new WebSocket(`${inspector.ingestUrl.replace('/inspect', '/events')}${token ? `?token=${token}` : ''}`);
  cleanup(() => socket.terminate());
  const messages: ServerMessage[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as ServerMessage));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return {
    messages,
    state: () => [...messages].reverse().find((message): message is Extract<ServerMessage, { type: 'state' }> => message.type === 'state')?.state ?? null,
  };
}

async function post(inspector: RunningInspector, body: unknown, token?: string) {
  const response = await fetch(`${inspector.url}api/control`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: string; ok?: boolean } };
}

describe('inspector server: what the page sees', () => {
  it('shows every node in ring order with its rank and state, the leader, the frames and the elections', async () => {
    const inspector = await inspectorWith();
    const page = await watch(inspector);
    const ring = ringFor(inspector);
    await ring.addNodes([10, 50, 30, 90, 20]);
    await waitUntil(() => ring.agreedLeader() !== null, 20_000, 'agreement');
    const leader = ring.agreedLeader()!;

    await waitUntil(() => page.state()?.leader?.id === leader && page.state()!.nodes.filter((node) => node.state === 'follower' || node.state === 'checking').length === 4, 15_000, 'the page to show the ring');
    const state = page.state()!;
    expect(state.nodes.map((node) => node.id)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(state.nodes.map((node) => node.rank)).toEqual([10, 50, 30, 90, 20]);
    expect(state.relay).toMatchObject({ source: 'inspection', members: ['n1', 'n2', 'n3', 'n4', 'n5'], connected: true });
    expect(state.nodes.find((node) => node.id === leader)?.state).toBe('leader');
    expect((await (await fetch(`${inspector.url}api/state`)).json()).leader.id).toBe(leader);

    // Heartbeats travel as frames with resolved recipients.
    await waitUntil(() => page.messages.some((message) => message.type === 'frame' && message.frame.kind === 'checkLeader'), 10_000, 'a checkLeader frame');
    const check = page.messages.find((message): message is Extract<ServerMessage, { type: 'frame' }> => message.type === 'frame' && message.frame.kind === 'checkLeader')!;
    expect(check.frame.to).toEqual([leader]);

    // Crash the leader: a new election, won by the highest surviving rank, seen by everyone.
    const ranks: Record<string, number> = { n1: 10, n2: 50, n3: 30, n4: 90, n5: 20 };
    const expected = Object.keys(ranks).filter((id) => id !== leader).reduce((best, id) => (ranks[id]! > ranks[best]! ? id : best));
    const oldTerm = state.leader!.term;
    const chosen = () => page.state()?.elections.find((election) => election.term > oldTerm && election.winner?.id === expected && election.agreedAt !== null);
    await ring.crash(leader);
    await waitUntil(() => page.state()?.leader?.id === expected && chosen() !== undefined, 15_000, 'the new leader on the page');
    const after = page.state()!;
    const election = chosen()!;
    expect(election.initiators.length).toBeGreaterThan(0);
    expect(election.reason).toBe('the leader left the ring');
    expect(election.frames).toBeGreaterThanOrEqual(4); // a lap of the 4 survivors, then newLeader
    expect(election.eligible.map((entry) => entry.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'].filter((id) => id !== leader));
    expect(after.nodes.find((node) => node.id === leader)).toMatchObject({ member: false });
    expect(['crashed', 'exited']).toContain(after.nodes.find((node) => node.id === leader)?.state);
    const log = page.messages.flatMap((message) => (message.type === 'log' ? [message.entry.text] : []));
    expect(log).toContainEqual(expect.stringMatching(/^election for term \d+ started by n\d/));
    expect(log).toContainEqual(expect.stringMatching(new RegExp(`^${leader} left the ring`)));
    expect(log).toContainEqual(expect.stringContaining(`${expected} wins with rank ${ranks[expected]}`));

    // The ingest checks turned away nothing the real producer sent.
    const stats = (await (await fetch(`${inspector.url}api/stats`)).json()) as { ingest: { messages: number; invalid: number; notApplied: number } };
    expect(stats.ingest.messages).toBeGreaterThan(100);
    expect(stats.ingest).toMatchObject({ invalid: 0, notApplied: 0 });
  });

  it('takes membership from the relay\'s /status when the relay does not stream', async () => {
    const relay: Server = createServer((request, response) => {
      if (request.url === '/status') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ members: ['n7', 'n3', 'n9'], leader: { id: 'n9', rank: 40, term: 6 } }));
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    cleanup(() => new Promise((resolve) => relay.close(resolve)));
    const inspector = await inspectorWith({ relayUrl: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}/` });
    await waitUntil(async () => (await (await fetch(`${inspector.url}api/state`)).json()).relay.source === 'status', 10_000, 'status to be read');
    const state = (await (await fetch(`${inspector.url}api/state`)).json()) as RingState;
    expect(state.relay).toMatchObject({ members: ['n7', 'n3', 'n9'], connected: true });
    expect(state.leader).toEqual({ id: 'n9', rank: 40, term: 6 });
  });
});

describe('inspector server: controls', () => {
  it('carries out each action through RingControl and tells the page there are controls', async () => {
    const control = recordingControl();
    const inspector = await inspectorWith({ control });
    const page = await watch(inspector);
    expect(page.messages[0]).toMatchObject({ type: 'hello', controls: true, tokenRequired: false });
    for (const body of [
      { action: 'crash', id: 'n1' },
      { action: 'freeze', id: 'n2' },
      { action: 'unfreeze', id: 'n2' },
      { action: 'startElection', id: 'n3' },
      { action: 'addNode' },
      { action: 'restartRelay' },
    ]) {
      expect((await post(inspector, body)).status).toBe(200);
    }
    expect(control.calls).toEqual(['crash n1', 'freeze n2', 'unfreeze n2', 'startElection n3', 'addNode', 'restartRelay']);
  });

  it('refuses bad requests with a clear error and calls nothing', async () => {
    const control = recordingControl();
    const inspector = await inspectorWith({ control });
    expect(await post(inspector, '{not json')).toMatchObject({ status: 400, body: { error: expect.stringContaining('JSON') } });
    expect(await post(inspector, { action: 'reboot', id: 'n1' })).toMatchObject({ status: 400, body: { error: expect.stringContaining('unknown action') } });
    expect(await post(inspector, { action: 'crash' })).toMatchObject({ status: 400, body: { error: expect.stringContaining('"id"') } });
    expect(await post(inspector, { action: 'crash', id: 'all' })).toMatchObject({ status: 400 });
    expect(await post(inspector, 'x'.repeat(10_000)).catch(() => ({ status: 400 }))).toMatchObject({ status: 400 });
    expect(control.calls).toEqual([]);
    // A failing control is reported, not thrown.
    control.crash = async () => {
      throw new Error('no node n8');
    };
    expect(await post(inspector, { action: 'crash', id: 'n8' })).toMatchObject({ status: 409, body: { error: 'no node n8' } });
  });

  it('has no controls without a RingControl (standalone inspector)', async () => {
    const inspector = await inspectorWith();
    const page = await watch(inspector);
    expect(page.messages[0]).toMatchObject({ type: 'hello', controls: false });
    expect(await post(inspector, { action: 'crash', id: 'n1' })).toMatchObject({ status: 404 });
  });

  it('needs the admin token for controls and for ingest when RING_TOKEN is set', async () => {
    const control = recordingControl();
    const inspector = await inspectorWith({ control, token: 's3cret' });
    const page = await watch(inspector, 's3cret');
    expect(page.messages[0]).toMatchObject({ type: 'hello', tokenRequired: true });
    expect(await post(inspector, { action: 'crash', id: 'n1' })).toMatchObject({ status: 401, body: { error: expect.stringContaining('token') } });
    expect(await post(inspector, { action: 'crash', id: 'n1' }, 'wrong')).toMatchObject({ status: 401 });
    expect(control.calls).toEqual([]);
    expect(await post(inspector, { action: 'crash', id: 'n1' }, 's3cret')).toMatchObject({ status: 200 });
    expect(control.calls).toEqual(['crash n1']);

    expect(await upgradeStatus(inspector.ingestUrl)).toBe(401);
    const accepted = new WebSocket(inspector.ingestUrl, { headers: { Authorization: 'Bearer s3cret' } });
    cleanup(() => accepted.terminate());
    await new Promise((resolve, reject) => accepted.once('open', resolve).once('error', reject));
  });
});

describe('inspector server: bad inspection input', () => {
  it('ignores malformed and oversized messages and keeps serving everyone else', async () => {
    const inspector = await inspectorWith();
    const page = await watch(inspector);
    const bad = new WebSocket(`${inspector.ingestUrl}?name=broken`);
    cleanup(() => bad.terminate());
    await new Promise((resolve) => bad.once('open', resolve));
    bad.send('{not json');
    bad.send('42');
    bad.send(JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:0', snapshot: { context: null, value: 7 } }));
    bad.send(JSON.stringify({ type: '@xstate.actor', sessionId: 'x:0', name: 'node', snapshot: { value: { online: 'follower' }, context: { id: 'n1', rank: 'high', leader: 'nope' } } }));
    const closed = new Promise<number>((resolve) => bad.once('close', (code) => resolve(code)));
    bad.send('x'.repeat(2 << 20)); // over the 1 MB limit: this connection is closed, nothing else is
    expect(await closed).toBe(1009);

    // The server still works for a real ring.
    const ring = ringFor(inspector);
    await ring.addNodes([3, 1, 2]);
    await waitUntil(() => ring.agreedLeader() !== null, 20_000, 'agreement');
    await waitUntil(() => page.state()?.leader?.id === ring.agreedLeader(), 15_000, 'the page to show the leader');
  });
});

/** Sends `request` as raw bytes and resolves with the status line the server answers with ('' if it only hangs up). */
function rawRequest(inspector: RunningInspector, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(inspector.port, '127.0.0.1', () => socket.write(request));
    cleanup(() => socket.destroy());
    let reply = '';
    socket.on('data', (chunk) => (reply += String(chunk)));
    socket.on('close', () => resolve(reply.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.setTimeout(15_000, () => reject(new Error(`no answer to ${JSON.stringify(request.split('\r\n')[0])}`)));
  });
}

describe('inspector server: unreadable request targets', () => {
  it('answers 400 to `GET //` (upgrade or not) and to a bad percent-escape, and keeps serving', async () => {
    const inspector = await inspectorWith();
    const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    expect(await rawRequest(inspector, `GET // HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawRequest(inspector, 'GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawRequest(inspector, `GET /% HTTP/1.1\r\nHost: 127.0.0.1:${inspector.port}\r\nConnection: close\r\n\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect((await fetch(`${inspector.url}healthz`)).status).toBe(200);
    await watch(inspector); // the WebSocket endpoints too
  });
});

describe('inspector server: pages and the Stately bridge', () => {
  it('serves the page, the bridge page, and never a file outside the page folder', async () => {
    const inspector = await inspectorWith();
    const index = await fetch(inspector.url);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<svg id="ring"');
    expect((await fetch(`${inspector.url}app.js`)).headers.get('content-type')).toContain('javascript');
    expect(await (await fetch(`${inspector.url}stately`)).text()).toContain('stately.ai/inspect');
    expect((await fetch(`${inspector.url}..%2f..%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${inspector.url}nothing-here.js`)).status).toBe(404);
  });

  it('forwards every inspection message to the Stately bridge, replaying live actors to a late page', async () => {
    const inspector = await inspectorWith();
    const ring = ringFor(inspector);
    await ring.addNodes([1, 2]);
    await waitUntil(() => ring.agreedLeader() !== null, 20_000, 'agreement');
    const bridge = new WebSocket(inspector.ingestUrl.replace('/inspect', '/stately-events'));
    cleanup(() => bridge.terminate());
    const received: { type: string; name?: string; sessionId: string; _version?: string }[] = [];
    bridge.on('message', (data) => received.push(JSON.parse(String(data))));
    await waitUntil(() => received.filter((message) => message.type === '@xstate.actor' && message.name === 'node').length === 2, 10_000, 'replayed node actors');
    const actors = received.filter((message) => message.type === '@xstate.actor');
    expect(actors.map((message) => message.name).sort()).toEqual(['node', 'node', 'relay', 'relay', 'relay']);
    // Session ids are unique across processes, as the Stately inspector needs.
    expect(new Set(actors.map((message) => message.sessionId)).size).toBe(actors.length);
    expect(actors.every((message) => typeof message._version === 'string')).toBe(true);
    // And it keeps streaming live events.
    const before = received.length;
    await waitUntil(() => received.slice(before).some((message) => message.type === '@xstate.event'), 10_000, 'live events');
  });
});
