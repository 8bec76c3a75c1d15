/**
 * The relay's HTTP and upgrade surface as a hostile web page or client meets it (issue 21): the
 * real relay process, raw requests over a socket, and after each one the relay still answers and
 * a ring on it still elects.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest, requestText, upgradeHeaders } from '../fuzz/rawRequest.js';
import { ringElects } from '../fuzz/ringElects.js';
import { RelayProcess, TestClient, getJson, getText, killRelayProcesses } from './relayHelpers.js';

afterEach(() => killRelayProcesses());

describe('the relay surface (process)', () => {
  it('answers an upgrade to a malformed percent-encoded ring name with 400 and stays up; a ring still elects', async () => {
    const relay = await RelayProcess.start();
    for (const target of ['/rings/%E0%A4%A', '/rings/%', '/rings/%C0%AF', '/rings/%ZZ?role=observer']) {
      const answer = await rawRequest(relay.port, requestText('GET', target, upgradeHeaders(relay.port)));
      expect(answer.status, `${target}: ${answer.text}`).toBe(400);
      expect(answer.text).toContain('ring names are 1-64');
    }
    expect((await getText(`${relay.http}/healthz`)).body).toBe('ok');
    expect(relay.child.exitCode).toBeNull();
    expect(await ringElects(relay.url, 'after-bad-upgrades')).toBeNull();
  });

  it('answers what it does not serve instead of dropping the socket: CONNECT 405, a 20 KB head 431, garbage 400', async () => {
    const relay = await RelayProcess.start();
    const host = `Host: 127.0.0.1:${relay.port}`;
    expect((await rawRequest(relay.port, requestText('CONNECT', '/healthz', [host]))).status).toBe(405);
    expect((await rawRequest(relay.port, requestText('GET', `/status?ring=${'a'.repeat(20_000)}`, [host]))).status).toBe(431);
    expect((await rawRequest(relay.port, requestText('GET', '/rings/x', [...upgradeHeaders(relay.port), `X-Big: ${'b'.repeat(20_000)}`]))).status).toBe(431);
    expect((await rawRequest(relay.port, '\u0000\u0001 not http\r\n\r\n')).status).toBe(400);
    expect((await rawRequest(relay.port, requestText('GET', '/status', [host, 'Bad Name: x']))).status).toBe(400);
    expect((await getText(`${relay.http}/healthz`)).body).toBe('ok');
  });

  it('measures ?meta= by the parameter the URL parser reads, however its name is encoded', async () => {
    const relay = await RelayProcess.start();
    const big = encodeURIComponent(JSON.stringify({ url: 'x'.repeat(14_000) }));
    for (const name of ['%6Deta', 'm%65ta', '%6D%65%74%61']) {
      const answer = await rawRequest(relay.port, requestText('GET', `/rings/meta-check?${name}=${big}`, upgradeHeaders(relay.port)));
      expect(answer.status, answer.text).toBe(400);
      expect(answer.text).toMatch(/meta must be at most 1024 bytes URL-encoded, got \d+/);
    }
    // Nothing was admitted: the ring was never opened, and /status shows no such meta.
    expect((await getJson(`${relay.http}/rings`)).map((ring: { name: string }) => ring.name)).not.toContain('meta-check');
    // A small meta under an encoded name is still taken.
    const small = encodeURIComponent(JSON.stringify({ url: 'http://10.0.0.5:8080' }));
    const accepted = await rawRequest(relay.port, requestText('GET', `/rings/meta-check?%6Deta=${small}`, upgradeHeaders(relay.port)));
    expect(accepted.status, accepted.text).toBe(101);
  });
});

describe('ring slots and observers (process)', () => {
  const clients: TestClient[] = [];
  afterEach(() => clients.splice(0).forEach((client) => client.close()));
  const join = async (relay: RelayProcess, path: string) => {
    const client = await TestClient.connect(`${relay.url}${path}`);
    clients.push(client);
    return client;
  };
  const upgradeStatus = async (relay: RelayProcess, path: string) =>
    (await rawRequest(relay.port, requestText('GET', path, upgradeHeaders(relay.port)))).status;

  it('a ring only observers hold gives its slot to a ring with members; observers never take one from another ring', async () => {
    // The default ring and two more.
    const relay = await RelayProcess.start(['--max-rings', '3']);
    const first = await join(relay, '/rings/watched-1?role=observer');
    const second = await join(relay, '/rings/watched-2?role=observer');
    // Every slot is taken, and an observer cannot open a ring at another's expense.
    expect(await upgradeStatus(relay, '/rings/watched-3?role=observer')).toBe(503);
    expect(second.closed).toBeNull();

    // A member can: the oldest ring with no members is closed, its observer told to try again later.
    const member = await join(relay, '/rings/work-1');
    expect((await first.waitClosed()).code).toBe(1013);
    expect(second.closed).toBeNull();
    expect(member.frames[0]).toMatchObject({ type: 'welcome', members: [member.id] });
    await join(relay, '/rings/work-2');
    expect((await second.waitClosed()).code).toBe(1013);

    // Rings with members keep their slots.
    expect(await upgradeStatus(relay, '/rings/work-3')).toBe(503);
    const names = (await getJson(`${relay.http}/rings`)).map((ring: { name: string }) => ring.name).sort();
    expect(names).toEqual(['default', 'work-1', 'work-2']);
  });
});
