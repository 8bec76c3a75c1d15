/**
 * `joinRing()` when it cannot get in: every way of failing is a rejection with a
 * `RelayConnectionError` whose `code` says what went wrong and whose message names the address,
 * never an endless silent wait. Answers that retrying cannot change (401, a web server, a server
 * that is not HTTP) fail at once; the rest are retried until `connectTimeoutMs`. Once joined, the
 * node retries for as long as it takes, as before. Misspelt options are TypeErrors.
 */
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, RelayConnectionError, RelayUnauthorizedError, type JoinRingOptions } from '../index.js';
import { startRelay } from '../relay/index.js';
import { capturingLogger, FAST, repoRoot, silentLogger, TestRing, waitFor } from './nodeKit.js';

const run = promisify(execFile);
const ring = new TestRing();
const servers: Array<HttpServer | TcpServer> = [];

afterEach(async () => {
  await ring.cleanUp();
  for (const server of servers.splice(0)) {
    server.close();
    (server as HttpServer).closeAllConnections?.();
  }
});

/** An address where nothing listens: a port that was free a moment ago. */
async function closedPort(): Promise<string> {
  const server = await listen(createTcpServer());
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  servers.pop();
  return `ws://127.0.0.1:${port}`;
}

async function listen<T extends HttpServer | TcpServer>(server: T): Promise<T> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return server;
}

function urlOf(server: HttpServer | TcpServer): string {
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The rejection of a join, which must come within `withinMs` (the test's own deadline, not a speed goal). */
async function failure(options: JoinRingOptions, withinMs = 30_000): Promise<RelayConnectionError> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    joinRing({ logger: silentLogger, timing: FAST, ...options }).then(
      async (node) => {
        await node.leave();
        return new Error('joined, but should have failed');
      },
      (error: unknown) => error,
    ),
    new Promise((resolve) => (timer = setTimeout(() => resolve(new Error(`still waiting after ${withinMs} ms`)), withinMs))),
  ]);
  clearTimeout(timer);
  expect(outcome).toBeInstanceOf(RelayConnectionError);
  return outcome as RelayConnectionError;
}

describe('joinRing cannot get in', () => {
  it('nothing listening: "unreachable" with the address, once connectTimeoutMs has passed', async () => {
    const relay = await closedPort();
    const error = await failure({ relay, connectTimeoutMs: 800 });
    expect(error.code).toBe('unreachable');
    expect(error.relay).toBe(relay);
    expect(error.message).toContain(relay);
    expect(error.message).toMatch(/ECONNREFUSED 127\.0\.0\.1:\d+/);
    expect(error.message).toMatch(/tried for 800 ms, \d+ attempts/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('a wrong or missing token: "unauthorized" at once, saying which', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', token: 'right', logger: silentLogger });
    ring.onCleanUp(() => relay.close());
    const missing = await failure({ relay: relay.url, connectTimeoutMs: 600_000 });
    expect(missing).toBeInstanceOf(RelayUnauthorizedError);
    expect(missing).toMatchObject({ code: 'unauthorized', status: 401 });
    expect(missing.message).toMatch(/RING_TOKEN is missing/);
    const wrong = await failure({ relay: relay.url, token: 'wrong', connectTimeoutMs: 600_000 });
    expect(wrong).toMatchObject({ code: 'unauthorized', status: 401 });
    expect(wrong.message).toMatch(/RING_TOKEN is wrong/);
  });

  it('a token in the address never shows in the error', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', token: 'right', logger: silentLogger });
    ring.onCleanUp(() => relay.close());
    const error = await failure({ relay: `${relay.url}/?token=s3cret`, connectTimeoutMs: 600_000 });
    expect(error.code).toBe('unauthorized');
    expect(`${error.message} ${error.relay}`).not.toContain('s3cret');
  });

  it('a web server on that port: "not-websocket" with its HTTP status, at once', async () => {
    const web = await listen(createHttpServer((_request, response) => response.writeHead(404).end('not found')));
    const error = await failure({ relay: urlOf(web), connectTimeoutMs: 600_000 });
    expect(error).toMatchObject({ code: 'not-websocket', status: 404 });
    expect(error.message).toContain(`${urlOf(web)} is not a WebSocket relay`);
    expect(error.message).toContain('HTTP 404');
  });

  it('a server that does not speak HTTP: "not-websocket", at once', async () => {
    const ssh = await listen(createTcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n')));
    const error = await failure({ relay: urlOf(ssh), connectTimeoutMs: 600_000 });
    expect(error.code).toBe('not-websocket');
    expect(error.message).toMatch(/does not speak HTTP/);
  });

  it('a proxy answering 503 (a relay starting behind it?) is retried, then reported with its status', async () => {
    const proxy = await listen(createHttpServer((_request, response) => response.writeHead(503).end()));
    const error = await failure({ relay: urlOf(proxy), connectTimeoutMs: 800 });
    expect(error).toMatchObject({ code: 'not-websocket', status: 503 });
    expect(error.message).toMatch(/HTTP 503 .*tried for 800 ms, \d+ attempts/);
  });

  it('a server that accepts the connection and never answers: "timeout"', async () => {
    const silent = await listen(createTcpServer(() => {}));
    const error = await failure({ relay: urlOf(silent), connectTimeoutMs: 800 });
    expect(error.code).toBe('timeout');
    expect(error.message).toContain(`no welcome from the relay at ${urlOf(silent)}`);
  });

  it('a URL that is not ws:// or wss://: "bad-url" before any connection', async () => {
    for (const relay of ['http://127.0.0.1:8080', 'relay:8080', '', 'ws://']) {
      const error = await failure({ relay });
      expect(error.code, relay).toBe('bad-url');
      expect(error.message).toMatch(/relay must be a ws:\/\/ or wss:\/\/ URL/);
    }
    // From JavaScript, with no relay at all.
    const missing = await failure({} as JoinRingOptions);
    expect(missing.code).toBe('bad-url');
  });

  it('rejects without also logging the failure above debug; each attempt is visible at info as it happens', async () => {
    const { logger, lines } = capturingLogger();
    const relay = await closedPort();
    await expect(joinRing({ relay, logger, connectTimeoutMs: 500, timing: FAST })).rejects.toThrow(/cannot reach the relay/);
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(lines.filter((line) => line.level === 20 && line.code === 'unreachable')).toHaveLength(1);
    expect(lines.filter((line) => line.msg === 'reconnecting').length).toBeGreaterThan(0);
  });

  it('a process whose join failed exits by itself: nothing of the node is left running', async () => {
    const relay = await closedPort();
    const script = `
      import { joinRing } from './dist/index.js';
      joinRing({ relay: ${JSON.stringify(relay)}, connectTimeoutMs: 500 }).catch((error) => console.log(error.code));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, timeout: 30_000 });
    expect(stdout.trim()).toBe('unreachable');
  });
});

describe('joinRing options', () => {
  it('a misspelt option is a TypeError naming it and the likely meant one', async () => {
    // @ts-expect-error: `rnak` is not an option; TypeScript says so too.
    await expect(joinRing({ relay: 'ws://127.0.0.1:1', rnak: 3 })).rejects.toThrow(TypeError);
    // @ts-expect-error: as above.
    await expect(joinRing({ relay: 'ws://127.0.0.1:1', rnak: 3 })).rejects.toThrow(/unknown option "rnak" \(did you mean "rank"\?\)/);
    // @ts-expect-error: a timing that does not exist.
    await expect(joinRing({ relay: 'ws://127.0.0.1:1', timing: { leaderTimeout: 5 } })).rejects.toThrow(
      /unknown timing option "leaderTimeout" \(did you mean "leaderTimeoutMs"\?\)/,
    );
    await expect(joinRing({ relay: 'ws://127.0.0.1:1', timing: { leaderTimeoutMs: -5 } })).rejects.toThrow(/timing.leaderTimeoutMs must be a positive number/);
    await expect(joinRing({ relay: 'ws://127.0.0.1:1', connectTimeoutMs: -1 })).rejects.toThrow(/connectTimeoutMs must be/);
  });

  it('an option given as undefined counts as left out (and an election hop of 0 is allowed)', async () => {
    await ring.startRelay();
    const node = await ring.join({ token: undefined, rank: undefined, connectTimeoutMs: undefined, timing: { ...FAST, jitter: undefined, electionHopMs: 0 } });
    expect(node.id).not.toBe('');
    expect(Number.isInteger(node.rank)).toBe(true);
  });
});

describe('joinRing once joined', () => {
  it('the connect timeout bounds the first join only: later, the node waits for the relay as long as it takes', async () => {
    const relay = await ring.startRelay();
    const { port } = relay;
    const node = await ring.join({ connectTimeoutMs: 200, timing: { ...FAST, reconnectInitialDelayMs: 100, reconnectMaxDelayMs: 200 } });
    const lines = ring.logs.get(node)!;
    await relay.close();
    // Retries keep coming well past 200 ms (each waits at least 50 ms, then 100 ms).
    await waitFor(() => lines.filter((line) => line.msg === 'reconnecting').length >= 6, 'six reconnect attempts');
    let closed = false;
    void node.closed.then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    await startRelay({ port, host: '127.0.0.1', leaderTimeoutMs: FAST.leaderTimeoutMs, logger: silentLogger }).then((again) => (ring.relay = again));
    await waitFor(() => lines.some((line) => line.msg === 'node rejoined'), 'the node to rejoin');
  });
});
