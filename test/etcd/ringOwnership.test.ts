/**
 * Ring ownership on a real etcd (one member): relays competing for rings, one serving each ring
 * at any instant, takeover when the owner gives its lease back or freezes, and records that only
 * the owner can write.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EtcdRelayStore } from '../../relay/store/etcdRelayStore.js';
import { waitFor } from '../../runtime/waitFor.js';
import { startEtcd, type EtcdCluster } from './etcdHarness.js';
import { OwnershipRecorder } from './ownershipRecorder.js';
import { openStore, startStoreChild, type StoreChild } from './storeKit.js';

let etcd: EtcdCluster;
const stores: EtcdRelayStore[] = [];
const children: StoreChild[] = [];
let prefixCount = 0;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.process.kill('SIGCONT');
    child.process.kill('SIGKILL');
    await child.exited;
  }
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** Each test on its own prefix, so one test's rings and relays never meet another's. */
function freshPrefix(): string {
  prefixCount += 1;
  return `test-${prefixCount}/`;
}

async function open(name: string, recorder: OwnershipRecorder, prefix: string): Promise<EtcdRelayStore> {
  const store = await openStore(etcd.storeUrl, name, recorder, { prefix });
  stores.push(store);
  return store;
}

describe('ring ownership on etcd', () => {
  it('two relays asking for the same rings: each ring is served by exactly one, and the other knows which', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = freshPrefix();
    const [a, b] = [await open('a', recorder, prefix), await open('b', recorder, prefix)];
    const rings = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
    // Both ask at once, ring by ring, so the claims race.
    await Promise.all(rings.flatMap((ring) => [a.want(ring), b.want(ring)]));
    for (const ring of rings) {
      const [ofA, ofB] = [a.ownership(ring), b.ownership(ring)];
      expect([ofA.serving, ofB.serving].filter(Boolean)).toHaveLength(1);
      const server = ofA.serving ? 'ws://a.test:8080' : 'ws://b.test:8080';
      expect(ofA.activeRelay).toBe(server);
      expect(ofB.activeRelay).toBe(server);
    }
    expect(recorder.overlaps()).toEqual([]);
  });

  it('when the owner gives its lease back (closes), the standby serves the ring, knows the terms, and the intervals never overlap', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = freshPrefix();
    const a = await open('a', recorder, prefix);
    expect(await a.want('jobs')).toEqual({ serving: true, activeRelay: 'ws://a.test:8080' });
    await a.record('jobs', 7, { id: 'n1', rank: 3, term: 7 });
    const b = await open('b', recorder, prefix);
    expect(await b.want('jobs')).toEqual({ serving: false, activeRelay: 'ws://a.test:8080' });
    expect(b.floor('jobs')).toBe(0);

    await a.close();
    await waitFor(() => b.serving('jobs'), 'b to serve jobs', { timeoutMs: 20_000 });
    expect(b.floor('jobs')).toBe(7);
    expect(b.recordOf('jobs')).toEqual({ highestTerm: 7, leader: { id: 'n1', rank: 3, term: 7 } });
    expect(recorder.overlaps()).toEqual([]);
    expect(recorder.server('jobs')).toBe('b');
  });

  it('when etcd revokes the owner’s lease behind its back, the owner stops serving and the standby takes the ring', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = freshPrefix();
    const a = await open('a', recorder, prefix);
    await a.want('jobs');
    const b = await open('b', recorder, prefix);
    await b.want('jobs');
    const stops: string[] = [];
    a.onEvent((event) => {
      if (event.type === 'stopped') stops.push(event.reason);
    });

    const admin = new Etcd3({ hosts: etcd.members.map((member) => member.clientUrl) });
    try {
      const owner = await admin.namespace(prefix).get('rings/jobs/owner').exec();
      await admin.leaseClient.leaseRevoke({ ID: owner.kvs[0]!.lease });
      await waitFor(() => b.serving('jobs'), 'b to serve jobs', { timeoutMs: 20_000 });
      expect(a.serving('jobs')).toBe(false);
      expect(stops).toHaveLength(1);
      expect(a.ownership('jobs')).toEqual({ serving: false, activeRelay: 'ws://b.test:8080' });
      expect(recorder.overlaps()).toEqual([]);
    } finally {
      admin.close();
    }
  });

  it('a deposed owner cannot record a term: its record is refused and etcd keeps the new owner’s', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = freshPrefix();
    const a = await open('a', recorder, prefix);
    await a.want('jobs');
    await a.record('jobs', 4, { id: 'n1', rank: 1, term: 4 });
    const b = await open('b', recorder, prefix);
    await b.want('jobs');

    // An operator deletes the ownership key: both relays race to claim the ring again.
    const admin = new Etcd3({ hosts: etcd.members.map((member) => member.clientUrl) });
    try {
      await admin.namespace(prefix).delete().key('rings/jobs/owner');
      // Until its watch tells it, a still believes it serves; the new owner is the one etcd names.
      const ownerUrl = await waitFor(
        async () => (JSON.parse((await admin.namespace(prefix).get('rings/jobs/owner').string()) ?? 'null') as { advertiseUrl: string } | null)?.advertiseUrl,
        'a relay to claim jobs again',
        { timeoutMs: 20_000 },
      );
      const [winner, loser] = ownerUrl === 'ws://a.test:8080' ? [a, b] : [b, a];
      await waitFor(() => winner.serving('jobs') && !loser.serving('jobs'), 'the new owner to serve and the other not', { timeoutMs: 20_000 });
      expect(winner.floor('jobs')).toBe(4);
      await winner.record('jobs', 5, { id: 'n2', rank: 2, term: 5 });

      await expect(loser.record('jobs', 9, { id: 'n1', rank: 1, term: 9 })).rejects.toThrow(/not served by this relay/);
      expect(loser.serving('jobs')).toBe(false);
      const stored = JSON.parse((await admin.namespace(prefix).get('rings/jobs/terms').string())!);
      expect(stored).toEqual({ highestTerm: 5, leader: { id: 'n2', rank: 2, term: 5 } });
      expect(recorder.overlaps()).toEqual([]);
    } finally {
      admin.close();
    }
  });

  it('records of one ring are written in order and the recorded term never goes down', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = freshPrefix();
    const a = await open('a', recorder, prefix);
    await a.want('jobs');
    await Promise.all([a.record('jobs', 3, null), a.record('jobs', 5, { id: 'n5', rank: 5, term: 5 }), a.record('jobs', 4, { id: 'n4', rank: 4, term: 4 })]);
    expect(a.floor('jobs')).toBe(5);
    await a.close();
    const b = await open('b', recorder, prefix);
    await b.want('jobs');
    expect(b.recordOf('jobs').highestTerm).toBe(5);
  });

  it('a frozen relay (SIGSTOP) stops serving before the standby serves; on waking it has stopped and cannot record', async () => {
    const recorder = new OwnershipRecorder();
    const prefix = freshPrefix();
    // The child uses the default prefix: give it its own etcd keys by ring name instead.
    const ring = `frozen-${prefix.replace(/\W/g, '')}`;
    const a = startStoreChild(etcd.storeUrl, 'a', [ring], recorder);
    children.push(a);
    await a.waitForEvent('ready', (event) => event.type === 'ready');
    expect(recorder.server(ring)).toBe('a');
    const b = await openStore(etcd.storeUrl, 'b', recorder);
    stores.push(b);
    expect(await b.want(ring)).toEqual({ serving: false, activeRelay: 'ws://a.test:8080' });

    a.process.kill('SIGSTOP');
    const stoppedAt = performance.timeOrigin + performance.now();
    await waitFor(() => b.serving(ring), 'the standby to serve the ring', { timeoutMs: 30_000 });
    const takeoverMs = performance.timeOrigin + performance.now() - stoppedAt;
    a.process.kill('SIGCONT');

    const stopped = await a.waitForEvent('a to say it stopped', (event) => event.type === 'stopped' && event.ring === ring);
    expect(stopped.reason).toMatch(/no keep-alive confirmed|expired/);
    a.send(`record ${ring} 9`);
    const refused = await a.waitForEvent('a to answer the record', (event) => event.type === 'recordFailed' || event.type === 'recorded');
    expect(refused.type).toBe('recordFailed');
    expect(recorder.overlaps()).toEqual([]);
    // For the report: how long the ring had no relay (the lease TTL plus the slack, at most).
    console.log(`frozen relay: standby served after ${Math.round(takeoverMs)} ms`);
  });
});
