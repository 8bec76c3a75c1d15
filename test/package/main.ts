/**
 * A user's program against the installed package (test/package.test.ts copies it into a fresh
 * project): a relay from `ringleader/relay`, three nodes from `ringleader`, one leader, the node
 * statechart from `ringleader/machines`; then everything closes and the process must exit by
 * itself. Prints one JSON line with what it saw.
 */
import { joinRing, RelayConnectionError, type LeaderInfo, type RingNode } from 'ringleader';
import { nodeMachine, type Frame } from 'ringleader/machines';
import { startRelay, type RunningRelay } from 'ringleader/relay';

// At 'warn' a healthy relay writes nothing: stdout must hold only this program's report.
const relay: RunningRelay = await startRelay({ port: 0, host: '127.0.0.1', token: process.env.RING_TOKEN, logLevel: 'warn' });
const nodes: RingNode[] = [];
for (const rank of [10, 30, 20]) {
  nodes.push(await joinRing({ relay: relay.url, rank, token: process.env.RING_TOKEN, timing: { electionTimeoutMs: 300, checkIntervalMs: 200 } }));
}

const leader = await agreedLeader(nodes, 30_000);
const leading = nodes.filter((node) => node.isLeader()).map((node) => node.id);

// A relay that is not there: a clear error with a code, not an endless wait.
let failure: string | null = null;
try {
  await joinRing({ relay: 'ws://127.0.0.1:1', connectTimeoutMs: 300 });
} catch (error) {
  if (error instanceof RelayConnectionError) failure = error.code;
}

const frame: Frame = { type: 'ring', joined: 'n9' };
await Promise.all(nodes.map((node) => node.leave()));
await relay.close();
console.log(JSON.stringify({ leader, leading, failure, machine: nodeMachine.id, states: Object.keys(nodeMachine.states), frame: frame.type }));

/** Resolves once every node names the same leader, which is one of them. */
async function agreedLeader(members: RingNode[], timeoutMs: number): Promise<LeaderInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const first = members[0]?.leader() ?? null;
    const agreed = first !== null && members.every((node) => node.leader()?.id === first.id && node.leader()?.term === first.term);
    if (agreed && members.some((node) => node.id === first.id)) return first;
    if (Date.now() > deadline) throw new Error(`no agreement within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Never called: what TypeScript must refuse (each line is an error, or tsc fails the test). */
export function refused(url: string): unknown[] {
  return [
    // @ts-expect-error: a misspelt option.
    joinRing({ relay: url, rnak: 1 }),
    // @ts-expect-error: a misspelt timing.
    joinRing({ relay: url, timing: { leaderTimeout: 1000 } }),
    // @ts-expect-error: the relay is required.
    joinRing({ rank: 1 }),
    // @ts-expect-error: a log level that pino does not have.
    startRelay({ logLevel: 'wran' }),
    // @ts-expect-error: internals are not part of the library's entry point.
    import('ringleader').then((library) => library.nextRandom),
  ];
}
