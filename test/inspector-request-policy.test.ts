/**
 * The pieces of the inspector's request policy (inspector/server/requestPolicy.ts) that do not
 * need a server: the --allowed-hosts syntax and which listen addresses are loopback. What the
 * policy refuses on a live inspector is in inspector-security.test.ts.
 */
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { RequestPolicy, isLoopbackHost, parseAllowedHosts } from '../inspector/server/requestPolicy.js';

/** Just the headers the policy reads. */
function request(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe('inspector: --allowed-hosts', () => {
  it('parses names and name:port, and refuses what is neither', () => {
    expect(parseAllowedHosts('inspector, ring.example.com:443,[::1]:9000')).toEqual([
      { hostname: 'inspector', port: null },
      { hostname: 'ring.example.com', port: 443 },
      { hostname: '[::1]', port: 9000 },
    ]);
    expect(parseAllowedHosts('')).toEqual([]);
    for (const bad of ['http://x', 'a/b', 'user@host', 'x:notaport']) expect(() => parseAllowedHosts(bad)).toThrow(/not a host name/);
  });

  it('knows which listen addresses are loopback only', () => {
    expect(['127.0.0.1', 'localhost', '::1', '127.0.0.2'].map(isLoopbackHost)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '::', '192.168.1.5'].map(isLoopbackHost)).toEqual([false, false, false]);
  });
});

describe('inspector: which Host names a wildcard-bound inspector answers to', () => {
  const policy = new RequestPolicy({ host: '0.0.0.0', port: 8090, allowedHosts: [] });

  it('the names of this machine, on any port (Docker and NAT publish it elsewhere)', () => {
    for (const name of ['localhost:18090', '127.0.0.1:8090', '[::1]:80', `${hostname()}:8090`]) {
      expect(policy.refusal(request({ host: name, origin: `http://${name}` })), name).toBeNull();
    }
  });

  it('not another name, and not an Origin other than its Host', () => {
    expect(policy.refusal(request({ host: 'evil.example:8090' }))).toMatch(/does not name/);
    expect(policy.refusal(request({ host: 'localhost:8090', origin: 'http://evil.example:8090' }))).toMatch(/cross-origin/);
    expect(policy.refusal(request({}))).toMatch(/Host/);
  });
});
