import { describe, expect, it } from 'vitest';
import { parseAdvertiseUrl, parseStorePrefix, parseStoreUrl, StoreConfigError } from '../relay/store/storeConfig.js';

describe('relay store flags (relay/store/storeConfig.ts)', () => {
  it('reads etcd://host:port lists, with 2379 as the default port and IPv6 in brackets', () => {
    expect(parseStoreUrl('etcd://127.0.0.1:2379')).toEqual({ endpoints: ['http://127.0.0.1:2379'] });
    expect(parseStoreUrl('etcd://etcd-1,etcd-2:32379,[::1]:2380')).toEqual({ endpoints: ['http://etcd-1:2379', 'http://etcd-2:32379', 'http://[::1]:2380'] });
  });

  it.each([
    ['http://127.0.0.1:2379', /unknown store "http:\/\/"; the only store is etcd:\/\//],
    ['127.0.0.1:2379', /expected etcd:\/\/host:2379/],
    ['etcd://', /an empty host/],
    ['etcd://a:2379,,b', /an empty host/],
    ['etcd://a:0', /port "0" is not a port/],
    ['etcd://a:99999', /not a port/],
    ['etcd://a:2379/ringleader', /no path, query, fragment or credentials/],
    ['etcd://user:pw@a:2379', /no path, query, fragment or credentials/],
    ['etcd://bad_host!:2379', /is not a host name/],
    ['etcd://a:2379,a:2379', /listed twice/],
  ])('refuses %s with a message naming the rule', (text, message) => {
    expect(() => parseStoreUrl(text)).toThrow(StoreConfigError);
    expect(() => parseStoreUrl(text)).toThrow(message);
  });

  it('bad store flags are configuration errors (exit 2)', () => {
    try {
      parseStoreUrl('redis://x');
      expect.unreachable();
    } catch (error) {
      expect((error as StoreConfigError).exitCode).toBe(2);
    }
  });

  it('reads advertise URLs as ws:// or wss:// origins, normalised', () => {
    expect(parseAdvertiseUrl('ws://relay-1:8080/')).toBe('ws://relay-1:8080');
    expect(parseAdvertiseUrl('wss://relay.example.com')).toBe('wss://relay.example.com');
  });

  it.each([
    ['relay-1:8080', /must be ws:\/\/ or wss:\/\//],
    ['not a url', /not a URL/],
    ['http://relay:8080', /must be ws:\/\/ or wss:\/\//],
    ['ws://relay:8080/rings/a', /no path, query or fragment/],
    ['ws://relay:8080?x=1', /no path, query or fragment/],
    ['ws://u:p@relay:8080', /no credentials/],
    ['ws://0.0.0.0:8080', /where a relay listens/],
  ])('refuses the advertise URL %s', (text, message) => {
    expect(() => parseAdvertiseUrl(text)).toThrow(message);
  });

  it('takes printable prefixes only', () => {
    expect(parseStorePrefix('prod/ringleader/')).toBe('prod/ringleader/');
    expect(() => parseStorePrefix('')).toThrow(/1-200 printable/);
    expect(() => parseStorePrefix('a b')).toThrow(/without spaces/);
  });
});
