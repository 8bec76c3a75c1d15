/**
 * The relay in process (startRelay), for what needs fine control: peers that never answer
 * pings, flooders, peers that stop reading, and both routing paths giving the same answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startRelay, type RelayOptions, type RunningRelay } from '../relay/server.js';
import { TestClient, memoryLogger, metric, type Json } from './relayHelpers.js';

const relays: RunningRelay[] = [];
const clients: TestClient[] = [];

async function relayWith(options: RelayOptions = {}): Promise<{ relay: RunningRelay; logs: Json[] }> {
  const { logger, lines } = memoryLogger();
  const relay = await startRelay({ port: 0, host: '127.0.0.1', logger, ...options });
  relays.push(relay);
  return { relay, logs: lines };
}

async function join(relay: RunningRelay, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
  const client = await TestClient.connect(relay.url, options);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
});

describe('routing (every frame through the relay machine)', () => {
  it('delivers next, all and <id> with from stamped, and errors on unknown targets', async () => {
    const { relay } = await relayWith();
    const [a, b, c] = [await join(relay), await join(relay), await join(relay)];

    c.send({ type: 'election', to: 'next', initiator: c.id, term: 4, eligible: [{ id: c.id, rank: 1 }] });
    expect(await a.next((frame) => frame.type === 'election')).toEqual({
      type: 'election', to: 'next', initiator: c.id, term: 4, eligible: [{ id: c.id, rank: 1 }], from: c.id,
    });
    b.send({ type: 'checkLeader', to: 'all', nonce: 'q' });
    await a.next((frame) => frame.type === 'checkLeader' && frame.from === b.id);
    await c.next((frame) => frame.type === 'checkLeader' && frame.from === b.id);
    a.send({ type: 'answerLeader', to: c.id, nonce: 'q', term: 4 });
    expect(await c.next((frame) => frame.type === 'answerLeader')).toMatchObject({ from: a.id, to: c.id });
    a.send({ type: 'answerLeader', to: 'gone', nonce: 'q', term: 4 });
    expect(await a.error('unknown_target')).toMatchObject({ detail: expect.stringContaining('gone') });

    // Alone in the ring, `next` is yourself (the ring of one completes its own election).
    const { relay: solo } = await relayWith();
    const only = await join(solo);
    only.send({ type: 'election', to: 'next', initiator: only.id, term: 1, eligible: [{ id: only.id, rank: 3 }] });
    expect(await only.next((frame) => frame.type === 'election')).toMatchObject({ from: only.id });

    const metrics = relay.metrics();
    expect(metric(metrics, 'ringleader_relay_frames_forwarded_total{type="answerLeader"}')).toBe(1);
    expect(metric(metrics, 'ringleader_relay_frames_rejected_total{code="unknown_target"}')).toBe(1);
  });
});

describe('startRelay', () => {
  it('drops a peer that stops answering pings within about one leader timeout, and tells the ring', async () => {
    const leaderTimeoutMs = 600;
    const { relay, logs } = await relayWith({ leaderTimeoutMs });
    const healthy = await join(relay);
    // Taken before the frozen peer joins: a just-joined peer counts as alive at the next ping
    // round and can only be dropped one round after that, so it leaves no sooner than one
    // heartbeat interval from here, however late this test's own callbacks run.
    const since = Date.now();
    const frozen = await join(relay, { autoPong: false });
    await healthy.next((frame) => frame.type === 'ring' && frame.joined === frozen.id);
    const left = await healthy.next((frame) => frame.type === 'ring' && frame.left === frozen.id, 'the frozen peer to leave');
    const took = Date.now() - since;
    expect(left).toEqual({ type: 'ring', left: frozen.id });
    // Never before one heartbeat interval (half the leader timeout; a little slack for timer rounding).
    expect(took).toBeGreaterThanOrEqual(leaderTimeoutMs / 2 - 50);
    expect(logs.find((line) => line.msg === 'leave' && line.clientId === frozen.id)?.reason).toBe('heartbeat');
    expect(metric(relay.metrics(), 'ringleader_relay_leaves_total{ring="default",reason="heartbeat"}')).toBe(1);
    // The healthy peer, which answers pings, stays.
    await new Promise((resolve) => setTimeout(resolve, leaderTimeoutMs * 2));
    expect(relay.status().members).toEqual([healthy.id]);
  });

  it('answers a flood with rate_limited once, drops the excess, and closes a persistent flooder with 4029', async () => {
    const { relay, logs } = await relayWith({ limits: { rateLimitPerSecond: 50, rateBurst: 20 } });
    const target = await join(relay);
    const flooder = await join(relay);
    await target.next((frame) => frame.type === 'ring' && frame.joined === flooder.id);

    for (let index = 0; index < 200; index += 1) flooder.send({ type: 'checkLeader', to: target.id, nonce: String(index) });
    const error = await flooder.error('rate_limited');
    expect(error.detail).toMatch(/50 frames\/s/);
    expect((await flooder.waitClosed()).code).toBe(4029);
    await target.next((frame) => frame.type === 'ring' && frame.left === flooder.id);

    const passed = target.frames.filter((frame) => frame.type === 'checkLeader').length;
    expect(passed).toBeGreaterThanOrEqual(20);
    expect(passed).toBeLessThan(100);
    // Told once, not once per dropped frame.
    expect(flooder.frames.filter((frame) => frame.type === 'error')).toHaveLength(1);
    const metrics = relay.metrics();
    expect(metric(metrics, 'ringleader_relay_frames_rejected_total{code="rate_limited"}')).toBeGreaterThan(0);
    expect(metric(metrics, 'ringleader_relay_leaves_total{ring="default",reason="rate_limited"}')).toBe(1);
    expect(logs.find((line) => line.msg === 'leave' && line.clientId === flooder.id)?.reason).toBe('rate_limited');
    expect(logs.find((line) => line.msg === 'rejected frame' && line.code === 'rate_limited')?.clientId).toBe(flooder.id);
  });

  it('serves a client that stays under its rate limit', async () => {
    const { relay } = await relayWith({ limits: { rateLimitPerSecond: 200, rateBurst: 20 } });
    const a = await join(relay);
    const b = await join(relay);
    for (let index = 0; index < 60; index += 1) {
      a.send({ type: 'checkLeader', to: b.id, nonce: String(index) });
      await b.next((frame) => frame.type === 'checkLeader' && frame.nonce === String(index));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(a.frames.some((frame) => frame.type === 'error')).toBe(false);
  });

  it('drops a peer that stops reading once its backlog passes the cap, without hurting the sender', async () => {
    const { relay, logs } = await relayWith({ limits: { maxBacklogBytes: 64 * 1024, rateLimitPerSecond: 0 } });
    const sender = await join(relay);
    const stalled = await join(relay);
    const watcher = await join(relay);
    await sender.next((frame) => frame.type === 'ring' && frame.joined === watcher.id);
    stalled.socket.pause();

    // ~3 KiB frames until the relay gives up on the stalled peer (kernel buffers absorb the first MiBs).
    const eligible = Array.from({ length: 80 }, (_, index) => ({ id: `candidate-${index}`, rank: index }));
    let sent = 0;
    while (relay.status().members.includes(stalled.id) && sent < 20_000) {
      for (let index = 0; index < 200; index += 1) {
        sender.send({ type: 'election', to: stalled.id, initiator: sender.id, term: sent + 1, eligible });
        sent += 1;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await watcher.next((frame) => frame.type === 'ring' && frame.left === stalled.id, 'the stalled peer to be dropped');
    expect(logs.find((line) => line.msg === 'leave' && line.clientId === stalled.id)?.reason).toBe('backlog');
    expect(metric(relay.metrics(), 'ringleader_relay_leaves_total{ring="default",reason="backlog"}')).toBe(1);

    sender.send({ type: 'checkLeader', to: watcher.id, nonce: 'still-here' });
    await watcher.next((frame) => frame.type === 'checkLeader' && frame.nonce === 'still-here');
  });

  it('times the failover from the leader leaving to the next newLeader, and logs both', async () => {
    const { relay, logs } = await relayWith();
    const [a, b, c] = [await join(relay), await join(relay), await join(relay)];
    b.send({ type: 'newLeader', to: 'all', leaderId: a.id, rank: 9, term: 1 });
    await c.next((frame) => frame.type === 'newLeader');
    // A stale announcement does not change the relay's leader.
    c.send({ type: 'newLeader', to: 'all', leaderId: c.id, rank: 1, term: 0 });
    await a.next((frame) => frame.type === 'newLeader' && frame.term === 0);
    expect(relay.status().leader).toEqual({ id: a.id, rank: 9, term: 1 });

    a.close();
    await b.next((frame) => frame.type === 'ring' && frame.left === a.id);
    expect(relay.status()).toMatchObject({ leader: null, highestTerm: 1 });
    b.send({ type: 'newLeader', to: 'all', leaderId: b.id, rank: 5, term: 2 });
    await c.next((frame) => frame.type === 'newLeader' && frame.term === 2);

    const changes = logs.filter((line) => line.msg === 'leader announced');
    expect(changes.map((line) => [line.leaderId, line.term])).toEqual([[a.id, 1], [b.id, 2]]);
    expect(changes[1]!.failoverMs).toBeGreaterThanOrEqual(0);
    const metrics = relay.metrics();
    expect(metric(metrics, 'ringleader_relay_leader_changes_total{ring="default"}')).toBe(2);
    expect(metric(metrics, 'ringleader_relay_failover_seconds_count{ring="default"}')).toBe(1);
    expect(metric(metrics, 'ringleader_relay_failover_seconds_bucket{ring="default",le="30"}')).toBe(1);
  });

  it('closes cleanly with 1001 for every client, twice in a row without harm', async () => {
    const { relay } = await relayWith();
    const a = await join(relay);
    await Promise.all([relay.close(), relay.close()]);
    expect((await a.waitClosed()).code).toBe(1001);
    await expect(fetch(`http://127.0.0.1:${relay.port}/healthz`)).rejects.toThrow();
  });

  it('survives garbage on the HTTP port and an upgrade that hangs up', async () => {
    const { relay } = await relayWith();
    const member = await join(relay);
    const { connect } = await import('node:net');
    // Not even a request line: answered 400, and that socket closed.
    const garbage = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(relay.port, '127.0.0.1', () => socket.end('\u0000\u0001 not http at all\r\n\r\n'));
      socket.on('data', (chunk) => (text += String(chunk)));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    await new Promise<void>((resolve) => {
      const socket = connect(relay.port, '127.0.0.1', () => {
        socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
        socket.destroy();
        resolve();
      });
    });
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(relay.port, '127.0.0.1', () =>
        socket.write(
          'GET http://[ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      );
      socket.on('data', (chunk) => (text += String(chunk)));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(relay.status().members).toEqual([member.id]);
    const other = await join(relay);
    await member.next((frame) => frame.type === 'ring' && frame.joined === other.id);
  });
});
