/**
 * `--relay a,b` on the command line, with two real relays of which the first is stopped: `watch`
 * and `node` get in through the second (issue 23: clients that know several relays).
 */
import { describe, expect, it } from 'vitest';
import { FAST } from './nodeKit.js';
import { cliRingFixture } from './sidecarKit.js';

describe('--relay with two relays, the first stopped', () => {
  const { ring, processes } = cliRingFixture();

  it('ringleader node joins through the second relay, and watch names its leader from the same list', async () => {
    const stopped = await ring.startRelay();
    const deadUrl = stopped.url;
    await stopped.close();
    const live = await ring.startRelay();
    const relays = `${deadUrl},${live.url}`;
    const timing = ['--leader-timeout-ms', String(FAST.leaderTimeoutMs), '--check-interval-ms', String(FAST.checkIntervalMs), '--election-timeout-ms', String(FAST.electionTimeoutMs)];

    const node = processes.start(['node', '--relay', relays, '--rank', '7', ...timing]);
    // `node` logs to stdout (its output is the log).
    const joined = JSON.parse(await node.stdoutLine((line) => line.includes('"node joined"'), 'the node to join')) as { clientId: string };
    const watch = processes.start(['watch', '--relay', relays, '--json', '--leader-timeout-ms', String(FAST.leaderTimeoutMs)]);
    const leader = JSON.parse(await watch.stdoutLine(() => true, 'the leader line'));
    expect(leader).toMatchObject({ ring: 'default', id: joined.clientId, rank: 7 });
    expect(live.status().members).toContain(joined.clientId);
  });
});
