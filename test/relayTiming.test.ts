/**
 * The relay tells every member its timing (`welcome.timing`), and a node runs the lease that fits
 * it (issue 21, finding 6): a `ringleader node` started with a longer leader timeout than the
 * relay's follows the relay's, so a leader cut off from the relay steps down before the relay
 * drops it and a successor leads; a library node given a lease the relay's heartbeat would not
 * outlast refuses to join with a typed error. Needs `npm run build` (the node runs as a process).
 */
import { existsSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { joinRing } from '../index.js';
import { RelayConnectionError } from '../node/connectFailure.js';
import { startRelay, type RunningRelay } from '../relay/server.js';
import { killChild, repoRoot, silentLogger, spawnWithLines, type ChildWithLines, type LogLine } from './nodeKit.js';

const cli = join(repoRoot, 'dist', 'cli', 'ringleader.js');
/** The relay's leader timeout: the default, as in the finding. */
const RELAY_LEADER_TIMEOUT_MS = 5000;

/**
 * A TCP forwarder in front of the relay whose `cut()` stops carrying bytes either way on the
 * connections it has, without closing them: a partition neither side sees as a close.
 */
class CuttableLink {
  private readonly open = new Set<Socket[]>();
  private readonly cutOff = new Set<Socket[]>();

  private constructor(private readonly server: Server) {}

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  static async to(port: number): Promise<CuttableLink> {
    const server = createServer();
    const link = new CuttableLink(server);
    server.on('connection', (client) => link.carry(client, connect(port, '127.0.0.1')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return link;
  }

  private carry(client: Socket, upstream: Socket): void {
    const pair = [client, upstream];
    this.open.add(pair);
    client.on('data', (chunk) => this.cutOff.has(pair) || upstream.write(chunk));
    upstream.on('data', (chunk) => this.cutOff.has(pair) || client.write(chunk));
    for (const socket of pair) {
      socket.on('error', () => undefined);
      // A cut link carries no close either: the far side learns nothing until its own timers say so.
      socket.on('close', () => {
        this.open.delete(pair);
        if (!this.cutOff.has(pair)) for (const other of pair) other.destroy();
      });
    }
  }

  /** Every connection open now stops carrying bytes; later connections are carried. */
  cut(): void {
    for (const pair of this.open) this.cutOff.add(pair);
  }

  close(): void {
    for (const pair of [...this.open, ...this.cutOff]) for (const socket of pair) socket.destroy();
    this.server.close();
  }
}

describe("the relay's timing in welcome", () => {
  let relay: RunningRelay | null = null;
  let link: CuttableLink | null = null;
  const children: ChildWithLines[] = [];
  const startNode = (relayUrl: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawnWithLines([cli, 'node', '--relay', relayUrl, ...args], { LOG_LEVEL: 'info', CHECK_INTERVAL_MS: '300', ELECTION_TIMEOUT_MS: '1000', ...env });
    children.push(child);
    return child;
  };
  const msg = (text: string) => (line: LogLine) => line.msg === text;

  beforeAll(() => {
    if (!existsSync(cli)) throw new Error('dist/cli/ringleader.js is missing: run `npm run build` first (npm test does)');
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killChild));
    link?.close();
    link = null;
    await relay?.close();
    relay = null;
  });

  it("a node started with --leader-timeout-ms 15000 against a relay at 5000 follows the relay's: cut off, it stops leading before anyone else leads", async () => {
    relay = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: RELAY_LEADER_TIMEOUT_MS, logger: silentLogger });
    link = await CuttableLink.to(relay.port);
    const mismatched = startNode(`ws://127.0.0.1:${link.port}`, ['--rank', '10', '--leader-timeout-ms', '15000']);
    const followed = await mismatched.line(msg("following the relay's timing: its leader timeout differs from this node's"), 'the node to follow the relay');
    expect(followed).toMatchObject({ leaderTimeoutMs: 5000, leaseMs: 1667, ownLeaderTimeoutMs: 15_000, ownLeaseMs: 5000, level: 40 });
    const leaderId = (await mismatched.line(msg('leadership acquired'), 'the first node to lead alone', 30_000)).clientId;

    // Higher-ranked, so that it wins the election after the cut (the first node rejoins under a new id and takes part).
    const other = startNode(relay.url, ['--rank', '20', '--leader-timeout-ms', String(RELAY_LEADER_TIMEOUT_MS)]);
    await other.line((line) => line.msg === 'leader changed' && line.leaderId === leaderId, 'the second node to follow the first');
    expect(other.lines.some(msg("following the relay's timing: its leader timeout differs from this node's"))).toBe(false);

    // A partition: the leader's link carries nothing either way, and nobody sees a close.
    link.cut();
    const acquired = await other.line(msg('leadership acquired'), 'the other node to lead after the relay dropped the first', 30_000);
    const lost = await mismatched.line(msg('leadership lost'), 'the cut-off leader to step down', 30_000);
    // One leader at a time: the cut-off leader stepped down (its lease, a third of the relay's
    // leader timeout) before the relay dropped it, and so before the successor led.
    expect(lost.time as number).toBeLessThan(acquired.time as number);
  });

  it('a library node whose given lease the relay heartbeat would not outlast refuses to join, with a typed error', async () => {
    relay = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: RELAY_LEADER_TIMEOUT_MS, logger: silentLogger });
    const joining = joinRing({ relay: relay.url, logger: silentLogger, timing: { heartbeatTimeoutMs: 3000 } });
    const error = await joining.then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(RelayConnectionError);
    expect(error).toMatchObject({ code: 'timing', message: expect.stringMatching(/lease \(3000 ms\) is not shorter than the relay's heartbeat \(2500 ms/) });
    // It left: the relay no longer lists it.
    await expect.poll(() => relay!.status().members, { timeout: 10_000 }).toEqual([]);
  });
});
