/**
 * Clients that know several relays and follow a standby's redirect (issue 23): `relay: [...]`
 * tried in turn, HTTP 307 followed to ws:// or wss:// only with the join's own path and query
 * (`/rings/<name>`, `?resume=`), loops cut short, and `--relay a,b` on the command line.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, RelayConnectionError } from '../index.js';
import { startRelay, type RunningRelay } from '../relay/index.js';
import { nodeOptionSpecs } from '../node/config.js';
import { MAX_REDIRECTS, RelayList, redirectTarget } from '../node/relayList.js';
import { ConfigError, parseOptions } from '../runtime/options.js';
import { FAST, silentLogger, TestRing, waitFor } from './nodeKit.js';

const ring = new TestRing();
const servers: Server[] = [];

afterEach(async () => {
  await ring.cleanUp();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A tiny HTTP server that answers every upgrade with 307 to `location(request)`, and remembers what it was asked. */
async function redirector(location: (request: IncomingMessage) => string): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((_request, response) => response.writeHead(404).end());
  server.on('upgrade', (request, socket) => {
    requests.push(request.url ?? '');
    socket.end(`HTTP/1.1 307 Temporary Redirect\r\nLocation: ${location(request)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** An address where nothing listens. */
async function deadRelay(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `ws://127.0.0.1:${port}`;
}

function membersOf(relay: RunningRelay, name?: string): string[] {
  return (name === undefined ? relay.status() : relay.status(name))?.members ?? [];
}

async function anotherRelay(port = 0): Promise<RunningRelay> {
  const relay = await startRelay({ port, host: '127.0.0.1', leaderTimeoutMs: FAST.leaderTimeoutMs, logger: silentLogger });
  ring.onCleanUp(() => relay.close());
  return relay;
}

describe('the redirect rule (node/relayList.ts)', () => {
  it('follows ws:// and wss:// to the scheme, host and port only', () => {
    expect(redirectTarget('ws://a:1', 'ws://b:2/rings/x?resume=n1')).toEqual({ follow: true, target: 'ws://b:2' });
    expect(redirectTarget('ws://a:1', 'wss://b:2')).toEqual({ follow: true, target: 'wss://b:2' });
    expect(redirectTarget('ws://a:1/rings/x', '//b:2/rings/x')).toEqual({ follow: true, target: 'ws://b:2' });
  });

  it.each([
    ['http://b:2/', /only ws:\/\/ and wss:\/\/ are followed/],
    ['https://b:2/', /only ws:\/\/ and wss:\/\/ are followed/],
    ['file:///etc/passwd', /only ws:\/\/ and wss:\/\/ are followed/],
    ['ws://user:pw@b:2', /credentials/],
    [undefined, /without a Location/],
  ])('does not follow %s', (location, reason) => {
    const decision = redirectTarget('ws://a:1', location);
    expect(decision.follow).toBe(false);
    if (!decision.follow) expect(decision.reason).toMatch(reason);
  });

  it('never from wss:// down to ws://', () => {
    expect(redirectTarget('wss://a:1', 'ws://b:2')).toEqual({ follow: false, reason: expect.stringContaining('down to ws://') });
  });

  it('goes round the list on failures, stops following after MAX_REDIRECTS in a row, and ends only when every relay gave a final answer', () => {
    const list = new RelayList(['ws://a:1', 'ws://b:1']);
    expect(list.current()).toBe('ws://a:1');
    list.failed();
    expect(list.current()).toBe('ws://b:1');
    for (let hop = 0; hop < MAX_REDIRECTS; hop += 1) expect(list.redirect(`ws://c${hop}:1`).follow).toBe(true);
    expect(list.current()).toBe(`ws://c${MAX_REDIRECTS - 1}:1`);
    expect(list.redirect('ws://d:1')).toEqual({ follow: false, reason: expect.stringContaining('redirects in a row') });
    list.failed();
    expect(list.current()).toBe('ws://a:1');
    expect(list.finalAnswer()).toBe(false);
    list.failed();
    expect(list.finalAnswer()).toBe(true);
  });
});

describe('joinRing with several relays and redirects', () => {
  it('a list whose first relay is down joins through the next', async () => {
    const relay = await ring.startRelay();
    const node = await ring.join({ relay: [await deadRelay(), relay.url] });
    expect(membersOf(relay)).toContain(node.id);
  });

  it('follows a 307 to the relay that serves the ring, keeping the ring path; on the way back, ?resume= survives the redirect', async () => {
    let target = await anotherRelay();
    const standby = await redirector(() => `${target.url}/somewhere-else?ignored=1`);
    const node = await joinRing({ relay: standby.url, ring: 'jobs', logger: silentLogger, timing: FAST });
    ring.onCleanUp(() => node.leave());
    expect(standby.requests).toHaveLength(1);
    expect(standby.requests[0]).toMatch(/^\/rings\/jobs\?host=/);
    expect(membersOf(target, 'jobs')).toEqual([node.id]);
    const id = node.id;

    // The relay that served the ring goes; another serves it now, and the standby points there.
    const first = target;
    target = await anotherRelay();
    await first.close();
    await waitFor(() => membersOf(target, 'jobs').includes(id), 'the node to rejoin through the standby', 30_000);
    expect(standby.requests.length).toBeGreaterThanOrEqual(2);
    expect(standby.requests.at(-1)).toContain(`resume=${encodeURIComponent(id)}`);
    expect(node.id).toBe(id);
  });

  it('does not follow a redirect to http://, and says so when it gives up', async () => {
    const standby = await redirector(() => 'http://127.0.0.1:1/');
    const error = await joinRing({ relay: standby.url, logger: silentLogger, timing: FAST, connectTimeoutMs: 1500 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RelayConnectionError);
    expect((error as RelayConnectionError).code).toBe('refused');
    expect((error as Error).message).toMatch(/HTTP 307 with a redirect to http:\/\/ \(only ws:\/\/ and wss:\/\/ are followed\)/);
  });

  it('two standbys that point at each other do not hold a node: it gives up on the loop and reaches a live relay of its list', async () => {
    const relay = await ring.startRelay();
    let other = '';
    const a = await redirector(() => other);
    const b = await redirector(() => a.url);
    other = b.url;
    const node = await ring.join({ relay: [a.url, relay.url] });
    expect(membersOf(relay)).toContain(node.id);
    expect(a.requests.length + b.requests.length).toBe(MAX_REDIRECTS + 1);
  });
});

describe('--relay with several URLs', () => {
  it('reads a comma-separated list, and names the flag when one entry is bad', () => {
    expect(parseOptions(nodeOptionSpecs, ['--relay', 'ws://r1:8080,ws://r2:8080']).options.relay).toEqual(['ws://r1:8080', 'ws://r2:8080']);
    expect(parseOptions(nodeOptionSpecs, [], { RELAY_URL: 'ws://r1:8080, wss://r2' }).options.relay).toEqual(['ws://r1:8080', 'wss://r2']);
    expect(parseOptions(nodeOptionSpecs, []).options.relay).toEqual(['ws://localhost:8080']);
    expect(() => parseOptions(nodeOptionSpecs, ['--relay', 'ws://r1:8080,http://r2'])).toThrow(ConfigError);
    expect(() => parseOptions(nodeOptionSpecs, ['--relay', 'ws://r1:8080,http://r2'])).toThrow(/--relay .*must use ws: or wss:, got "http:\/\/r2"/);
    expect(() => parseOptions(nodeOptionSpecs, ['--relay', 'ws://r1:8080,,ws://r2'])).toThrow(/URLs separated by commas/);
  });
});
