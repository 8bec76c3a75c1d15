/**
 * What the inspector keeps is bounded, per ingest connection and in total: one client that sent
 * 50,000 actor registrations of 4 KB used to grow `up` by a quarter of a gigabyte in seconds
 * (and kill it with a smaller heap). Here clients flood it with actors, sessions and streams; its
 * retained counts (GET /api/stats) stay at the caps, each stream over a cap is logged once, and
 * it still shows the real ring correctly afterwards. (No memory figures here: those depend on the
 * machine; the report of the change gives RSS before and after.)
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULT_LIMITS, type InspectorOptions, type RunningInspector } from '../inspector/server/index.js';
import type { RingState } from '../inspector/server/messages.js';
import { InProcessRing, waitUntil } from './inspectorHarness.js';
import { cleanup, closeAll, inspectorWith, upgradeStatus } from './inspectorKit.js';

afterEach(closeAll);

interface Stats {
  ingest: { connections: number; messages: number; invalid: number; replayDropped: number };
  retained: { processes: number; gone: number; log: number; elections: number; replay: { sessions: number; bytes: number } };
}

/** An inspector whose warnings are kept, to count them. */
async function watchedInspector(options: Partial<InspectorOptions> = {}): Promise<{ inspector: RunningInspector; warnings: () => string[]; stats: () => Promise<Stats> }> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const inspector = await inspectorWith({ logger: pino({ level: 'warn' }, sink), ...options });
  return {
    inspector,
    warnings: () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg),
    stats: async () => (await (await fetch(`${inspector.url}api/stats`)).json()) as Stats,
  };
}

async function stream(inspector: RunningInspector, name: string): Promise<WebSocket> {
  const socket = new WebSocket(`${inspector.ingestUrl}?name=${name}`);
  cleanup(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return socket;
}

/** A registration of one actor, padded like a machine definition. */
function actor(sessionId: string, padding: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: '@xstate.actor', sessionId, parentId: 'root/x:0', name: 'child', definition: 'x'.repeat(padding), snapshot: { status: 'active' }, ...extra });
}

describe('inspector: bounded memory', () => {
  it('holds at most its caps of actors, bytes and departed nodes whatever clients send, and still shows the real ring', async () => {
    const limits = { bytesTotal: 1 << 20, goneNodes: 5 };
    const { inspector, warnings, stats } = await watchedInspector({ limits });
    let sent = 0;

    // One client registers 3,000 actors of 4 KB, each a new session.
    const flood = await stream(inspector, 'flood');
    for (let index = 0; index < 3000; index += 1) flood.send(actor(`flood/x:${index}`, 4096));
    sent += 3000;
    await waitUntil(async () => (await stats()).ingest.messages === sent, 30_000, 'the flood to be read');
    let now = await stats();
    expect(now.retained.replay.sessions).toBe(DEFAULT_LIMITS.sessionsPerConnection);
    expect(now.ingest.replayDropped).toBe(3000 - DEFAULT_LIMITS.sessionsPerConnection);
    expect(now.ingest.invalid).toBe(0);

    // Forty more, each with two 40 KB actors: together over the total.
    const many = await Promise.all(Array.from({ length: 40 }, (_, index) => stream(inspector, `many-${index}`)));
    many.forEach((socket, index) => {
      socket.send(actor(`many-${index}/x:1`, 40_000));
      socket.send(actor(`many-${index}/x:2`, 40_000));
    });
    sent += 80;
    await waitUntil(async () => (await stats()).ingest.messages === sent, 30_000, 'the second flood to be read');
    now = await stats();
    expect(now.retained.replay.bytes).toBeLessThanOrEqual(limits.bytesTotal);
    expect(now.retained.replay.bytes).toBeGreaterThan(limits.bytesTotal - 2 * 40_500); // it did fill up to the cap
    // Each stream that went over a cap is logged once, not once per message.
    const overCap = warnings().filter((message) => message.startsWith('inspection stream over its replay limits'));
    expect(overCap.length).toBeGreaterThan(1);
    expect(overCap.length).toBeLessThanOrEqual(41);

    // Thirty nodes come and go: the model remembers the last five.
    for (let index = 0; index < 30; index += 1) {
      const node = await stream(inspector, `ghost-${index}`);
      node.send(JSON.stringify({ type: '@xstate.actor', sessionId: `ghost-${index}/x:0`, name: 'node', snapshot: { value: { online: 'follower' }, context: { id: `g${index}`, rank: index, term: 1, members: [] } } }));
      sent += 1;
      await waitUntil(async () => (await stats()).ingest.messages === sent, 10_000, 'the node to register');
      node.close();
    }
    await waitUntil(async () => (await stats()).retained.gone === limits.goneNodes && (await stats()).ingest.connections === 41, 10_000, 'the departed nodes to be forgotten down to the cap');
    now = await stats();
    expect(now.retained.processes).toBe(41 + limits.goneNodes);

    // A real ring still shows, right, next to what is left of the flood.
    const ring = new InProcessRing(inspector.ingestUrl);
    cleanup(() => ring.close());
    await ring.addNodes([10, 40, 20]);
    await waitUntil(() => ring.agreedLeader() !== null, 20_000, 'agreement');
    const leader = ring.agreedLeader()!;
    const shown = async () => (await (await fetch(`${inspector.url}api/state`)).json()) as RingState;
    await waitUntil(async () => (await shown()).leader?.id === leader, 15_000, 'the inspector to show the leader');
    const state = await shown();
    expect(state.nodes.filter((node) => node.member).map((node) => node.id)).toEqual(ring.ids());
    expect(state.nodes.filter((node) => node.state === 'exited')).toHaveLength(limits.goneNodes);
  });

  it('refuses ingest streams and pages beyond their caps with 503', async () => {
    const { inspector } = await watchedInspector({ limits: { ingestConnections: 2, pages: 1 } });
    await stream(inspector, 'one');
    await stream(inspector, 'two');
    expect(await upgradeStatus(inspector.ingestUrl)).toBe(503);
    const events = inspector.ingestUrl.replace('/inspect', '/events');
    expect(await upgradeStatus(events)).toBe(101);
    expect(await upgradeStatus(events)).toBe(503);
  });
});
