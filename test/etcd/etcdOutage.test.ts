/**
 * etcd entirely gone, then back: the relay stops serving within its renewal window (no relay can
 * record a term while etcd is away), and when etcd returns it takes a new lease, claims the ring
 * again and continues above the terms recorded before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../runtime/waitFor.js';
import { startEtcd, type EtcdCluster } from './etcdHarness.js';
import { OwnershipRecorder } from './ownershipRecorder.js';
import { openStore } from './storeKit.js';

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

describe('etcd gone and back', () => {
  it('the relay stops serving while etcd is away, refuses records, and serves again with the recorded floor once it is back', async () => {
    const recorder = new OwnershipRecorder();
    const store = await openStore(etcd.storeUrl, 'a', recorder, { callTimeoutMs: 1000 });
    try {
      await store.want('jobs');
      await store.record('jobs', 3, { id: 'n1', rank: 1, term: 3 });
      await etcd.kill(0);
      await waitFor(() => !store.serving('jobs'), 'the relay to stop serving', { timeoutMs: 30_000 });
      await expect(store.record('jobs', 4, null)).rejects.toThrow(/not served by this relay/);

      await etcd.restart(0);
      await waitFor(() => store.serving('jobs'), 'the relay to serve again', { timeoutMs: 60_000 });
      expect(store.floor('jobs')).toBe(3);
      expect(store.recordOf('jobs').leader?.id).toBe('n1');
      await store.record('jobs', 4, null);
      expect(recorder.intervals.map((interval) => interval.relay)).toEqual(['a', 'a']);
    } finally {
      await store.close();
    }
  });
});
