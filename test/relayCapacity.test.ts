/**
 * The relay's size limits, against a real relay process (`npm run build` first): every ring it
 * admits can elect (the member cap follows from the payload limit), joins past the caps are
 * refused with a clear HTTP 503, and a flood of sockets that connect and drop at once neither
 * starves /healthz nor costs the leader its lease.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, RelayConnectionError, type RingNode } from '../index.js';
import { memberCapacity } from '../machines/protocol.js';
import { DEADLINE_MS, startRing, stopRings, waitForAgreement } from './e2eHarness.js';
import { silentLogger, TestRing } from './nodeKit.js';
import { getJson, killRelayProcesses, RelayProcess } from './relayHelpers.js';
import { waitFor } from '../runtime/waitFor.js';

const sockets: WebSocket[] = [];
const nodes: RingNode[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await Promise.allSettled(nodes.splice(0).map((node) => node.leave()));
  killRelayProcesses();
  await stopRings();
});

/** Opens a raw WebSocket and resolves with how the upgrade went: open, or the refusal's status and body. */
function attempt(url: string): Promise<{ open: true } | { open: false; status: number; body: string }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    sockets.push(socket);
    socket.on('open', () => resolve({ open: true }));
    socket.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk) => (body += String(chunk)));
      response.on('end', () => resolve({ open: false, status: response.statusCode ?? 0, body }));
    });
    socket.on('error', () => undefined);
  });
}

describe('every ring the relay admits can elect', () => {
  it('caps the membership so that an election frame naming everyone fits the payload limit, and the full ring elects', async () => {
    const maxPayload = 4096;
    const capacity = memberCapacity(maxPayload);
    const relay = await RelayProcess.start(['--max-payload', String(maxPayload), '--max-backlog', String(maxPayload)]);
    expect((await getJson(`${relay.http}/status`)).limits.maxMembers).toBe(capacity);

    const timing = { checkIntervalMs: 300, leaderTimeoutMs: 3000, electionTimeoutMs: 1000 };
    for (let rank = 0; rank < capacity; rank += 1) nodes.push(await joinRing({ relay: relay.url, rank, timing, logger: silentLogger }));
    const leader = await new TestRing().agreement(nodes, `a full ring of ${capacity} to elect`);
    expect(leader.rank).toBeGreaterThanOrEqual(0);

    // One more is turned away with the reason, at the door (HTTP 503), and joinRing says so.
    const refused = await attempt(relay.url);
    expect(refused).toMatchObject({ open: false, status: 503, body: expect.stringContaining('the ring is full: this relay admits') });
    const error = await joinRing({ relay: relay.url, connectTimeoutMs: 1500, logger: silentLogger }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RelayConnectionError);
    expect(error).toMatchObject({ code: 'refused', status: 503, message: expect.stringContaining('the ring is full') });
    const metrics = await (await fetch(`${relay.http}/metrics`)).text();
    expect(metrics).toMatch(/ringleader_relay_joins_refused_total\{reason="ring_full"\} [1-9]/);
  });
});

describe('connection floods', () => {
  it('refuses connections past the per-address cap with a clear 503, and serves the rest', async () => {
    const relay = await RelayProcess.start(['--max-connections-per-address', '20']);
    const results = await Promise.all(Array.from({ length: 30 }, () => attempt(relay.url)));
    const refused = results.filter((result) => !result.open);
    expect(results.filter((result) => result.open)).toHaveLength(20);
    expect(refused).toHaveLength(10);
    for (const result of refused) expect(result).toMatchObject({ status: 503, body: expect.stringContaining('too many connections from your address: at most 20') });
    expect((await fetch(`${relay.http}/healthz`)).status).toBe(200);
  });

  it('500 sockets that join and then drop at once leave the leader leading and /healthz answering', async () => {
    // Default timing (a lease of 1.7 s): a relay that handled the joins and leaves in one long
    // stretch, as it did before its outboxes, starved pongs and cost the leader its lease.
    const ring = await startRing({ ranks: [30, 20, 10], env: { LEADER_TIMEOUT_MS: '5000', CHECK_INTERVAL_MS: '1000', ELECTION_TIMEOUT_MS: '1000' } });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 3);
    let healthChecks = 0;
    let healthFailures = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const ok = await fetch(`${ring.relayHttpUrl}/healthz`, { signal: AbortSignal.timeout(DEADLINE_MS) }).then((response) => response.ok, () => false);
        healthChecks += 1;
        if (!ok) healthFailures += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const flood = await Promise.all(Array.from({ length: 500 }, () => attempt(ring.relayUrl)));
    expect(flood.every((result) => result.open)).toBe(true);
    await waitFor(async () => ((await getJson(`${ring.relayHttpUrl}/status`)).members.length === 503 ? true : undefined), '503 members', { timeoutMs: DEADLINE_MS });
    for (const socket of sockets.splice(0)) socket.terminate();
    await waitFor(async () => ((await getJson(`${ring.relayHttpUrl}/status`)).members.length === 3 ? true : undefined), 'the flood to leave', { timeoutMs: DEADLINE_MS });
    // A lease period and more for a lapse to show, had there been one.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    probing = false;
    await probe;

    const after = ring.agreement();
    expect(after?.leader).toEqual(before.leader);
    expect(ring.nodes.flatMap((node) => node.records).filter((record) => record.msg === 'leadership lost')).toEqual([]);
    expect(healthFailures).toBe(0);
    expect(healthChecks).toBeGreaterThan(0);
  });
});
