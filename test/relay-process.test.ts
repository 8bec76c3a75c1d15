/**
 * The relay as users meet it: a real OS process started through `ringleader relay`, raw
 * WebSocket clients on loopback, its HTTP endpoints and its logs.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLI, RelayProcess, TestClient, getJson, getText, killRelayProcesses, metric, waitFor } from './relayHelpers.js';

const clients: TestClient[] = [];
async function join(relay: RelayProcess, query = ''): Promise<TestClient> {
  const client = await TestClient.connect(`${relay.url}/${query}`);
  clients.push(client);
  return client;
}

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  killRelayProcesses();
});

describe('ringleader relay (process)', () => {
  it('welcomes each client with a unique id, announces joins and leaves, and serves /status', async () => {
    const relay = await RelayProcess.start();
    const a = await join(relay);
    expect(a.frames[0]).toEqual({ type: 'welcome', clientId: a.id, protocol: 1, members: [a.id], leader: null, term: 0, timing: { leaderTimeoutMs: 5000, heartbeatMs: 2500, forwardTimeoutMs: 2500 } });

    const b = await join(relay);
    expect(b.id).not.toBe(a.id);
    expect(b.frames[0]).toMatchObject({ type: 'welcome', members: [a.id, b.id] });
    expect(await a.next((frame) => frame.type === 'ring')).toEqual({ type: 'ring', joined: b.id });

    const c = await join(relay);
    await b.next((frame) => frame.type === 'ring' && frame.joined === c.id);
    expect(await getJson(`${relay.http}/status`)).toMatchObject({ members: [a.id, b.id, c.id], leader: null });

    b.close();
    expect(await a.next((frame) => frame.type === 'ring' && frame.left === b.id)).toEqual({ type: 'ring', left: b.id });
    await c.next((frame) => frame.type === 'ring' && frame.left === b.id);
    expect((await getJson(`${relay.http}/status`)).members).toEqual([a.id, c.id]);

    await relay.log((line) => line.msg === 'join' && line.clientId === c.id, 'a join log line');
    const leave = await relay.log((line) => line.msg === 'leave' && line.clientId === b.id, 'a leave log line');
    expect(leave.reason).toBe('close');
  });

  it('routes next / all / <id>, stamps from, and remembers the announced leader for newcomers', async () => {
    const relay = await RelayProcess.start();
    const a = await join(relay);
    const b = await join(relay);
    const c = await join(relay);

    // next: a -> b -> c -> a (ring order is join order)
    const election = { type: 'election', to: 'next', initiator: a.id, term: 1, eligible: [{ id: a.id, rank: 5 }] };
    a.send(election);
    expect(await b.next((frame) => frame.type === 'election')).toEqual({ ...election, from: a.id });
    c.send({ ...election, eligible: [...election.eligible, { id: c.id, rank: 2 }] });
    expect(await a.next((frame) => frame.type === 'election')).toMatchObject({ from: c.id, eligible: [{ id: a.id }, { id: c.id }] });

    // <id>, and a client that repeats its own id as `from` is accepted
    b.send({ type: 'checkLeader', to: a.id, nonce: 'x1', from: b.id });
    expect(await a.next((frame) => frame.type === 'checkLeader')).toEqual({ type: 'checkLeader', to: a.id, nonce: 'x1', from: b.id });
    a.send({ type: 'answerLeader', to: b.id, nonce: 'x1', term: 1 });
    expect(await b.next((frame) => frame.type === 'answerLeader')).toEqual({ type: 'answerLeader', to: b.id, nonce: 'x1', term: 1, from: a.id });

    // all: everyone but the sender
    a.send({ type: 'newLeader', to: 'all', leaderId: a.id, rank: 5, term: 1 });
    for (const other of [b, c]) {
      expect(await other.next((frame) => frame.type === 'newLeader')).toEqual({ type: 'newLeader', to: 'all', leaderId: a.id, rank: 5, term: 1, from: a.id });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(a.frames.some((frame) => frame.type === 'newLeader')).toBe(false);

    const leader = { id: a.id, rank: 5, term: 1 };
    expect((await getJson(`${relay.http}/status`)).leader).toEqual(leader);
    const newcomer = await join(relay);
    expect(newcomer.frames[0]).toMatchObject({ type: 'welcome', leader });
    const announced = await relay.log((line) => line.msg === 'leader announced', 'a leader log line');
    expect(announced).toMatchObject({ leaderId: a.id, rank: 5, term: 1 });
    const started = await relay.log((line) => line.msg === 'election started', 'an election log line');
    expect(started).toMatchObject({ clientId: a.id, initiator: a.id, term: 1 });

    const metrics = (await getText(`${relay.http}/metrics`)).body;
    expect(metric(metrics, 'ringleader_relay_elections_started_total{ring="default"}')).toBe(1);
    expect(metric(metrics, 'ringleader_relay_leader_changes_total{ring="default"}')).toBe(1);
    expect(metric(metrics, 'ringleader_relay_frames_forwarded_total{type="election"}')).toBe(2);
    expect(metric(metrics, 'ringleader_relay_members{ring="default"}')).toBe(4);

    // The leader leaves: /status no longer names it, and the next newLeader closes a failover.
    a.close();
    await b.next((frame) => frame.type === 'ring' && frame.left === a.id);
    expect((await getJson(`${relay.http}/status`)).leader).toBeNull();
    b.send({ type: 'newLeader', to: 'all', leaderId: c.id, rank: 2, term: 2 });
    await c.next((frame) => frame.type === 'newLeader' && frame.term === 2);
    expect((await getJson(`${relay.http}/status`)).leader).toEqual({ id: c.id, rank: 2, term: 2 });
    const after = (await getText(`${relay.http}/metrics`)).body;
    expect(metric(after, 'ringleader_relay_failover_seconds_count{ring="default"}')).toBe(1);
    expect(metric(after, 'ringleader_relay_failover_seconds_bucket{ring="default",le="+Inf"}')).toBe(1);
  });

  it('grants ?resume=<id> when nobody holds it, and a fresh id when somebody does', async () => {
    const relay = await RelayProcess.start();
    const first = await join(relay, '?resume=keeper');
    expect(first.id).toBe('keeper');
    const clash = await join(relay, '?resume=keeper');
    expect(clash.id).not.toBe('keeper');
    const invalid = await join(relay, '?resume=all');
    expect(invalid.id).not.toBe('all');
    first.close();
    await clash.next((frame) => frame.type === 'ring' && frame.left === 'keeper');
    const back = await join(relay, '?resume=keeper');
    expect(back.id).toBe('keeper');
    const line = await relay.log((entry) => entry.msg === 'join' && entry.resumed === true, 'a resumed join');
    expect(line.clientId).toBe('keeper');
  });

  it('answers every kind of bad input with its code, counts it, and keeps serving the others', async () => {
    const relay = await RelayProcess.start(['--max-payload', '4096']);
    const a = await join(relay);
    const b = await join(relay);
    const bad = await join(relay);

    // Two well-behaved clients keep exchanging frames the whole time.
    let exchanged = 0;
    let talking = true;
    const talk = (async () => {
      while (talking) {
        a.send({ type: 'checkLeader', to: b.id, nonce: `n${exchanged}` });
        await b.next((frame) => frame.type === 'checkLeader' && frame.nonce === `n${exchanged}`);
        exchanged += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const cases: Array<[string | Record<string, unknown>, string, RegExp?]> = [
      ['{not json', 'bad_json'],
      ['"just a string"', 'bad_frame'],
      [{ type: 'hello', to: 'next' }, 'unknown_type'],
      [{ type: 'checkLeader', to: a.id }, 'bad_frame', /nonce/],
      [{ type: 'newLeader', to: 'all', leaderId: 'x', rank: 'high', term: 1 }, 'bad_frame', /rank/],
      [{ type: 'ring', joined: 'n1' }, 'bad_frame', /clients may not send/],
      [{ type: 'welcome', clientId: 'x', protocol: 1, members: [], leader: null }, 'bad_frame', /clients may not send/],
      [{ type: 'checkLeader', to: 'nobody', nonce: '1' }, 'unknown_target'],
      [{ type: 'checkLeader', to: a.id, nonce: '1', from: a.id }, 'bad_frame', /from is stamped by the relay/],
    ];
    for (const [input, code, detail] of cases) {
      bad.send(input);
      const error = await bad.error(code);
      if (detail) expect(error.detail).toMatch(detail);
    }
    // A spoofed frame never reaches its target.
    expect(a.frames.some((frame) => frame.type === 'checkLeader')).toBe(false);

    // Binary frames are refused too.
    bad.socket.send(Buffer.from('{"type":"checkLeader"}'), { binary: true });
    expect((await bad.error('bad_frame')).detail).toMatch(/binary/);

    // Oversized: ws closes the socket with 1009.
    bad.send({ type: 'checkLeader', to: a.id, nonce: 'x'.repeat(10_000) });
    expect((await bad.waitClosed()).code).toBe(1009);
    await a.next((frame) => frame.type === 'ring' && frame.left === bad.id);

    // A wrong or missing token is no concern of a relay without one; garbage HTTP does not hurt it.
    expect((await getText(`${relay.http}/healthz`)).body).toBe('ok');

    const before = exchanged;
    await waitFor(() => exchanged >= before + 20, 'the good clients to keep exchanging');
    talking = false;
    await talk;

    const metrics = (await getText(`${relay.http}/metrics`)).body;
    const rejected = (code: string) => metric(metrics, `ringleader_relay_frames_rejected_total{code="${code}"}`);
    expect(rejected('bad_json')).toBe(1);
    expect(rejected('unknown_type')).toBe(1);
    expect(rejected('bad_frame')).toBe(7);
    expect(rejected('unknown_target')).toBe(1);
    expect(rejected('too_large')).toBe(1);
    expect(metric(metrics, 'ringleader_relay_leaves_total{ring="default",reason="too_large"}')).toBe(1);

    for (const code of ['bad_json', 'unknown_type', 'bad_frame', 'unknown_target', 'too_large']) {
      const line = await relay.log((entry) => entry.msg === 'rejected frame' && entry.code === code, `a ${code} log line`);
      expect(line.clientId).toBe(bad.id);
    }
    expect(relay.child.exitCode).toBeNull();
  });

  it('refuses joins without the right RING_TOKEN with HTTP 401, and admits the right one', async () => {
    const relay = await RelayProcess.start([], { RING_TOKEN: 's3cret' });
    const status = (headers: Record<string, string>, query = '') =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${relay.url}/${query}`, { headers });
        socket.on('unexpected-response', (request, response) => {
          resolve(response.statusCode ?? 0);
          request.destroy();
        });
        socket.on('open', () => {
          socket.terminate();
          resolve(101);
        });
        socket.on('error', (error) => (error.message.includes('Unexpected server response') ? undefined : reject(error)));
      });
    expect(await status({})).toBe(401);
    expect(await status({ Authorization: 'Bearer wrong' })).toBe(401);
    expect(await status({}, '?token=wrong')).toBe(401);
    expect(await status({ Authorization: 'Bearer s3cret' })).toBe(101);

    const browser = await join(relay, '?token=s3cret');
    expect(browser.id).toMatch(/^n\d+$/);
    const header = await TestClient.connect(relay.url, { headers: { Authorization: 'Bearer s3cret' } });
    clients.push(header);
    await browser.next((frame) => frame.type === 'ring' && frame.joined === header.id);

    const metrics = (await getText(`${relay.http}/metrics`)).body;
    expect(metric(metrics, 'ringleader_relay_frames_rejected_total{code="unauthorized"}')).toBe(3);
    await relay.log((line) => line.msg.startsWith('rejected join') && line.code === 'unauthorized', 'an unauthorized log line');
    // The token never appears in the logs.
    expect(relay.logs.some((line) => JSON.stringify(line).includes('s3cret'))).toBe(false);
  });

  it('serves /healthz, /status and /metrics; 404 elsewhere, 405 for other methods', async () => {
    const relay = await RelayProcess.start();
    const health = await getText(`${relay.http}/healthz`);
    expect([health.status, health.body]).toEqual([200, 'ok']);

    const status = await getJson(`${relay.http}/status`);
    expect(status).toMatchObject({ protocol: 1, members: [], leader: null });
    expect(status.uptimeSeconds).toBeGreaterThanOrEqual(0);

    const metrics = await getText(`${relay.http}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const series of [
      'ringleader_relay_members{ring="default"}',
      'ringleader_relay_elections_started_total{ring="default"}',
      'ringleader_relay_leader_changes_total{ring="default"}',
      'ringleader_relay_frames_forwarded_total{type="checkLeader"}',
      'ringleader_relay_frames_rejected_total{code="rate_limited"}',
      'ringleader_relay_failover_seconds_bucket{ring="default",le="0.1"}',
      'ringleader_relay_failover_seconds_count{ring="default"}',
    ]) {
      expect(metric(metrics.body, series)).toBe(0);
    }
    expect(metrics.body).toContain('# TYPE ringleader_relay_failover_seconds histogram');

    expect((await getText(`${relay.http}/nope`)).status).toBe(404);
    expect((await getText(`${relay.http}/`)).status).toBe(404);
    const post = await fetch(`${relay.http}/status`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('closes every socket with 1001 and exits 0 on SIGTERM (and on SIGINT)', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const relay = await RelayProcess.start();
      const client = await join(relay);
      relay.child.kill(signal);
      expect(await relay.exit).toBe(0);
      expect((await client.waitClosed()).code).toBe(1001);
    }
  });

  it('fails fast with exit code 2 and a clear message on bad configuration', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [CLI, 'relay', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--port', '70000'], {}, /--port \(env PORT\) must be at most 65535/],
      [['--port', 'abc'], {}, /--port \(env PORT\) must be an integer/],
      [[], { PORT: '-1' }, /PORT must be at least 0/],
      [[], { LEADER_TIMEOUT_MS: 'soon' }, /LEADER_TIMEOUT_MS must be an integer/],
      [['--rate-limit', '-5'], {}, /--rate-limit.*at least 0/],
      [['--max-payload', '10'], {}, /--max-payload.*at least 1024/],
      [[], { LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
      [['--inspect-url', 'not a url'], {}, /--inspect-url.*must be a URL/],
      [['--bogus'], {}, /unknown option --bogus/],
    ];
    for (const [args, env, message] of cases) {
      const result = run(args, env);
      expect(result.status, `${args.join(' ')} ${JSON.stringify(env)}`).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const flag of ['--port', '--host', '--token', '--leader-timeout-ms', '--max-payload', '--rate-limit', '--rate-burst', '--max-backlog', '--log-level', '--inspect-url']) {
      expect(help.stdout).toContain(flag);
    }
    for (const variable of ['PORT', 'RING_TOKEN', 'LEADER_TIMEOUT_MS', 'LOG_LEVEL', 'INSPECT_URL']) {
      expect(help.stdout).toContain(`env ${variable}]`);
    }
  });

  it('a port already in use: one line naming the port, --port and --port 0, and exit 2', async () => {
    const relay = await RelayProcess.start();
    const result = spawnSync(process.execPath, [CLI, 'relay', '--port', String(relay.port), '--host', '127.0.0.1'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, LOG_PRETTY: '0' },
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `ringleader relay: port ${relay.port} is already in use on 127.0.0.1: choose another with --port (env PORT), or --port 0 for any free port\n`,
    );
  });
});
