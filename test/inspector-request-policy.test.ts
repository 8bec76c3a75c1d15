/**
 * The pieces of the inspector's request policy (inspector/server/requestPolicy.ts) that do not
 * need a server: the --allowed-hosts syntax and which listen addresses are loopback. What the
 * policy refuses on a live inspector is in inspector-security.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, parseAllowedHosts } from '../inspector/server/requestPolicy.js';

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
