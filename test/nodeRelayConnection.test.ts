/**
 * The relay connection against a scripted relay: a dead link (the relay stops reading and
 * answering pings, the socket stays open) makes the leader step down within the heartbeat
 * window, well before a follower's leader timeout could elect another; bad frames from the
 * relay are logged and dropped; reconnects back off, ask for the old id and present the token.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { joinRing, type RingNode } from '../index.js';
import { capturingLogger, FAST, waitFor } from './nodeKit.js';

interface Scripted {
  url: string;
  requests: Array<{ url: string; authorization: string | undefined }>;
  close(): Promise<void>;
}

interface Script {
  /** Frames to send before the welcome. */
  beforeWelcome?: (socket: WebSocket) => void;
  /** Frames to send right after the welcome. */
  afterWelcome?: (socket: WebSocket) => void;
  /** The first link goes dead (stops reading: no frames, no pongs) once the node leads on it. */
  deadOnceLeading?: boolean;
  /**
   * The first link goes half dead once the node leads on it: the relay still sends frames (a
   * follower's `checkLeader` every 50 ms) but nothing the node sends arrives, so no pongs.
   */
  oneWayOnceLeading?: boolean;
}

/**
 * A relay for a ring of one: it welcomes every connection as `n7`, hands `election` frames
 * straight back (the next member of a ring of one is itself), and remembers the last
 * `newLeader` for the next welcome, as the real relay does.
 */
async function scriptedRelay(script: Script = {}, port = 0): Promise<Scripted> {
  const server = new WebSocketServer({ port, host: '127.0.0.1', autoPong: false });
  await new Promise((resolve) => server.once('listening', resolve));
  const requests: Scripted['requests'] = [];
  let leader: unknown = null;
  server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    requests.push({ url: request.url ?? '', authorization: request.headers.authorization });
    const first = requests.length === 1;
    let deaf = false;
    socket.on('ping', (data) => {
      if (!deaf) socket.pong(data);
    });
    socket.on('close', () => clearInterval(checks));
    let checks: NodeJS.Timeout | undefined;
    script.beforeWelcome?.(socket);
    socket.send(JSON.stringify({ type: 'welcome', clientId: 'n7', protocol: 1, members: ['n7'], leader }));
    script.afterWelcome?.(socket);
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; leaderId?: string; rank?: number; term?: number };
      if (frame.type === 'election') socket.send(JSON.stringify({ ...frame, from: 'n7' }));
      if (frame.type === 'newLeader') {
        leader = { id: frame.leaderId, rank: frame.rank, term: frame.term };
        if (first && script.deadOnceLeading) (socket as unknown as { _socket: { pause(): void } })._socket.pause();
        if (first && script.oneWayOnceLeading && !deaf) {
          deaf = true;
          let nonce = 0;
          checks = setInterval(() => socket.send(JSON.stringify({ type: 'checkLeader', to: 'n7', from: 'n9', nonce: String((nonce += 1)) })), 50);
        }
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

describe('the relay connection', () => {
  let relay: Scripted | null = null;
  let node: RingNode | null = null;
  afterEach(async () => {
    await node?.leave();
    await relay?.close();
    node = null;
    relay = null;
  });

  it('a leader whose relay goes silent steps down within the heartbeat window, then resumes its id and leads in a newer term', async () => {
    const timing = { ...FAST, leaderTimeoutMs: 3000 };
    relay = await scriptedRelay({ deadOnceLeading: true });
    const { logger, lines } = capturingLogger();
    node = await joinRing({ relay: relay.url, rank: 5, token: 's3cret', logger, timing });
    let ledAt = 0;
    let lostAfterMs: number | null = null;
    const terms: number[] = [];
    node.onStartedLeading(({ term, signal }) => {
      ledAt ||= performance.now();
      terms.push(term);
      signal.addEventListener('abort', () => (lostAfterMs ??= performance.now() - ledAt));
    });
    await waitFor(() => terms.length === 1, 'the node, alone, to elect itself');

    await waitFor(() => lostAfterMs !== null, 'the silent link to cost the leadership');
    // A follower's leader timeout fires no sooner than 0.8 x leaderTimeoutMs (jitter): the
    // leader must have stepped down before that, or two nodes could act as leader at once.
    expect(lostAfterMs).toBeLessThan(0.8 * timing.leaderTimeoutMs);
    expect(lines.find((line) => String(line.msg).startsWith('relay silent'))).toMatchObject({ clientId: 'n7', rank: 5, term: terms[0] });
    const retry = await waitFor(() => lines.find((line) => line.msg === 'reconnecting'), 'a reconnect');
    expect(retry).toMatchObject({ attempt: 1, delayMs: expect.any(Number) });

    // The second link works: it asked for its old id, with the token, and leads again.
    await waitFor(() => lines.find((line) => line.msg === 'node rejoined'), 'the node to rejoin');
    expect(relay.requests.map((request) => new URL(request.url, 'ws://relay').searchParams.get('resume'))).toEqual([null, 'n7']);
    expect(relay.requests.every((request) => request.authorization === 'Bearer s3cret')).toBe(true);
    await waitFor(() => node!.isLeader(), 'leadership on the healthy link');
    // Cut off for a whole lease, it could not know whether another leader was elected meanwhile:
    // it does not reclaim its old term, it is elected again, in a newer one.
    expect(terms).toHaveLength(2);
    expect(terms[1]).toBeGreaterThan(terms[0]!);
  });

  it('a leader that still hears the relay but cannot reach it steps down as well', async () => {
    const timing = { ...FAST, leaderTimeoutMs: 3000 };
    relay = await scriptedRelay({ oneWayOnceLeading: true });
    node = await joinRing({ relay: relay.url, rank: 5, logger: capturingLogger().logger, timing });
    let ledAt = 0;
    let lostAfterMs: number | null = null;
    node.onStartedLeading(({ signal }) => {
      ledAt ||= performance.now();
      signal.addEventListener('abort', () => (lostAfterMs ??= performance.now() - ledAt));
    });
    // Frames keep arriving, but no round trip is confirmed: that is not a lease.
    await waitFor(() => lostAfterMs !== null, 'the one-way link to cost the leadership');
    expect(lostAfterMs).toBeLessThan(0.8 * timing.leaderTimeoutMs);
  });

  it('takes a burst of joins read at once as the same joins one by one, in order with what follows', async () => {
    relay = await scriptedRelay({
      afterWelcome(socket) {
        // One write, so the node reads the burst in one go, as from a relay flushing a turn of joins.
        const raw = (socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
        raw.cork();
        for (const id of ['n8', 'n9', 'n10']) socket.send(JSON.stringify({ type: 'ring', joined: id }));
        socket.send(JSON.stringify({ type: 'ring', left: 'n9' }));
        socket.send(JSON.stringify({ type: 'ring', joined: 'n11' }));
        raw.uncork();
      },
    });
    const { logger, lines } = capturingLogger();
    const events: string[] = [];
    node = await joinRing({
      relay: relay.url,
      rank: 5,
      logger,
      timing: FAST,
      inspect: (inspection) => {
        if (inspection.type === '@xstate.event' && inspection.event.type.startsWith('ring')) events.push(inspection.event.type);
      },
    });
    await waitFor(() => node!.members().length === 4 || undefined, 'the joins and the leave');
    expect(node.members()).toEqual(['n7', 'n8', 'n10', 'n11']);
    const joined = lines.filter((line) => line.msg === 'member joined');
    expect(joined.map((line) => [line.memberId, line.memberCount])).toEqual([['n8', 2], ['n9', 3], ['n10', 4], ['n11', 4]]);
    // The three joins before the leave went to the machine as one event.
    expect(events.slice(0, 2)).toEqual(['ring.joined', 'ring']);
  });

  it('logs and drops bad frames from the relay, and still joins', async () => {
    relay = await scriptedRelay({
      beforeWelcome(socket) {
        socket.send('this is not json');
        socket.send(JSON.stringify({ type: 'mystery' }));
        socket.send(JSON.stringify({ type: 'welcome', clientId: 42 }));
        socket.send(Buffer.from([1, 2, 3]), { binary: true });
      },
    });
    const { logger, lines } = capturingLogger();
    node = await joinRing({ relay: relay.url, rank: 5, logger, timing: FAST });
    expect(node.id).toBe('n7');
    const dropped = lines.filter((line) => line.msg.startsWith('dropped bad frame from relay'));
    expect(dropped.map((line) => line.code)).toEqual(['bad_json', 'unknown_type', 'bad_frame', 'bad_frame']);
    await waitFor(() => node!.isLeader(), 'the node to lead');
  });

  it('backs off between attempts while the relay is unreachable, and joins once it is there', async () => {
    // Reserve a port, then free it: connections are refused until the relay appears on it.
    const placeholder = await scriptedRelay();
    const url = placeholder.url;
    await placeholder.close();
    const { logger, lines } = capturingLogger();
    const joining = joinRing({ relay: url, rank: 5, logger, timing: { ...FAST, reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 400 } });
    await waitFor(() => lines.filter((line) => line.msg === 'reconnecting').length >= 4, 'four retries');
    const retries = lines.filter((line) => line.msg === 'reconnecting');
    expect(retries.map((line) => line.attempt)).toEqual(retries.map((_, index) => index + 1));
    for (const line of retries) {
      const ceiling = Math.min(400, 50 * 2 ** ((line.attempt as number) - 1));
      expect(line.delayMs).toBeGreaterThanOrEqual(ceiling / 2);
      expect(line.delayMs).toBeLessThanOrEqual(ceiling);
    }
    relay = await scriptedRelay({}, Number(new URL(url).port));
    node = await joining;
    expect(node.id).toBe('n7');
  });
});
