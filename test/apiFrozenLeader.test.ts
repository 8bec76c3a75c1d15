/**
 * A frozen leader (SIGSTOP: socket open, process stopped) loses leadership: the others elect a
 * successor in a newer term, and when the old leader wakes its `signal` aborts before it can
 * believe anything else. The leader runs as a child process using the built library (dist/).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAST, killChild, repoRoot, spawnWithLines, TestRing, waitFor, type ChildWithLines } from './nodeKit.js';

const distIndex = join(repoRoot, 'dist', 'index.js');

/** The child: joins with rank 100 and reports its callbacks as JSON lines on stdout. */
const CHILD = `
import { joinRing } from ${JSON.stringify(distIndex)};
const say = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const node = await joinRing({ relay: process.env.TEST_RELAY, rank: 100, timing: JSON.parse(process.env.TEST_TIMING) });
node.onNewLeader((leader) => say({ msg: 'leader', ...leader }));
node.onStartedLeading(({ term, signal }) => {
  say({ msg: 'started', term });
  signal.addEventListener('abort', () => say({ msg: 'aborted', term, reason: signal.reason?.name, leading: node.isLeader() }));
});
node.onStoppedLeading(({ term }) => say({ msg: 'stopped', term }));
say({ msg: 'joined', id: node.id });
`;

describe('a frozen leader', () => {
  const ring = new TestRing();
  let child: ChildWithLines | null = null;
  afterEach(async () => {
    if (child) await killChild(child);
    child = null;
    await ring.cleanUp();
  });
  beforeAll(() => {
    if (!existsSync(distIndex)) throw new Error('dist/index.js is missing: run `npm run build` first (npm test does)');
  });

  it('is replaced in a newer term, and its signal aborts when it wakes', async () => {
    await ring.startRelay();
    child = spawnWithLines(['--input-type=module', '-e', CHILD], { TEST_RELAY: ring.url, TEST_TIMING: JSON.stringify(FAST) });
    const frozen = child;
    const joined = await frozen.line((line) => line.msg === 'joined', 'the child to join');
    const started = await frozen.line((line) => line.msg === 'started', 'the child, alone, to lead');
    const b = await ring.join({ rank: 20 });
    const c = await ring.join({ rank: 10 });
    await waitFor(() => b.leader()?.id === joined.id && c.leader()?.id === joined.id, 'b and c to follow the child');

    frozen.child.kill('SIGSTOP');
    const successor = await ring.agreement([b, c], 'b and c to elect a successor while the child is frozen');
    expect(successor).toBe(b);
    expect(b.term()).toBeGreaterThan(started.term as number);

    frozen.child.kill('SIGCONT');
    const aborted = await frozen.line((line) => line.msg === 'aborted', "the woken child's signal to abort");
    expect(aborted).toMatchObject({ term: started.term, reason: 'LeadershipLostError', leading: false });
    await frozen.line((line) => line.msg === 'stopped' && line.term === started.term, 'onStoppedLeading in the child');
    // Awake again, it follows the successor and does not claim leadership back.
    await frozen.line((line) => line.msg === 'leader' && line.id === b.id, 'the child to follow b');
    const claims = frozen.lines.filter((line) => line.msg === 'started').map((line) => line.term);
    expect(claims).toEqual([started.term]);
    expect(b.isLeader()).toBe(true);
  });
});
