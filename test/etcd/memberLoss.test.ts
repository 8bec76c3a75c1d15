/**
 * A three-member etcd loses a member (its leader, the worst one): the relay's lease outlasts
 * etcd's election, so the relay never stops serving its ring, and records go on.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RELAY_LEASE_TTL_S } from '../../machines/relayLease.js';
import type { EtcdRelayStore } from '../../relay/store/etcdRelayStore.js';
import { startEtcd, type EtcdCluster } from './etcdHarness.js';
import { OwnershipRecorder } from './ownershipRecorder.js';
import { openStore } from './storeKit.js';

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
});
afterAll(async () => {
  await etcd?.stop();
});

/** The index of the member that leads the etcd cluster now. */
async function etcdLeader(): Promise<number> {
  for (const [index, member] of etcd.members.entries()) {
    const client = new Etcd3({ hosts: member.clientUrl });
    try {
      const status = await client.maintenance.status();
      if (status.leader === status.header.member_id) return index;
    } finally {
      client.close();
    }
  }
  throw new Error('no etcd member says it leads');
}

describe('losing one etcd member of three', () => {
  it('the relay keeps serving its ring through etcd’s leader election, and records again', async () => {
    const recorder = new OwnershipRecorder();
    const store: EtcdRelayStore = await openStore(etcd.storeUrl, 'a', recorder);
    const stops: string[] = [];
    store.onEvent((event) => {
      if (event.type === 'stopped') stops.push(event.reason);
    });
    try {
      await store.want('jobs');
      await store.record('jobs', 1, null);
      await etcd.kill(await etcdLeader());

      // Over two lease TTLs after the kill, the relay records term after term: each must get through eventually.
      const until = performance.now() + 2 * DEFAULT_RELAY_LEASE_TTL_S * 1000;
      let term = 1;
      let failures = 0;
      while (performance.now() < until) {
        try {
          await store.record('jobs', term + 1, null);
          term += 1;
        } catch {
          failures += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stops).toEqual([]);
      expect(store.serving('jobs')).toBe(true);
      expect(term).toBeGreaterThan(2);
      console.log(`etcd leader killed: ${term - 1} records written, ${failures} refused during etcd's election, relay never stopped`);
    } finally {
      await store.close();
    }
  });
});
