/**
 * The inspector's model fed inspection messages directly, for what the live tests cannot force:
 * streams from different processes arriving out of order.
 */
import { describe, expect, it } from 'vitest';
import { parseInspectionMessage } from '../inspector/server/ingest.js';
import type { LogEntry } from '../inspector/server/messages.js';
import { RingModel } from '../inspector/server/ringModel.js';

function modelWithNodes(ids: string[]) {
  const log: LogEntry[] = [];
  let now = 1000;
  const model = new RingModel({ frame() {}, log: (entry) => log.push(entry), changed() {} }, () => now);
  // As the server does: every message goes through the ingest checks first.
  const ingest = (key: string, message: unknown) => {
    const parsed = parseInspectionMessage(JSON.stringify(message));
    if (!parsed.ok) throw new Error(`test message rejected: ${parsed.reason}`);
    model.ingest(key, parsed.message);
  };
  for (const id of ids) {
    model.connect(id, `node ${id}`);
    ingest(id, { type: '@xstate.actor', name: 'node', sessionId: 'x:0', snapshot: { value: { online: 'follower' }, context: { id, rank: Number(id.slice(1)), members: ids, term: 1, leader: { id: 'n1', rank: 1, term: 1 } } } });
  }
  /** `id` receives `lastEvent` (a type, or a whole frame), then sends `frame`. */
  const send = (id: string, lastEvent: string | Record<string, unknown>, frame: Record<string, unknown>) => {
    now += 10;
    ingest(id, { type: '@xstate.event', sessionId: 'x:0', event: typeof lastEvent === 'string' ? { type: lastEvent } : lastEvent });
    ingest(id, { type: '@xstate.event', sessionId: 'x:1', sourceId: 'x:0', event: { type: 'send', frame } });
  };
  return { model, log, send, ingest };
}

describe('inspector model', () => {
  it("names who started an election and why even when a forwarded lap's stream arrives first", () => {
    const { model, log, send } = modelWithNodes(['n1', 'n2', 'n3']);
    // n3 passes on n2's lap before n2's own stream reports starting it.
    const lap = { type: 'election', to: 'next', initiator: 'n2', term: 2 };
    send('n3', { ...lap, eligible: [{ id: 'n2', rank: 2 }], from: 'n2' }, { ...lap, eligible: [{ id: 'n2', rank: 2 }, { id: 'n3', rank: 3 }] });
    send('n2', { type: 'ring', left: 'n1' }, { ...lap, eligible: [{ id: 'n2', rank: 2 }] });
    send('n2', { ...lap, eligible: [{ id: 'n2', rank: 2 }, { id: 'n3', rank: 3 }], from: 'n3' }, { type: 'newLeader', to: 'all', leaderId: 'n3', rank: 3, term: 2 });
    const [election] = model.state().elections;
    expect(election).toMatchObject({ term: 2, initiators: ['n2'], reason: 'the leader left the ring', frames: 3, winner: { id: 'n3', rank: 3, term: 2 } });
    expect(log.filter((entry) => entry.kind === 'election').map((entry) => entry.text)).toEqual([
      'election for term 2 started by n2 (the leader left the ring)',
      expect.stringContaining('term 2: n3 wins with rank 3 among [n2:2 n3:3] after 3 frames'),
    ]);
  });

  it('counts a second initiator of the same term instead of a second election', () => {
    const { model, send } = modelWithNodes(['n1', 'n2', 'n3']);
    send('n2', 'xstate.after.leaderTimeout.node.online.checking', { type: 'election', to: 'next', initiator: 'n2', term: 2, eligible: [{ id: 'n2', rank: 2 }] });
    send('n3', 'xstate.after.leaderTimeout.node.online.checking', { type: 'election', to: 'next', initiator: 'n3', term: 2, eligible: [{ id: 'n3', rank: 3 }] });
    expect(model.state().elections).toEqual([expect.objectContaining({ term: 2, initiators: ['n2', 'n3'], reason: 'leader did not answer in time', frames: 2 })]);
  });
});
