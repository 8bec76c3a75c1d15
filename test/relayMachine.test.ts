/**
 * The relay machine on its own: admission, ids, routing, the terms it lets through, the leader it
 * reports, and how it routes around a member that holds the election frame without passing it on.
 * Timers run on a SimulatedClock, so nothing here waits for real time.
 */
import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { TERM_CATCH_UP, memberCapacity, wireFrame, type ClientFrame, type ElectionFrame, type ServerFrame } from '../machines/protocol.js';
import { nextClientId, recipients, relayMachine, type RelayEmitted, type RelayInput } from '../machines/relayMachine.js';

/** An emission as a host carries it out: recipients as an array, a welcome's members as on the wire. */
type Recorded = Exclude<RelayEmitted, { type: 'deliver' }> | { type: 'deliver'; to: string[]; frame: ServerFrame };

const FORWARD_TIMEOUT = 1000;

function relay(input: Partial<RelayInput> = {}) {
  const clock = new SimulatedClock();
  const actor = createActor(relayMachine, { clock, input: { maxMembers: 100, forwardTimeoutMs: FORWARD_TIMEOUT, ...input } });
  const emitted: Recorded[] = [];
  // Recorded as a host carries them out: recipients as an array, a welcome's members as on the wire.
  actor.on('*', (event) => {
    const emission = event as RelayEmitted;
    emitted.push(emission.type === 'deliver' ? { ...emission, to: [...emission.to], frame: wireFrame(emission.frame) } : emission);
  });
  actor.start();
  let connection = 0;
  const join = (resume: string | null = null, host: string | null = null) => {
    connection += 1;
    actor.send({ type: 'connect', connection, resume, host });
    const answer = emitted.find((event) => (event.type === 'admitted' || event.type === 'refused') && event.connection === connection);
    return answer?.type === 'admitted' ? answer.id : null;
  };
  const send = (from: string, frame: ClientFrame) => actor.send({ type: 'frame', from, frame });
  const deliveries = () => emitted.filter((event): event is Extract<Recorded, { type: 'deliver' }> => event.type === 'deliver');
  const of = <T extends Recorded['type']>(type: T) => emitted.filter((event): event is Extract<Recorded, { type: T }> => event.type === type);
  return { actor, clock, emitted, join, send, deliveries, of, context: () => actor.getSnapshot().context };
}

function lap(initiator: string, term: number, eligible: Array<[string, number]>): ElectionFrame {
  return { type: 'election', to: 'next', initiator, term, eligible: eligible.map(([id, rank]) => ({ id, rank })) };
}

describe('relay machine: membership', () => {
  it('welcomes a joiner with the ring, the reported leader and the highest term, and tells the others', () => {
    const ring = relay();
    ring.join();
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n1', rank: 9, term: 1 });
    ring.join(null, 'web-2');
    expect(ring.deliveries().at(-2)).toEqual({
      type: 'deliver',
      to: ['n2'],
      frame: { type: 'welcome', clientId: 'n2', protocol: 1, members: ['n1', 'n2'], leader: { id: 'n1', rank: 9, term: 1 }, term: 1 },
    });
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n1'], frame: { type: 'ring', joined: 'n2' } });
    expect(ring.context().profiles.toJSON()).toEqual({ n1: {}, n2: { host: 'web-2' } });
  });

  it('grants ?resume=<id> when nobody holds it, and never hands out a live or malformed id', () => {
    const ring = relay();
    expect(ring.join()).toBe('n1');
    expect(ring.join('n7')).toBe('n7');
    expect(ring.of('admitted').at(-1)).toMatchObject({ id: 'n7', resumed: true });
    expect(ring.join('n1')).toBe('n3');
    expect(ring.join('all')).toBe('n4');
    expect(nextClientId(ring.context(), 'bad id!')).toBe('n5');
  });

  it('refuses a member past its capacity, and admits again once one leaves', () => {
    const ring = relay({ maxMembers: 2 });
    ring.join();
    ring.join();
    expect(ring.join()).toBeNull();
    expect(ring.of('refused')).toEqual([{ type: 'refused', connection: 3, reason: 'the ring is full: this relay admits 2 members' }]);
    ring.actor.send({ type: 'disconnect', id: 'n1' });
    expect(ring.join()).not.toBeNull();
  });

  it('sizes its capacity so that an election frame naming every member, and one more, fits the payload limit', () => {
    const capacity = memberCapacity(1024);
    expect(capacity).toBeGreaterThan(0);
    // The longest lap the relay passes on lists `capacity` entries; the next member adds one.
    const longest = lap('x'.repeat(64), Number.MAX_SAFE_INTEGER, Array.from({ length: capacity + 1 }, (_, index) => [`${'x'.repeat(60)}${index}`.slice(-64), Number.MAX_SAFE_INTEGER]));
    const bytes = Buffer.byteLength(JSON.stringify({ ...longest, from: 'y'.repeat(64) }));
    expect(bytes).toBeLessThanOrEqual(1024);
  });
});

describe('relay machine: padded laps', () => {
  it('passes on a lap naming every member, and refuses one longer than the ring can hold', () => {
    const ring = relay({ maxMembers: 3 });
    for (let index = 0; index < 3; index += 1) ring.join();
    // An honest full lap comes back to its initiator with every member on it.
    ring.send('n3', lap('n1', 1, [['n1', 1], ['n2', 2], ['n3', 3]]));
    expect(ring.deliveries().at(-1)).toMatchObject({ to: ['n1'], frame: { type: 'election', from: 'n3' } });
    // A padded one would leave the next member a frame it cannot forward: refused, not passed on.
    const delivered = ring.deliveries().length;
    ring.send('n2', lap('n1', 2, [['n1', 1], ['n2', 2], ['n3', 3], ['n9', 9]]));
    expect(ring.of('rejected')).toEqual([{ type: 'rejected', to: 'n2', code: 'bad_frame', detail: 'eligible lists 4 candidates; this ring holds at most 3 members' }]);
    expect(ring.deliveries()).toHaveLength(delivered);
  });
});

describe('relay machine: routing', () => {
  it('routes next, all and one id, and stamps from', () => {
    const ring = relay();
    for (let index = 0; index < 3; index += 1) ring.join();
    ring.actor.send({ type: 'disconnect', id: 'n2' });
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n3', 'n1'], frame: { type: 'ring', left: 'n2' } });
    ring.send('n1', lap('n1', 1, [['n1', 1]]));
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n3'], frame: { ...lap('n1', 1, [['n1', 1]]), from: 'n1' } });
    ring.send('n3', { type: 'checkLeader', to: 'n1', nonce: '1' });
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n1'], frame: { type: 'checkLeader', to: 'n1', nonce: '1', from: 'n3' } });
    expect(recipients({ members: ['n1', 'n3'], bypassed: [] }, 'n3', 'next')).toEqual(['n1']);
    expect(recipients({ members: ['n1', 'n2', 'n3'], bypassed: [] }, 'n2', 'all')).toEqual(['n1', 'n3']);
  });

  it("tells a leaver's successor first, then the rest in ring order, then observers", () => {
    const ring = relay();
    for (let index = 0; index < 5; index += 1) ring.join();
    ring.actor.send({ type: 'connect', connection: 99, resume: null, host: null, role: 'observer' });
    const observer = ring.of('admitted').find((event) => event.connection === 99)!.id;
    ring.actor.send({ type: 'disconnect', id: 'n3' });
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n4', 'n5', 'n1', 'n2', observer], frame: { type: 'ring', left: 'n3' } });
    // The last in ring order: its successor is the first.
    ring.actor.send({ type: 'disconnect', id: 'n5' });
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n1', 'n2', 'n4', observer], frame: { type: 'ring', left: 'n5' } });
  });

  it('answers a frame for an unknown member with unknown_target and ignores frames of departed members', () => {
    const ring = relay();
    ring.join();
    ring.send('n1', { type: 'checkLeader', to: 'n7', nonce: '1' });
    expect(ring.of('rejected')).toEqual([{ type: 'rejected', to: 'n1', code: 'unknown_target', detail: 'no member "n7" in the ring' }]);
    const before = ring.emitted.length;
    ring.send('ghost', { type: 'checkLeader', to: 'n1', nonce: '1' });
    ring.actor.send({ type: 'disconnect', id: 'ghost' });
    expect(ring.emitted).toHaveLength(before);
  });
});

describe('relay machine: terms', () => {
  it('lets an election go one term above the highest it has let through and an announcement none, past that only from the catch-up allowance', () => {
    const ring = relay();
    ring.join();
    ring.join();
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n1', rank: 1, term: Number.MAX_SAFE_INTEGER });
    ring.send('n1', lap('n1', Number.MAX_SAFE_INTEGER, [['n1', 1]]));
    expect(ring.of('rejected').map((event) => event.code)).toEqual(['bad_term', 'bad_term']);
    expect(ring.of('rejected')[0]!.detail).toMatch(/highest term this relay has let through is 0 .*catch-up allowance has 4294967296 left/);
    expect(ring.context().leader).toBeNull();
    // A member that knows terms this relay never saw (it restarted without a state file) catches up once...
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n1', rank: 1, term: 40 });
    expect(ring.context()).toMatchObject({ highestTerm: 40, catchUpLeft: TERM_CATCH_UP - 40 });
    // ...and from there an election needs one more term, an announcement or an answer none: no allowance used.
    ring.send('n2', lap('n2', 41, [['n2', 1]]));
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 1, term: 41 });
    ring.send('n2', { type: 'answerLeader', to: 'n1', nonce: '1', term: 41 });
    expect(ring.context()).toMatchObject({ highestTerm: 41, catchUpLeft: TERM_CATCH_UP - 40 });
    expect(ring.of('rejected')).toHaveLength(2);
  });

  it('a hostile member spends the catch-up allowance once, then lifts the term by at most one per frame: the term space cannot be used up', () => {
    const ring = relay();
    const hostile = Array.from({ length: 48 }, () => ring.join()!);
    // Finding 2's attack: every socket announces itself 2^32 above the last.
    let term = 0;
    for (const id of hostile) {
      term = ring.context().highestTerm + TERM_CATCH_UP;
      ring.send(id, { type: 'newLeader', to: id, leaderId: id, rank: 1, term });
    }
    expect(ring.context()).toMatchObject({ highestTerm: TERM_CATCH_UP, catchUpLeft: 0 });
    expect(ring.of('rejected')).toHaveLength(47);
    expect(new Set(ring.of('rejected').map((event) => event.code))).toEqual(new Set(['bad_term']));
    // Now one above is refused for an announcement, two above for an election; one above for an election passes.
    const before = ring.of('rejected').length;
    ring.send(hostile[0]!, { type: 'newLeader', to: 'all', leaderId: hostile[0]!, rank: 1, term: TERM_CATCH_UP + 1 });
    ring.send(hostile[1]!, lap(hostile[1]!, TERM_CATCH_UP + 2, [[hostile[1]!, 1]]));
    expect(ring.of('rejected')).toHaveLength(before + 2);
    // 2,000 frames, each as high as it may go: the ring's term rises by one per frame, no more.
    const frames = 2_000;
    for (let sent = 0; sent < frames; sent += 1) {
      const id = hostile[sent % hostile.length]!;
      ring.send(id, lap(id, ring.context().highestTerm + 1, [[id, 1]]));
    }
    expect(ring.context().highestTerm).toBe(TERM_CATCH_UP + frames);
    expect(ring.of('rejected')).toHaveLength(before + 2);
    // An honest member still elects in the next term, and a joiner is told the term to elect above.
    const honest = ring.join()!;
    expect(ring.deliveries().find((event) => event.to[0] === honest && event.frame.type === 'welcome')!.frame).toMatchObject({ term: TERM_CATCH_UP + frames });
    ring.send(honest, lap(honest, TERM_CATCH_UP + frames + 1, [[honest, 7]]));
    ring.send(honest, { type: 'newLeader', to: 'all', leaderId: honest, rank: 7, term: TERM_CATCH_UP + frames + 1 });
    expect(ring.context().leader).toMatchObject({ id: honest, term: TERM_CATCH_UP + frames + 1 });
    expect(ring.of('rejected')).toHaveLength(before + 2);
  });

  it('starts from a term floor when it has one', () => {
    const ring = relay({ termFloor: 41 });
    ring.join();
    expect(ring.deliveries()[0]!.frame).toMatchObject({ type: 'welcome', term: 41 });
  });

  it('tells every joiner its timing in welcome when the host gave one, and nothing when not (as an older relay)', () => {
    const timed = relay({ timing: { leaderTimeoutMs: 5000, heartbeatMs: 2500 } });
    timed.join();
    expect(timed.deliveries()[0]!.frame).toMatchObject({ type: 'welcome', timing: { leaderTimeoutMs: 5000, heartbeatMs: 2500, forwardTimeoutMs: FORWARD_TIMEOUT } });
    const untimed = relay();
    untimed.join();
    expect(untimed.deliveries()[0]!.frame).not.toHaveProperty('timing');
  });
});

describe('relay machine: the leader it reports', () => {
  it('reports only an announcement to all, of a member, that supersedes the last', () => {
    const ring = relay();
    ring.join();
    ring.join();
    ring.send('n1', { type: 'newLeader', to: 'n1', leaderId: 'n1', rank: 5, term: 3 });
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n9', rank: 5, term: 3 });
    expect(ring.context().leader).toBeNull();
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 1, term: 4 });
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n1', rank: 9, term: 3 });
    expect(ring.context().leader).toEqual({ id: 'n2', rank: 1, term: 4 });
    expect(ring.of('leaderChanged')).toEqual([
      { type: 'leaderChanged', leader: { id: 'n2', rank: 1, term: 4 }, previous: null, announcedBy: 'n1', endsFailover: false },
    ]);
  });

  it('stops reporting a leader that left, tells newcomers nobody leads, and marks the next announcement as the end of a failover', () => {
    const ring = relay();
    for (let index = 0; index < 3; index += 1) ring.join();
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 7, term: 2 });
    ring.actor.send({ type: 'disconnect', id: 'n2' });
    expect(ring.of('leaderLost')).toEqual([{ type: 'leaderLost', leader: { id: 'n2', rank: 7, term: 2 } }]);
    expect(ring.context().leader).toBeNull();
    ring.join();
    expect(ring.deliveries().find((event) => event.frame.type === 'welcome' && event.to[0] === 'n4')!.frame).toMatchObject({ leader: null, term: 2 });
    // An older announcement does not end the failover; the next term does.
    ring.send('n3', { type: 'newLeader', to: 'all', leaderId: 'n3', rank: 1, term: 1 });
    ring.send('n3', { type: 'newLeader', to: 'all', leaderId: 'n3', rank: 1, term: 3 });
    expect(ring.of('leaderChanged').at(-1)).toMatchObject({ leader: { id: 'n3', term: 3 }, previous: { id: 'n2', term: 2 }, endsFailover: true });
  });
});

describe('relay machine: members that do not pass the election on', () => {
  /** n1..n4; n2 is a silent member: it reads and never sends. */
  function ringWithSilentN2() {
    const ring = relay();
    for (let index = 0; index < 4; index += 1) ring.join();
    return ring;
  }

  it('hands the lap on to the member after a holder that sat on it for the forward timeout, and routes around it', () => {
    const ring = ringWithSilentN2();
    ring.send('n1', lap('n1', 1, [['n1', 5]]));
    expect(ring.deliveries().at(-1)!.to).toEqual(['n2']);
    ring.clock.increment(FORWARD_TIMEOUT - 1);
    expect(ring.of('bypassed')).toEqual([]);
    ring.clock.increment(1);
    expect(ring.of('bypassed')).toEqual([{ type: 'bypassed', id: 'n2', term: 1, passedTo: 'n3' }]);
    expect(ring.deliveries().at(-1)).toEqual({ type: 'deliver', to: ['n3'], frame: { ...lap('n1', 1, [['n1', 5]]), from: 'n1' } });
    // n3 passes it on, n4 too, and it reaches n1, which completes: the lap went round without n2.
    ring.send('n3', lap('n1', 1, [['n1', 5], ['n3', 2]]));
    ring.send('n4', lap('n1', 1, [['n1', 5], ['n3', 2], ['n4', 1]]));
    expect(ring.deliveries().at(-1)!.to).toEqual(['n1']);
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n1', rank: 5, term: 1 });
    // Later laps skip n2 from the start.
    ring.send('n1', lap('n1', 2, [['n1', 5]]));
    expect(ring.deliveries().at(-1)!.to).toEqual(['n3']);
    expect(ring.context().bypassed).toEqual(['n2']);
    expect(ring.of('bypassed')).toHaveLength(1);
  });

  it('never routes around a member that passes frames on, however slowly within the timeout', () => {
    const ring = ringWithSilentN2();
    let frame = lap('n1', 1, [['n1', 5]]);
    ring.send('n1', frame);
    for (const id of ['n2', 'n3', 'n4']) {
      ring.clock.increment(FORWARD_TIMEOUT - 1);
      frame = { ...frame, eligible: [...frame.eligible, { id, rank: 1 }] };
      ring.send(id, frame);
    }
    ring.clock.increment(FORWARD_TIMEOUT - 1);
    ring.send('n1', { type: 'newLeader', to: 'all', leaderId: 'n1', rank: 5, term: 1 });
    ring.clock.increment(10 * FORWARD_TIMEOUT);
    expect(ring.of('bypassed')).toEqual([]);
  });

  it('does not hold a member to laps that are over, or to frames that are not the lap', () => {
    const ring = ringWithSilentN2();
    // A smaller initiator's frame of the same term is not the lap: n2 may drop it.
    ring.send('n4', lap('n4', 1, [['n4', 1]]));
    ring.send('n3', lap('n3', 1, [['n3', 1]]));
    ring.send('n1', lap('n1', 1, [['n1', 1]]));
    ring.send('n3', { type: 'newLeader', to: 'all', leaderId: 'n4', rank: 1, term: 1 });
    // A leftover frame of the decided term arrives after the announcement.
    ring.send('n1', lap('n4', 1, [['n4', 1], ['n1', 1]]));
    ring.clock.increment(10 * FORWARD_TIMEOUT);
    expect(ring.of('bypassed')).toEqual([]);
  });

  it('never routes around the member that would complete the lap: read late, it may lead from it', () => {
    const ring = ringWithSilentN2();
    // n2's own lap comes back to it, listing it: it completes the lap (and may win it) when it
    // reads the frame, however late; routing later laps around it could elect a second leader.
    ring.send('n2', lap('n2', 1, [['n2', 9]]));
    ring.send('n3', lap('n2', 1, [['n2', 9], ['n3', 1]]));
    ring.send('n4', lap('n2', 1, [['n2', 9], ['n3', 1], ['n4', 1]]));
    ring.send('n1', lap('n2', 1, [['n2', 9], ['n3', 1], ['n4', 1], ['n1', 1]]));
    expect(ring.deliveries().at(-1)!.to).toEqual(['n2']);
    ring.clock.increment(10 * FORWARD_TIMEOUT);
    expect(ring.of('bypassed')).toEqual([]);
    // A newer lap from someone else is handed to it as usual, and it may be routed around in that one.
    ring.send('n1', lap('n1', 2, [['n1', 1]]));
    expect(ring.deliveries().at(-1)!.to).toEqual(['n2']);
    ring.clock.increment(FORWARD_TIMEOUT);
    expect(ring.of('bypassed')).toEqual([{ type: 'bypassed', id: 'n2', term: 2, passedTo: 'n3' }]);
  });

  it('stops routing around a member as soon as it sends anything', () => {
    const ring = ringWithSilentN2();
    ring.send('n1', lap('n1', 1, [['n1', 5]]));
    ring.clock.increment(FORWARD_TIMEOUT);
    expect(ring.context().bypassed).toEqual(['n2']);
    ring.send('n2', { type: 'checkLeader', to: 'n1', nonce: '1' });
    expect(ring.context().bypassed).toEqual([]);
    expect(ring.of('restored')).toEqual([{ type: 'restored', id: 'n2' }]);
    ring.send('n1', lap('n1', 2, [['n1', 5]]));
    expect(ring.deliveries().at(-1)!.to).toEqual(['n2']);
  });
});
