/**
 * How a relay's store fails at start, each with a message naming the problem and its own exit
 * code: a bad store URL (2), etcd unreachable (4), an advertise URL another live relay uses (5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../cli/freePort.js';
import { EtcdRelayStore } from '../../relay/store/etcdRelayStore.js';
import { StoreConfigError } from '../../relay/store/storeConfig.js';
import { AdvertiseUrlInUseError, StoreUnreachableError } from '../../relay/store/storeErrors.js';
import { startEtcd, type EtcdCluster } from './etcdHarness.js';
import { OwnershipRecorder } from './ownershipRecorder.js';
import { NODE_LEASE_MS, openStore, quietLogger, startStoreChild } from './storeKit.js';

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

async function openError(options: { store: string; advertiseUrl?: string; prefix?: string; connectTimeoutMs?: number }): Promise<Error & { exitCode?: number }> {
  try {
    const store = await EtcdRelayStore.open({ advertiseUrl: 'ws://relay.test:8080', nodeLeaseMs: NODE_LEASE_MS, logger: quietLogger(), ...options });
    await store.close();
  } catch (error) {
    return error as Error & { exitCode?: number };
  }
  throw new Error('the store opened');
}

describe('the etcd store at start', () => {
  it('etcd unreachable: a clear message naming where it looked, exit code 4', async () => {
    const port = await freePort();
    const error = await openError({ store: `etcd://127.0.0.1:${port}`, connectTimeoutMs: 2000 });
    expect(error).toBeInstanceOf(StoreUnreachableError);
    expect(error.exitCode).toBe(4);
    expect(error.message).toContain(`cannot reach etcd at http://127.0.0.1:${port}`);
  });

  it('a bad store URL or advertise URL: a configuration error (exit 2) before anything connects', async () => {
    const bad = await openError({ store: 'etcd://127.0.0.1:2379/path' });
    expect(bad).toBeInstanceOf(StoreConfigError);
    expect(bad.exitCode).toBe(2);
    const advertise = await openError({ store: etcd.storeUrl, advertiseUrl: 'http://relay:8080' });
    expect(advertise).toBeInstanceOf(StoreConfigError);
    expect(advertise.message).toMatch(/--advertise-url "http:\/\/relay:8080": must be ws:\/\/ or wss:\/\//);
  });

  it('two live relays with one advertise URL: the second refuses to start (exit 5), the first serves on', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = 'same-url/';
    const first = await openStore(etcd.storeUrl, 'same', recorder, { prefix });
    try {
      await first.want('jobs');
      const error = await openError({ store: etcd.storeUrl, advertiseUrl: 'ws://same.test:8080', prefix });
      expect(error).toBeInstanceOf(AdvertiseUrlInUseError);
      expect(error.exitCode).toBe(5);
      expect(error.message).toMatch(/--advertise-url ws:\/\/same\.test:8080 is already used by another relay \(host .*, pid \d+\)/);
      expect(first.serving('jobs')).toBe(true);
    } finally {
      await first.close();
    }
    // Gone (its lease given back): the URL is free again.
    const again = await openStore(etcd.storeUrl, 'same', recorder, { prefix });
    await again.close();
  });

  it('a relay killed (SIGKILL) and started again on its advertise URL starts once the dead one’s lease has run out', async () => {
    const recorder = new OwnershipRecorder();
    const dead = startStoreChild(etcd.storeUrl, 'restarted', ['restart-ring'], recorder);
    await dead.waitForEvent('ready', (event) => event.type === 'ready');
    dead.process.kill('SIGKILL');
    await dead.exited;
    const restarted = await openStore(etcd.storeUrl, 'restarted', recorder);
    try {
      expect(await restarted.want('restart-ring')).toEqual({ serving: true, activeRelay: 'ws://restarted.test:8080' });
    } finally {
      await restarted.close();
    }
  });
});
