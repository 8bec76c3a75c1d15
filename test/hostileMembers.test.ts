/**
 * Members that are buggy or hostile, against real relay and node processes (`npm run build`
 * first): a valid frame with an absurd term, an announcement addressed to its sender, a member
 * that reads and never passes anything on, and a member that floods bad frames. After each one
 * the ring must still elect, and the relay must say what happened without flooding its log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TERM_CATCH_UP } from '../machines/protocol.js';
import { DEADLINE_MS, describeViews, startRing, stopRings, waitForAgreement } from './e2eHarness.js';
import { waitFor } from '../runtime/waitFor.js';
import { getJson, killRelayProcesses, metric, RelayProcess, TestClient } from './relayHelpers.js';

const clients: TestClient[] = [];
async function member(url: string): Promise<TestClient> {
  const client = await TestClient.connect(url);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  killRelayProcesses();
  await stopRings();
});

describe('a member with a valid frame and bad intentions', () => {
  it('cannot wedge the ring with an absurd term: past the catch-up allowance only the next term goes through, and the ring elects above it once the member is gone', async () => {
    const ring = await startRing({ ranks: [30, 20, 10] });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 3);
    const hostile = await member(ring.relayUrl);

    // The term after which no election could follow is refused outright.
    hostile.send({ type: 'newLeader', to: 'all', leaderId: hostile.id, rank: 1, term: Number.MAX_SAFE_INTEGER });
    expect((await hostile.error('bad_term')).detail).toMatch(/^term 9007199254740991 is above \d+: the highest term this relay has let through is \d+/);
    // An announcement addressed to its sender alone changes nothing the relay reports.
    hostile.send({ type: 'newLeader', to: hostile.id, leaderId: hostile.id, rank: 99, term: before.leader.term });
    await hostile.next((frame) => frame.type === 'newLeader' && frame.to === hostile.id);
    expect((await getJson(`${ring.relayHttpUrl}/status`)).leader).toEqual(before.leader);

    // The largest jump the relay lets through, once per run: the whole catch-up allowance. The
    // ring follows the hostile member as leader of that term...
    const jump = (await getJson(`${ring.relayHttpUrl}/status`)).highestTerm + TERM_CATCH_UP;
    hostile.send({ type: 'newLeader', to: 'all', leaderId: hostile.id, rank: 1, term: jump });
    await waitFor(async () => ((await getJson(`${ring.relayHttpUrl}/status`)).leader?.id === hostile.id ? true : undefined), 'the relay to report the hostile leader', DEADLINE_MS);
    // ...and after it, an announcement may not go above the highest term, an election one above.
    hostile.send({ type: 'newLeader', to: 'all', leaderId: hostile.id, rank: 1, term: jump + 1 });
    expect((await hostile.error('bad_term')).detail).toMatch(/an announcement or answer may not go above it.*allowance has 0 left/);
    hostile.send({ type: 'election', to: 'next', initiator: hostile.id, term: jump + 2, eligible: [{ id: hostile.id, rank: 1 }] });
    expect((await hostile.error('bad_term')).detail).toMatch(new RegExp(`term ${jump + 2} is above ${jump + 1}: .*an election may go one above it`));
    expect((await getJson(`${ring.relayHttpUrl}/status`)).highestTerm).toBe(jump);
    // When it leaves, the ring elects a real leader in the next term, which the relay lets through.
    hostile.close();
    const after = await waitForAgreement(ring, (a) => a.leader.term > jump && a.nodes.length === 3, 'a real leader above the jump');
    expect(after.leader.id).not.toBe(hostile.id);
    const status = await getJson(`${ring.relayHttpUrl}/status`);
    expect(status.leader).toEqual(after.leader);
    expect(status.highestTerm).toBeGreaterThan(jump);
    // A newcomer is told the real leader and the term floor, never the departed member.
    const newcomer = await member(ring.relayUrl);
    expect(newcomer.frames[0]).toMatchObject({ type: 'welcome', leader: after.leader, term: status.highestTerm });
  });

  it("issue 21's attack: many sockets announcing and electing with huge jumps lift the term by at most the allowance plus one per frame, and the ring still elects above it", async () => {
    const ring = await startRing({ ranks: [30, 20] });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 2);
    const floor = (await getJson(`${ring.relayHttpUrl}/status`)).highestTerm as number;
    const sockets = 12;
    const framesEach = 20;
    const hostiles: TestClient[] = [];
    for (let index = 0; index < sockets; index += 1) hostiles.push(await member(ring.relayUrl));
    // Each frame asks for 2^32 above the last one sent (the finding's 48 sockets did that 2 million
    // times): half of them announcements to all, half election laps.
    let term = floor;
    for (let round = 0; round < framesEach; round += 1) {
      for (const hostile of hostiles) {
        term += 2 ** 32;
        hostile.send(
          round % 2 === 0
            ? { type: 'newLeader', to: 'all', leaderId: hostile.id, rank: 1, term }
            : { type: 'election', to: 'next', initiator: hostile.id, term, eligible: [{ id: hostile.id, rank: 1 }] },
        );
      }
    }
    // A frame the relay answers on the same socket after all of them: every verdict has arrived.
    for (const hostile of hostiles) hostile.send('{not json');
    await Promise.all(hostiles.map((hostile) => hostile.error('bad_json')));
    const sent = sockets * framesEach;
    const refused = hostiles.reduce((sum, hostile) => sum + hostile.frames.filter((frame) => frame.type === 'error' && frame.code === 'bad_term').length, 0);
    expect(refused).toBeGreaterThan(sent - sockets);
    // The rule's bound within one relay run: the floor, plus the catch-up allowance (spent once),
    // plus one per frame let through (the hostile ones, and the honest members' few laps: 100 is plenty).
    const lifted = (await getJson(`${ring.relayHttpUrl}/status`)).highestTerm as number;
    expect(lifted).toBeLessThanOrEqual(floor + TERM_CATCH_UP + (sent - refused) + 100);
    for (const hostile of hostiles) hostile.close();

    // The honest members elect above everything the hostile ones got through...
    const survivor = await waitForAgreement(ring, (a) => a.nodes.length === 2);
    await ring.crash(survivor.leader.id);
    const after = await waitForAgreement(ring, (a) => a.nodes.length === 1 && a.leader.term > lifted, 'the survivor to elect above the lifted term');
    expect(after.leader.id).not.toBe(before.leader.id);
    // ...and a fresh node, told the floor in welcome, never elects below it.
    const told = (await getJson(`${ring.relayHttpUrl}/status`)).highestTerm as number;
    await ring.startNode({ rank: 40 });
    await waitForAgreement(ring, (a) => a.nodes.length === 2, 'the fresh node to follow');
    await ring.crash(after.leader.id);
    const fresh = await waitForAgreement(ring, (a) => a.nodes.length === 1 && a.leader.term > told, 'the fresh node to elect above the term it was told');
    expect(fresh.leader.rank).toBe(40);
    expect((await getJson(`${ring.relayHttpUrl}/status`)).highestTerm).toBeLessThan(Number.MAX_SAFE_INTEGER / 2 ** 20);
  });

  it('never names a departed leader: welcome and /status say "nobody" until the next announcement', async () => {
    const relay = await RelayProcess.start();
    const a = await member(relay.url);
    const b = await member(relay.url);
    a.send({ type: 'newLeader', to: 'all', leaderId: a.id, rank: 5, term: 3 });
    await b.next((frame) => frame.type === 'newLeader');
    a.close();
    await b.next((frame) => frame.type === 'ring' && frame.left === a.id);
    expect((await getJson(`${relay.http}/status`)).leader).toBeNull();
    const c = await member(relay.url);
    expect(c.frames[0]).toMatchObject({ type: 'welcome', leader: null, term: 3 });
  });

  it('a member that reads and never passes anything on does not stop a failover: the relay routes around it', async () => {
    const ring = await startRing({ ranks: [30, 20, 10] });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 3);
    // A websocat-like session: it joins and only reads. It sits right after the leader in ring order.
    const silent = await member(ring.relayUrl);
    await ring.crash(before.leader.id);
    const after = await waitForAgreement(ring, (a) => a.leader.term > before.leader.term && a.nodes.length === 2, 'a new leader despite the silent member');
    expect(after.leader.id).not.toBe(silent.id);
    const metrics = await (await fetch(`${ring.relayHttpUrl}/metrics`)).text();
    expect(metric(metrics, 'ringleader_relay_bypasses_total{ring="default"}')).toBeGreaterThanOrEqual(1);
    expect((await getJson(`${ring.relayHttpUrl}/status`)).memberDetails).toContainEqual(expect.objectContaining({ id: silent.id, forwarding: false }));
    const relayLog = ring.relay!.records;
    expect(relayLog.some((line) => line.msg === 'member held the election frame without passing it on: routing around it' && line.clientId === silent.id)).toBe(true);
    // The silent member is still a member (it answers pings and may be a reader on purpose).
    expect((await getJson(`${ring.relayHttpUrl}/status`)).members).toContain(silent.id);
    console.info(`failover with a silent member: ${describeViews(ring)}`);
  });
});

describe('a member that floods valid frames', () => {
  it('cannot flood the log with elections and announcements: past its line budget they are counted, not written', async () => {
    const relay = await RelayProcess.start(['--rate-limit', '0']);
    const flooder = await member(relay.url);
    const bystander = await member(relay.url);
    const rounds = 200;
    for (let term = 1; term <= rounds; term += 1) {
      flooder.send({ type: 'election', to: 'next', term, initiator: flooder.id, eligible: [{ id: flooder.id, rank: 5 }] });
      flooder.send({ type: 'newLeader', to: 'all', leaderId: flooder.id, rank: 5, term });
    }
    await bystander.next((frame) => frame.type === 'newLeader' && frame.term === rounds, 'the last announcement', DEADLINE_MS);

    const metrics = await (await fetch(`${relay.http}/metrics`)).text();
    // Every election and leader change is still counted...
    expect(metric(metrics, 'ringleader_relay_elections_started_total{ring="default"}')).toBe(rounds);
    expect(metric(metrics, 'ringleader_relay_leader_changes_total{ring="default"}')).toBe(rounds);
    // ...but the log took a burst of lines and one warning, not 400 lines.
    const suppressed = metric(metrics, 'ringleader_relay_log_lines_suppressed_total');
    const caused = () => relay.logs.filter((line) => (line.msg === 'election started' || line.msg === 'leader announced') && line.clientId === flooder.id);
    await waitForCount(() => caused().length + suppressed, 2 * rounds);
    expect(caused().length).toBeGreaterThan(0);
    expect(caused().length).toBeLessThan(100);
    const warning = await relay.log((line) => String(line.msg).startsWith('member causes elections or announcements faster') && line.clientId === flooder.id, 'the warning');
    expect(warning.ring).toBe('default');
    expect(relay.logs.filter((line) => String(line.msg).startsWith('member causes elections or announcements faster'))).toHaveLength(1);
    flooder.close();
    const leave = await relay.log((line) => line.msg === 'leave' && line.clientId === flooder.id, 'the flooder to leave');
    expect(leave.linesSuppressed).toBe(suppressed);
  });
});

describe('a member that floods bad frames', () => {
  it('is answered and counted every time, but logged once per connection and code, even between valid frames', async () => {
    const relay = await RelayProcess.start(['--rate-limit', '0']);
    const flooder = await member(relay.url);
    const bystander = await member(relay.url);
    for (let index = 0; index < 2000; index += 1) flooder.send('{not json');
    for (let index = 0; index < 500; index += 1) {
      flooder.send({ type: 'checkLeader', to: 'nobody-here', nonce: String(index) });
      // A frame the relay takes between the bad ones does not reopen the log.
      if (index % 100 === 0) flooder.send({ type: 'checkLeader', to: bystander.id, nonce: `valid ${index}` });
    }
    await flooder.next((frame) => frame.type === 'error' && frame.code === 'unknown_target' && frame.detail.includes('nobody-here'), 'the last error', DEADLINE_MS);
    await waitForCount(() => flooder.frames.filter((frame) => frame.type === 'error').length, 2500);

    const metrics = await (await fetch(`${relay.http}/metrics`)).text();
    expect(metric(metrics, 'ringleader_relay_frames_rejected_total{code="bad_json"}')).toBe(2000);
    expect(metric(metrics, 'ringleader_relay_frames_rejected_total{code="unknown_target"}')).toBe(500);
    expect(metric(metrics, 'ringleader_relay_rejections_unlogged_total')).toBe(2498);
    const rejections = relay.logs.filter((line) => line.msg === 'rejected frame' && line.clientId === flooder.id);
    expect(rejections.map((line) => line.code)).toEqual(['bad_json', 'unknown_target']);
    // The bystander was not disturbed, and the flooder's leave line carries the count.
    bystander.send({ type: 'checkLeader', to: flooder.id, nonce: 'still here' });
    await flooder.next((frame) => frame.type === 'checkLeader' && frame.nonce === 'still here');
    flooder.close();
    const leave = await relay.log((line) => line.msg === 'leave' && line.clientId === flooder.id, 'the flooder to leave');
    expect(leave.rejectedUnlogged).toBe(2498);
  });
});

async function waitForCount(count: () => number, want: number): Promise<void> {
  await waitFor(() => count() >= want || undefined, `${want} answers`, { timeoutMs: DEADLINE_MS });
}
