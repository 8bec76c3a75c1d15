import { describe, expect, it } from 'vitest';
import type { RelayConnectionEvent } from '../machines/nodeMachine.js';
import { joinBatch } from '../node/joinBatch.js';
import { Network } from '../sim/network.js';
import { Rng } from '../sim/rng.js';
import { Scheduler } from '../sim/scheduler.js';

/** A network whose every link takes exactly `delay` ms. */
function fixedNetwork(delay: number) {
  const scheduler = new Scheduler();
  return { scheduler, network: new Network(scheduler, new Rng(1), { min: delay, max: delay }) };
}

describe('simulated socket reads', () => {
  it('frames that reach a link end at the same instant are one read: in order, with nothing from another link in between', () => {
    const { scheduler, network } = fixedNetwork(5);
    const toNode = network.link();
    const toOther = network.link();
    const seen: string[] = [];
    toNode.send(() => seen.push('a'));
    toNode.send(() => seen.push('b'));
    toOther.send(() => seen.push('other'));
    toNode.send(() => seen.push('c'));
    expect(scheduler.step()).toBe(true);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(scheduler.now).toBe(5);
    scheduler.step();
    expect(seen).toEqual(['a', 'b', 'c', 'other']);
  });

  it('a frame sent later is a later read, and a link that breaks loses every frame of the read in flight', () => {
    const { scheduler, network } = fixedNetwork(5);
    const link = network.link();
    const seen: string[] = [];
    link.send(() => seen.push('first'));
    scheduler.after(1, () => {
      link.send(() => seen.push('second'), () => seen.push('second lost'));
      link.send(() => seen.push('third'), () => seen.push('third lost'));
    });
    scheduler.after(5.5, () => {
      link.cut();
    });
    while (scheduler.step());
    expect(seen).toEqual(['first', 'second lost', 'third lost']);
    expect(network.lost).toBe(2);
  });

  it('a stalled link holds what is sent and delivers it all later, in order, as TCP does: no frame lost, none overtaken', () => {
    const { scheduler, network } = fixedNetwork(5);
    const link = network.link();
    const seen: string[] = [];
    const lost = (name: string) => () => seen.push(`${name} lost`);
    link.send(() => seen.push('before'), lost('before'));
    scheduler.after(1, () => link.stallFor(100));
    for (const [at, name] of [[2, 'a'], [30, 'b'], [90, 'c']] as const) scheduler.after(at, () => link.send(() => seen.push(name), lost(name)));
    scheduler.after(102, () => link.send(() => seen.push('after'), lost('after')));
    const arrivals: Array<[string, number]> = [];
    while (scheduler.step()) for (const name of seen.slice(arrivals.length)) arrivals.push([name, scheduler.now]);
    // The frame already on its way arrives as booked; the held ones only once the stall is over.
    expect(arrivals).toEqual([['before', 5], ['a', 106], ['b', 106], ['c', 106], ['after', 107]]);
    expect(network.lost).toBe(0);
  });

  it('a stalled link that breaks loses what it held', () => {
    const { scheduler, network } = fixedNetwork(5);
    const link = network.link();
    const seen: string[] = [];
    link.stallFor(100);
    link.send(() => seen.push('a'), () => seen.push('a lost'));
    scheduler.after(50, () => link.cut());
    while (scheduler.step());
    expect(seen).toEqual(['a lost']);
    expect(network.lost).toBe(1);
  });

  it('work left for the end of a step runs after the step and before the next', () => {
    const scheduler = new Scheduler();
    const order: string[] = [];
    scheduler.at(1, () => {
      scheduler.atEndOfStep(() => order.push('end of first'));
      order.push('first');
    });
    scheduler.at(1, () => order.push('second'));
    scheduler.step();
    expect(order).toEqual(['first', 'end of first']);
    scheduler.step();
    expect(order).toEqual(['first', 'end of first', 'second']);
  });
});

describe('joins of one read (node/joinBatch.ts, used by the real connection and the simulator)', () => {
  function reader() {
    const events: RelayConnectionEvent[] = [];
    let endOfRead: (() => void) | null = null;
    const batch = joinBatch(
      (event) => events.push(event),
      (flush) => {
        endOfRead = flush;
      },
    );
    return { events, batch, endRead: () => endOfRead?.() };
  }

  it('hands the machine the joins of one read as one ring.joined event, in order with what follows them', () => {
    const { events, batch, endRead } = reader();
    batch.frame({ type: 'ring', joined: 'n8' });
    batch.frame({ type: 'ring', joined: 'n9' });
    batch.frame({ type: 'ring', left: 'n9' });
    batch.frame({ type: 'ring', joined: 'n10' });
    expect(events).toEqual([{ type: 'ring.joined', ids: ['n8', 'n9'] }, { type: 'ring', left: 'n9' }]);
    endRead();
    expect(events.at(-1)).toEqual({ type: 'ring', joined: 'n10' });
    endRead();
    expect(events).toHaveLength(3);
  });

  it('delivers held joins before any other fact (a pong, a close)', () => {
    const { events, batch } = reader();
    batch.frame({ type: 'ring', joined: 'n8' });
    batch.send({ type: 'relay.closed' });
    expect(events).toEqual([{ type: 'ring', joined: 'n8' }, { type: 'relay.closed' }]);
  });
});
