/**
 * The hub with an owner (a relay on `--store`): a ring is carried on only while the owner says
 * this relay serves it, judged at every ping and frame, not only when the store's 'stopped'
 * event comes. A relay that wakes from a freeze must renew none of its members' leases (their
 * lease pings go unanswered) before its lease timer fires. The owner here is a stand-in for the
 * etcd store's answers (test/etcd/ runs the real store); the sockets are real.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { pino } from 'pino';
import { DEFAULT_RING } from '../machines/protocol.js';
import { ConnectionHub, type RingOwner } from '../relay/connections.js';
import { DEFAULT_LIMITS } from '../relay/limits.js';
import { RelayMetrics } from '../relay/metrics.js';
import { waitFor } from '../runtime/waitFor.js';

class OwnerStandIn implements RingOwner {
  served = true;
  serving(): boolean {
    return this.served;
  }
  ownership() {
    return { serving: this.served, activeRelay: this.served ? 'ws://this.test:8080' : null };
  }
  floor(): number {
    return 0;
  }
  async record(): Promise<void> {}
}

const servers: Server[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function ownedRelay(owner: RingOwner): Promise<{ url: string; hub: ConnectionHub; metrics: RelayMetrics }> {
  const metrics = new RelayMetrics();
  const hub = new ConnectionHub({ limits: DEFAULT_LIMITS, logger: pino({ level: 'silent' }), metrics, owner });
  const upgrades = new WebSocketServer({ noServer: true, autoPong: false });
  const server = createServer();
  server.on('upgrade', (request, socket, head) => {
    upgrades.handleUpgrade(request, socket, head, (websocket) => {
      hub.accept(websocket, socket as Socket, { ring: DEFAULT_RING, role: 'member', resume: null, id: null, host: null, meta: null }, '127.0.0.1');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, hub, metrics };
}

async function member(url: string): Promise<{ socket: WebSocket; pongs: number[]; closed: Promise<number> }> {
  const socket = new WebSocket(url);
  sockets.push(socket);
  const pongs: number[] = [];
  socket.on('pong', (data) => pongs.push(Number(data.toString())));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
  });
  return { socket, pongs, closed };
}

describe('a relay that serves a ring only while its owner says so', () => {
  it('answers lease pings while serving; once not, answers none, closes the ring with 4010 and lists it no more', async () => {
    const owner = new OwnerStandIn();
    const { url, hub } = await ownedRelay(owner);
    const node = await member(url);
    node.socket.ping('1');
    await waitFor(() => node.pongs.includes(1), 'the pong of ping 1', { timeoutMs: 10_000 });
    expect(hub.ringList().map((ring) => ring.name)).toEqual([DEFAULT_RING]);

    // The lease ran out on the relay's clock, and the store's 'stopped' event has not come yet.
    owner.served = false;
    node.socket.ping('2');
    expect(await node.closed).toBe(4010);
    expect(node.pongs).toEqual([1]);
    expect(hub.ringList()).toEqual([]);
    expect(hub.status(DEFAULT_RING)).toMatchObject({ serving: false, activeRelay: null, members: [] });
  });

  it('a join that comes after the ring moved is closed with 4010, never welcomed', async () => {
    const owner = new OwnerStandIn();
    owner.served = false;
    const { url } = await ownedRelay(owner);
    const socket = new WebSocket(url);
    sockets.push(socket);
    const frames: string[] = [];
    socket.on('message', (data) => frames.push(data.toString()));
    const code = await new Promise<number>((resolve) => socket.once('close', (closeCode) => resolve(closeCode)));
    expect(code).toBe(4010);
    expect(frames).toEqual([]);
  });
});
