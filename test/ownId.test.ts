/**
 * A node's own identity (issue 25, item 1): `joinRing({ id })`, `ringleader node --id`. The node
 * joins under that id and keeps it across reconnects (a relay restart included); a live member
 * holding it already makes the join fail with `RelayConnectionError` code `id_taken` (HTTP 409 at
 * the upgrade), never a silently different id. Relay-assigned ids stay the default.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { createActor } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, RelayConnectionError } from '../index.js';
import { relayMachine, type RelayEmitted } from '../machines/relayMachine.js';
import { FAST, killChild, repoRoot, silentLogger, spawnWithLines, TestRing, waitFor, type ChildWithLines } from './nodeKit.js';

const ring = new TestRing();
const children: ChildWithLines[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map(killChild));
  await ring.cleanUp();
});

/** A WebSocket upgrade request by hand: the relay's answer when it refuses (status and body), or 101. */
function upgrade(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url.replace(/^ws/, 'http'), {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode ?? 0, body: '' });
    });
    req.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the relay machine: an explicit id request', () => {
  it('admits a connection under the id it asks for, and refuses (id_taken) a second one while the first holds it', () => {
    const actor = createActor(relayMachine, { input: { maxMembers: 10, forwardTimeoutMs: 1000 } });
    const emitted: RelayEmitted[] = [];
    actor.on('*', (event) => emitted.push(event as RelayEmitted));
    actor.start();
    const answer = (connection: number) => emitted.find((event) => (event.type === 'admitted' || event.type === 'refused') && event.connection === connection);

    actor.send({ type: 'connect', connection: 1, resume: null, host: null, id: 'worker-3' });
    expect(answer(1)).toMatchObject({ type: 'admitted', id: 'worker-3' });
    actor.send({ type: 'connect', connection: 2, resume: null, host: null, id: 'worker-3' });
    expect(answer(2)).toMatchObject({ type: 'refused', code: 'id_taken' });
    // ?resume= of a held id still falls back to a fresh one.
    actor.send({ type: 'connect', connection: 3, resume: 'worker-3', host: null });
    expect(answer(3)).toMatchObject({ type: 'admitted', id: 'n2' });
    expect(actor.getSnapshot().context.members.toArray()).toEqual(['worker-3', 'n2']);

    actor.send({ type: 'disconnect', id: 'worker-3' });
    actor.send({ type: 'connect', connection: 4, resume: null, host: null, id: 'worker-3' });
    expect(answer(4)).toMatchObject({ type: 'admitted', id: 'worker-3' });
  });
});

describe('joinRing({ id })', () => {
  it('joins under its own id; a second node asking for it is rejected with id_taken (HTTP 409), and the first stays', async () => {
    await ring.startRelay();
    const first = await ring.join({ id: 'worker-3' });
    expect(first.id).toBe('worker-3');
    const other = await ring.join();
    expect(other.id).toMatch(/^n\d+$/);

    const error = await joinRing({ relay: ring.url, id: 'worker-3', logger: silentLogger, timing: FAST }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RelayConnectionError);
    expect(error).toMatchObject({ code: 'id_taken', status: 409 });
    expect((error as Error).message).toMatch(/worker-3 is taken/);
    expect(ring.relay!.status().members).toEqual(['worker-3', other.id]);
  });

  it('keeps its id across a relay restart: it rejoins as worker-3, and still leads', async () => {
    const relay = await ring.startRelay();
    const port = relay.port;
    const worker = await ring.join({ id: 'worker-3', rank: 9 });
    const other = await ring.join({ rank: 1 });
    await ring.agreement([worker, other]);
    expect(worker.isLeader()).toBe(true);

    await relay.close();
    await ring.startRelay(port);
    await waitFor(() => ring.relay!.status().members.length === 2 || undefined, 'both nodes to rejoin the new relay');
    expect(ring.relay!.status().members).toContain('worker-3');
    expect(worker.id).toBe('worker-3');
    const leader = await ring.agreement([worker, other], 'the ring to agree again after the restart');
    expect(leader.id).toBe('worker-3');
  });

  it('an id the protocol does not allow is a TypeError before anything starts', async () => {
    for (const id of ['next', 'all', '', 'has space', 'x'.repeat(65)]) {
      await expect(joinRing({ relay: 'ws://127.0.0.1:1', id }), JSON.stringify(id)).rejects.toThrow(/id must be 1-64 of/);
    }
  });
});

describe('the relay: ?id=', () => {
  it('answers the upgrade with 409 while a live member holds the id, and 400 with the rule for an id it cannot take', async () => {
    await ring.startRelay();
    await ring.join({ id: 'worker-3' });
    expect(await upgrade(`${ring.url}/?id=worker-3`)).toEqual({ status: 409, body: 'the id worker-3 is taken: a live member of this ring holds it\n' });
    const bad = await upgrade(`${ring.url}/?id=next`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/id must be 1-64 of A-Z a-z 0-9 \. _ : - and not "next" or "all"/);
    expect((await upgrade(`${ring.url}/?id=worker-4`)).status).toBe(101);
    expect(ring.relay!.metrics()).toMatch(/ringleader_relay_joins_refused_total\{reason="id_taken"\} 1/);
  });
});

describe('ringleader node --id', () => {
  const cli = join(repoRoot, 'dist', 'cli', 'ringleader.js');
  const env = { CHECK_INTERVAL_MS: String(FAST.checkIntervalMs), LEADER_TIMEOUT_MS: String(FAST.leaderTimeoutMs), ELECTION_TIMEOUT_MS: String(FAST.electionTimeoutMs), LOG_LEVEL: 'info' };
  const startNode = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const child = spawnWithLines([cli, 'node', ...args], { ...env, ...extra });
    children.push(child);
    return child;
  };

  it('joins under --id (or NODE_ID); a second one with the same id exits 1 with one fatal line saying so; a bad id exits 2', async () => {
    await ring.startRelay();
    const first = startNode(['--relay', ring.url, '--id', 'worker-3']);
    expect(await first.line((line) => line.msg === 'node joined', '"node joined"')).toMatchObject({ clientId: 'worker-3' });

    const second = startNode(['--relay', ring.url], { NODE_ID: 'worker-3' });
    expect(await second.exited).toBe(1);
    const fatal = second.lines.filter((line) => line.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'id_taken', status: 409 });
    expect(fatal[0]!.msg).toMatch(/worker-3 is taken/);
    expect(ring.relay!.status().members).toEqual(['worker-3']);

    const bad = startNode(['--relay', ring.url, '--id', 'all']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--id \(env NODE_ID\) must be 1-64 of/);
  });
});
