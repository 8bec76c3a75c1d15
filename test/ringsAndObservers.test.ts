/**
 * What a program gets beyond "who leads": several independent rings on one relay, observers that
 * watch without standing, the leader's metadata (where to reach it), and `campaign()`, at the
 * level a user meets each: the wire (raw clients), the relay's HTTP side, and the library.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, observeRing, type RingNode, type RingObserver } from '../index.js';
import { startRelay, type RunningRelay } from '../relay/server.js';
import { FAST, silentLogger, TestRing, waitFor } from './nodeKit.js';
import { metric, TestClient } from './relayHelpers.js';

const relays: RunningRelay[] = [];
const nodes: RingNode[] = [];
const observers: RingObserver[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.allSettled(observers.splice(0).map((observer) => observer.close()));
  await Promise.allSettled(nodes.splice(0).map((node) => node.leave()));
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
});

async function relay(options: Parameters<typeof startRelay>[0] = {}): Promise<RunningRelay> {
  const started = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: FAST.leaderTimeoutMs, logger: silentLogger, ...options });
  relays.push(started);
  return started;
}

async function join(url: string, options: Partial<Parameters<typeof joinRing>[0]> = {}): Promise<RingNode> {
  const node = await joinRing({ relay: url, timing: FAST, logger: silentLogger, ...options });
  nodes.push(node);
  return node;
}

async function client(url: string): Promise<TestClient> {
  const connected = await TestClient.connect(url);
  clients.push(connected);
  return connected;
}

async function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.on('open', () => {
      socket.terminate();
      resolve(101);
    });
    socket.on('error', () => undefined);
  });
}

describe('named rings on one relay', () => {
  it('each ring has its own members, ids, terms and leader, and a frame never crosses rings', async () => {
    const server = await relay();
    const jobs = [await join(`${server.url}/rings/jobs`, { rank: 10 }), await join(`${server.url}/rings/jobs`, { rank: 20 })];
    const mail = [await join(server.url, { ring: 'mail', rank: 5 }), await join(server.url, { ring: 'mail', rank: 7 })];
    const plain = await join(server.url, { rank: 1 });
    const ring = new TestRing();
    const jobsLeader = await ring.agreement(jobs, 'the jobs ring to elect');
    const mailLeader = await ring.agreement(mail, 'the mail ring to elect');
    expect(jobsLeader.rank).toBe(20);
    expect(mailLeader.rank).toBe(7);
    // Ids are per ring: both rings (and the default one) start at n1.
    expect(new Set(jobs.map((node) => node.id))).toEqual(new Set(['n1', 'n2']));
    expect(new Set(mail.map((node) => node.id))).toEqual(new Set(['n1', 'n2']));
    expect(plain.members()).toEqual([plain.id]);

    expect(server.status('jobs')).toMatchObject({ ring: 'jobs', members: ['n1', 'n2'], leader: { id: jobsLeader.id, rank: 20 } });
    expect(server.status('nope')).toBeNull();
    const list = await (await fetch(`${server.url.replace('ws', 'http')}/rings`)).json();
    expect(list.map((entry: { name: string }) => entry.name).sort()).toEqual(['default', 'jobs', 'mail']);
    expect((await fetch(`${server.url.replace('ws', 'http')}/status?ring=mail`)).status).toBe(200);
    expect((await fetch(`${server.url.replace('ws', 'http')}/status?ring=nope`)).status).toBe(404);
    const metrics = server.metrics();
    expect(metric(metrics, 'ringleader_relay_members{ring="jobs"}')).toBe(2);
    expect(metric(metrics, 'ringleader_relay_members{ring="default"}')).toBe(1);

    // A raw member of "jobs" cannot reach "mail"'s n1 by id: ids are per ring, and so is routing.
    const stranger = await client(`${server.url}/rings/jobs`);
    stranger.send({ type: 'checkLeader', to: 'n9', nonce: 'x' });
    await stranger.error('unknown_target');
    const before = mail.map((node) => node.term());
    stranger.send({ type: 'newLeader', to: 'all', leaderId: stranger.id, rank: 99, term: 50 });
    await waitFor(() => jobs.every((node) => node.term() === 50), 'the jobs ring to hear the announcement');
    expect(mail.map((node) => node.term())).toEqual(before);
  });

  it('refuses a bad ring name with 400, and a new ring past --max-rings with 503 unless an empty one can go', async () => {
    const server = await relay({ limits: { maxRings: 2 } });
    expect(await httpStatus(`${server.url}/rings/bad%20name`)).toBe(400);
    const a = await client(`${server.url}/rings/a`);
    expect(await httpStatus(`${server.url}/rings/b`)).toBe(503);
    a.close();
    await waitFor(() => server.status('a')?.members.length === 0 || undefined, 'ring a to empty');
    expect(await httpStatus(`${server.url}/rings/b`)).toBe(101);
    expect(server.status('a')).toBeNull();
  });

  it('the default ring answers on / and on /rings/default alike', async () => {
    const server = await relay();
    const a = await client(server.url);
    const b = await client(`${server.url}/rings/default`);
    expect(b.frames[0]!.members).toEqual([a.id, b.id]);
  });
});

describe('observers', () => {
  it('watch without standing: never in ring order, never handed a lap, never elected, told every leader', async () => {
    const server = await relay();
    const watcher = await client(`${server.url}/?role=observer`);
    expect(watcher.frames[0]).toMatchObject({ type: 'welcome', role: 'observer', members: [] });
    const a = await join(server.url, { rank: 10 });
    const b = await join(server.url, { rank: 20 });
    const leader = await new TestRing().agreement([a, b]);
    await watcher.next((frame) => frame.type === 'newLeader' && frame.leaderId === leader.id, 'the announcement');
    expect(watcher.frames.filter((frame) => frame.type === 'ring').map((frame) => frame.joined)).toEqual([a.id, b.id]);
    const termBefore = leader.term();
    a.startElection();
    await waitFor(() => a.term() > termBefore || undefined, 'another election');
    expect(watcher.frames.some((frame) => ['election', 'checkLeader', 'answerLeader'].includes(frame.type))).toBe(false);
    expect(server.status().members).toEqual([a.id, b.id]);
    expect(server.status().observers).toEqual([{ id: watcher.id }]);
    // An observer only watches.
    watcher.send({ type: 'election', to: 'next', initiator: watcher.id, term: 99, eligible: [{ id: watcher.id, rank: 1e6 }] });
    expect((await watcher.error('bad_frame')).detail).toMatch(/observers .* only watch/);
  });

  it('observeRing() reports the leader, follows failovers, and ends its iterator on close', async () => {
    const server = await relay();
    const a = await join(server.url, { ring: 'jobs', rank: 10 });
    const b = await join(server.url, { ring: 'jobs', rank: 20 });
    const first = await new TestRing().agreement([a, b]);
    const firstTerm = first.term();
    const observer = await observeRing({ relay: server.url, ring: 'jobs', logger: silentLogger, leaderTimeoutMs: FAST.leaderTimeoutMs });
    observers.push(observer);
    expect(observer.leader()).toMatchObject({ id: first.id });
    expect(observer.members()).toEqual([a.id, b.id]);
    const seen = observer.leaders();
    expect((await seen.next()).value).toMatchObject({ id: first.id });
    await first.leave();
    nodes.splice(nodes.indexOf(first), 1);
    const next = (await seen.next()).value;
    expect(next.id).not.toBe(first.id);
    expect(next.term).toBeGreaterThan(firstTerm);
    expect(observer.leader()).toEqual(next);
    await observer.close();
    expect((await seen.next()).done).toBe(true);
  });
});

describe('the leader\'s metadata', () => {
  it('travels with the leader to every member, observer, newcomer and /status; the node that closed the lap learns it too', async () => {
    const server = await relay();
    const meta = (port: number) => ({ url: `http://10.0.0.5:${port}`, zone: 'b' });
    const ring = [await join(server.url, { rank: 10, meta: meta(8081) }), await join(server.url, { rank: 30, meta: meta(8083) }), await join(server.url, { rank: 20 })];
    const observer = await observeRing({ relay: server.url, logger: silentLogger, leaderTimeoutMs: FAST.leaderTimeoutMs });
    observers.push(observer);
    // n1 (rank 10) asks for an election: it closes the lap, which rank 30 wins.
    ring[0]!.startElection();
    await waitFor(() => ring.every((node) => node.leader()?.rank === 30 && node.leader()?.meta !== undefined) || undefined, 'everyone to know the leader and its meta');
    for (const node of ring) expect(node.leader()!.meta).toEqual(meta(8083));
    await waitFor(() => observer.leader()?.meta !== undefined || undefined, 'the observer to know it');
    expect(observer.leader()!.meta).toEqual(meta(8083));
    const status = server.status();
    expect(status.leader).toMatchObject({ rank: 30, meta: meta(8083) });
    expect(status.memberDetails.map((member) => member.meta)).toEqual([meta(8081), meta(8083), undefined]);
    const newcomer = await client(server.url);
    expect(newcomer.frames[0]!.leader).toMatchObject({ meta: meta(8083) });
    // onNewLeader hands it over too.
    const told: unknown[] = [];
    ring[2]!.onNewLeader((leader) => told.push(leader.meta));
    expect(told).toEqual([meta(8083)]);
  });

  it('refuses metadata that is not a JSON object of at most 1 KB, at the door and in joinRing', async () => {
    const server = await relay();
    expect(await httpStatus(`${server.url}/?meta=%5B1%2C2%5D`)).toBe(400);
    expect(await httpStatus(`${server.url}/?meta=not-json`)).toBe(400);
    expect(await httpStatus(`${server.url}/?meta=${encodeURIComponent(JSON.stringify({ big: 'x'.repeat(2000) }))}`)).toBe(400);
    await expect(joinRing({ relay: server.url, meta: { big: 'x'.repeat(2000) } })).rejects.toThrow(/meta is \d+ bytes URL-encoded/);
    // A member cannot pin metadata on someone else: the relay stamps the leader's own.
    const a = await client(server.url);
    const b = await client(`${server.url}/?meta=${encodeURIComponent(JSON.stringify({ url: 'http://b' }))}`);
    a.send({ type: 'newLeader', to: 'all', leaderId: b.id, rank: 1, term: 1, meta: { url: 'http://evil' } });
    expect((await b.next((frame) => frame.type === 'newLeader')).meta).toEqual({ url: 'http://b' });
    a.send({ type: 'newLeader', to: 'all', leaderId: a.id, rank: 1, term: 2, meta: { url: 'http://evil' } });
    expect((await b.next((frame) => frame.type === 'newLeader' && frame.term === 2)).meta).toBeUndefined();
  });
});

describe('campaign()', () => {
  it('resolves with the term and a signal when this node leads; an aborted signal rejects it', async () => {
    const server = await relay();
    const low = await join(server.url, { rank: 1 });
    const high = await join(server.url, { rank: 9 });
    const winning = high.campaign();
    const controller = new AbortController();
    const losing = low.campaign({ signal: controller.signal });
    const leadership = await winning;
    expect(high.isLeader()).toBe(true);
    expect(leadership.term).toBe(high.term());
    expect(leadership.signal.aborted).toBe(false);
    controller.abort(new Error('gave up'));
    await expect(losing).rejects.toThrow('gave up');
    // Campaigning while leading resolves at once with the current leadership.
    expect((await high.campaign()).term).toBe(leadership.term);
    await high.resign();
    expect(leadership.signal.aborted).toBe(true);
  });
});
