/**
 * `ringleader watch` as a process (dist/cli/ringleader.js) against an in-process relay with
 * library nodes: it prints who leads and a new line when that changes, for people and as JSON,
 * and its exit codes (0 on a signal, 1 refused or no relay in time, 2 bad configuration).
 */
import { describe, expect, it } from 'vitest';
import { startRelay } from '../relay/server.js';
import { silentLogger } from './nodeKit.js';
import { cliRingFixture } from './sidecarKit.js';

describe('ringleader watch', () => {
  const { ring, processes } = cliRingFixture();

  it('--json: prints the leader with its metadata, then the next one after the leader leaves; SIGTERM exits 0', async () => {
    await ring.startRelay();
    const first = await ring.join({ rank: 20, meta: { url: 'http://10.0.0.20:8080' } });
    const second = await ring.join({ rank: 10, meta: { url: 'http://10.0.0.10:8080' } });
    const leader = await ring.agreement([first, second]);
    const follower = leader === first ? second : first;

    const watch = processes.start(['watch', '--relay', ring.url, '--json']);
    const before = JSON.parse(await watch.stdoutLine(() => true, 'the first leader line'));
    expect(before).toEqual({ time: expect.any(String), ring: 'default', id: leader.id, rank: leader.rank, term: leader.term(), meta: expect.any(Object) });
    expect(before.meta.url).toBe(leader === first ? 'http://10.0.0.20:8080' : 'http://10.0.0.10:8080');
    expect(Number.isNaN(Date.parse(before.time))).toBe(false);

    await leader.leave();
    const after = JSON.parse(await watch.stdoutLine((line) => JSON.parse(line).id === follower.id, 'a line naming the new leader'));
    expect(after).toMatchObject({ ring: 'default', id: follower.id, rank: follower.rank, meta: { url: expect.stringContaining('http://10.0.0.') } });
    expect(after.term).toBeGreaterThan(before.term);
    // Every line on stdout is one leader, as JSON: nothing else is mixed in.
    for (const line of watch.stdout) expect(() => JSON.parse(line)).not.toThrow();

    watch.child.kill('SIGTERM');
    expect((await watch.exited).code).toBe(0);
  });

  it('prints one human line per leader of a named ring (time, ring, id, rank, term, url); SIGINT exits 0', async () => {
    await ring.startRelay();
    const node = await ring.join({ ring: 'jobs', rank: 7, meta: { url: 'http://10.0.0.7:9000' } });
    await ring.agreement([node]);
    const watch = processes.start(['watch', '--relay', ring.url, '--ring', 'jobs']);
    const line = await watch.stdoutLine(() => true, 'the leader line');
    expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  ring jobs  leader ${node.id}  rank 7  term ${node.term()}  url http://10\\.0\\.0\\.7:9000$`));
    watch.child.kill('SIGINT');
    expect((await watch.exited).code).toBe(0);
  });

  it("prints a leader's hostile meta.url as one line with its controls escaped, never as forged lines or terminal escapes", async () => {
    await ring.startRelay();
    const forged = 'http://10.0.0.9\n2099-01-01T00:00:00.000Z  ring default  leader forged  rank 1  term 1\u001b[2J\u009b31m\u2028\u202e';
    const node = await ring.join({ rank: 9, meta: { url: forged } });
    await ring.agreement([node]);
    for (const json of [false, true]) {
      const watch = processes.start(['watch', '--relay', ring.url, ...(json ? ['--json'] : [])]);
      const line = await watch.stdoutLine(() => true, 'the leader line');
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
      if (json) expect(JSON.parse(line).meta.url).toBe(forged);
      else expect(line).toContain('url http://10.0.0.9\\u000a2099-01-01T00:00:00.000Z  ring default  leader forged  rank 1  term 1\\u001b[2J\\u009b31m\\u2028\\u202e');
      watch.child.kill('SIGTERM');
      await watch.exited;
      // Nothing but that one line reached stdout: no forged second line.
      expect(watch.stdout.filter((text) => text.includes('leader forged')).length).toBe(1);
      expect(watch.stdout.length).toBe(1);
    }
  });

  it('exits 1 when the relay refuses its token, without retrying', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', token: 'right', logger: silentLogger });
    ring.onCleanUp(() => relay.close());
    const watch = processes.start(['watch', '--relay', relay.url], { env: { RING_TOKEN: 'wrong' } });
    expect((await watch.exited).code).toBe(1);
    const fatal = watch.logs.filter((line) => line.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/HTTP 401.*RING_TOKEN is wrong/);
    expect(watch.stdout).toEqual([]);
  });

  it('exits 1 when no relay welcomes it within --connect-timeout-ms', async () => {
    const relay = await startRelay({ port: 0, host: '127.0.0.1', logger: silentLogger });
    const url = relay.url;
    await relay.close();
    const watch = processes.start(['watch', '--relay', url, '--connect-timeout-ms', '500']);
    expect((await watch.exited).code).toBe(1);
    expect(watch.logs.find((line) => line.level === 60)).toMatchObject({ code: 'unreachable', relay: url });
  });

  it('exits 2 on bad configuration, naming the option', async () => {
    const badRing = processes.start(['watch', '--ring', 'no spaces']);
    expect((await badRing.exited).code).toBe(2);
    expect(badRing.logs.map((line) => line.msg).join('\n')).toMatch(/--ring \(env RING\) must be 1-64/);
    const badJson = processes.start(['watch'], { env: { WATCH_JSON: 'maybe' } });
    expect((await badJson.exited).code).toBe(2);
    expect(badJson.logs.map((line) => line.msg).join('\n')).toMatch(/WATCH_JSON must be true or false/);
  });
});
