import { createActor, fromCallback, initialTransition, SimulatedClock, transition, type SnapshotFrom } from 'xstate';
import { describe, expect, it } from 'vitest';
import { decideElection, initiateElection, supersedes, winnerOf, type ElectionView } from '../machines/election.js';
import { leaderAfterWelcome, liveLeaderOf, nodeMachine, type NodeEvent, type RelayCommand } from '../machines/nodeMachine.js';
import type { ClientFrame, ElectionFrame, LeaderInfo, WelcomeFrame } from '../machines/protocol.js';
import { MemberList } from '../machines/memberList.js';
import { applyRingChange, successorOf } from '../machines/ring.js';

// ---- node machine through transition(): pure, every action visible -------------------------------

const machine = nodeMachine.provide({ actors: { relayConnection: fromCallback(() => undefined) } });
type Snapshot = SnapshotFrom<typeof machine>;

interface Step {
  snapshot: Snapshot;
  sent: ClientFrame[];
  emitted: Array<{ type: string; [key: string]: unknown }>;
}

function step(snapshot: Snapshot, event: NodeEvent | { type: string }): Step {
  const [next, actions] = transition(machine, snapshot, event as NodeEvent);
  const sent: ClientFrame[] = [];
  const emitted: Step['emitted'] = [];
  for (const action of actions) {
    const params = action.params as { event?: { type: string; frame?: ClientFrame } } | undefined;
    if (action.type === 'xstate.sendTo' && params?.event?.type === 'send') sent.push(params.event.frame!);
    if ((action.type as string) === 'xstate.emit') emitted.push(params!.event as Step['emitted'][number]);
  }
  return { snapshot: next, sent, emitted };
}

function start(rank = 5): Snapshot {
  return initialTransition(machine, { rank, seed: 1 })[0];
}

function welcome(clientId: string, members: string[], leader: LeaderInfo | null): WelcomeFrame {
  return { type: 'welcome', clientId, protocol: 1, members, leader };
}

function election(eligible: Array<[string, number]>, term: number, initiator = eligible[0]?.[0] ?? 'n1'): ElectionFrame {
  return { type: 'election', to: 'next', from: 'x', initiator, term, eligible: eligible.map(([id, rank]) => ({ id, rank })) };
}

const L1: LeaderInfo = { id: 'n1', rank: 9, term: 1 };

/** n1 (rank 9), elected in term 1 of the ring [n1, n2]: it waited, started, and its frame came back. */
function leaderN1(): Snapshot {
  let { snapshot } = step(start(9), welcome('n1', ['n1', 'n2'], null));
  snapshot = step(snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' }).snapshot;
  return step(snapshot, election([['n1', 9], ['n2', 5]], 1)).snapshot;
}

/** n2 (rank 5), following n1 in the ring [n1, n2, n3]. */
function follower(): Snapshot {
  return step(start(), welcome('n2', ['n1', 'n2', 'n3'], L1)).snapshot;
}

describe('node machine: joining', () => {
  it('follows the leader that welcome names when it is a member', () => {
    const { snapshot, sent } = step(start(), welcome('n2', ['n1', 'n2'], L1));
    expect(snapshot.value).toEqual({ online: 'follower' });
    expect(snapshot.context.leader).toEqual(L1);
    expect(sent).toEqual([]);
  });

  it('waits in awaiting when welcome names no leader, and starts nothing', () => {
    const { snapshot, sent } = step(start(), welcome('n2', ['n1', 'n2'], null));
    expect(snapshot.value).toEqual({ online: 'awaiting' });
    expect(sent).toEqual([]);
  });

  it('a node alone waits in awaiting (the relay may have just restarted) and elects itself when the backup timer fires', () => {
    expect(step(start(), welcome('n1', ['n1'], null)).snapshot.value).toEqual({ online: 'awaiting' });
    const knows = step(follower(), { type: 'relay.closed' }).snapshot;
    const alone = step(knows, welcome('n2', ['n2'], null));
    expect(alone.snapshot.value).toEqual({ online: 'awaiting' });
    expect(alone.sent).toEqual([]);
    const fired = step(alone.snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' });
    expect(fired.snapshot.value).toEqual({ online: 'electing' });
    expect(fired.sent).toEqual([{ type: 'election', to: 'next', initiator: 'n2', term: 2, eligible: [{ id: 'n2', rank: 5 }] }]);
  });

  it('a "start election" request while awaiting waits for the backup timer (an old leader may still hold its lease)', () => {
    const knows = step(follower(), { type: 'relay.closed' }).snapshot;
    const alone = step(knows, welcome('n2', ['n2'], null)).snapshot;
    const pressed = step(alone, { type: 'startElection' });
    expect(pressed.snapshot.value).toEqual({ online: 'awaiting' });
    expect(pressed.sent).toEqual([]);
    expect(pressed.emitted).toContainEqual({ type: 'electionDeferred', reason: 'requested' });
    // A follower of a live leader still starts one at once.
    expect(step(follower(), { type: 'startElection' }).snapshot.value).toEqual({ online: 'electing' });
  });

  it('a reconnecting leader whose handshake took a whole lease does not reclaim the lead', () => {
    let { snapshot } = step(start(9), welcome('n1', ['n1'], null));
    snapshot = step(snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' }).snapshot;
    snapshot = step(snapshot, election([['n1', 9]], 1)).snapshot;
    snapshot = step(snapshot, { type: 'relay.closed' }).snapshot;
    snapshot = step(snapshot, { type: 'relay.connecting' }).snapshot;
    // No welcome within the lease: like any lapsed lease, it may have been replaced meanwhile.
    snapshot = step(snapshot, { type: 'lease.expired', seq: snapshot.context.pingSeq }).snapshot;
    snapshot = step(snapshot, { type: 'relay.connecting' }).snapshot;
    const back = step(snapshot, welcome('n1', ['n2', 'n1'], null));
    expect(back.snapshot.value).toEqual({ online: 'awaiting' });
    expect(back.sent).toEqual([]);
  });

  it('a reconnecting leader that kept its id leads again and re-announces itself', () => {
    let { snapshot } = step(start(9), welcome('n1', ['n1'], null));
    snapshot = step(snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' }).snapshot;
    snapshot = step(snapshot, election([['n1', 9]], 1)).snapshot;
    expect(snapshot.value).toEqual({ online: 'leader' });
    snapshot = step(snapshot, { type: 'relay.closed' }).snapshot;
    const back = step(snapshot, welcome('n1', ['n2', 'n1'], null));
    expect(back.snapshot.value).toEqual({ online: 'leader' });
    expect(back.sent).toEqual([{ type: 'newLeader', to: 'all', leaderId: 'n1', rank: 9, term: 1 }]);
  });

  it('never takes a leader claim that names its id but was about another process', () => {
    // A fresh process handed the id "n1" after a relay restart is not the old n1.
    expect(leaderAfterWelcome({ id: null, leader: null, term: 0 }, welcome('n1', ['n1'], L1))).toBeNull();
    // A leader whose resume was refused (new id n7) no longer leads under n1.
    expect(leaderAfterWelcome({ id: 'n1', leader: L1, term: 1 }, welcome('n7', ['n1', 'n7'], null))).toBeNull();
    // Same term, two leaders: the relay's view wins (the ring followed it while we were away).
    const other = { id: 'n3', rank: 1, term: 1 };
    expect(leaderAfterWelcome({ id: 'n2', leader: L1, term: 1 }, welcome('n2', ['n1', 'n2', 'n3'], other))).toEqual(other);
    expect(leaderAfterWelcome({ id: 'n2', leader: { ...L1, term: 4 }, term: 4 }, welcome('n2', ['n2'], other))).toEqual({ ...L1, term: 4 });
  });

  it('a node back from a relay restart waits for the known leader, and follows it when it rejoins and re-announces itself', () => {
    let { snapshot } = step(follower(), { type: 'relay.closed' });
    snapshot = step(snapshot, welcome('n2', ['n2', 'n3'], null)).snapshot;
    expect(snapshot.value).toEqual({ online: 'awaiting' });
    const tooEarly = step(snapshot, { type: 'newLeader', to: 'all', from: 'n1', leaderId: 'n1', rank: 9, term: 1 });
    expect(tooEarly.snapshot.value).toEqual({ online: 'awaiting' });
    snapshot = step(snapshot, { type: 'ring', joined: 'n1' }).snapshot;
    const next = step(snapshot, { type: 'newLeader', to: 'all', from: 'n1', leaderId: 'n1', rank: 9, term: 1 });
    expect(next.snapshot.value).toEqual({ online: 'follower' });
  });
});

describe('node machine: checking the leader', () => {
  it('asks the leader after the check interval and goes back to follower on its answer', () => {
    const checking = step(follower(), { type: 'xstate.after.checkInterval.node.online.follower' });
    expect(checking.snapshot.value).toEqual({ online: 'checking' });
    expect(checking.sent).toEqual([{ type: 'checkLeader', to: 'n1', nonce: '1' }]);
    const wrongNonce = step(checking.snapshot, { type: 'answerLeader', to: 'n2', from: 'n1', nonce: '0', term: 1 });
    expect(wrongNonce.snapshot.value).toEqual({ online: 'checking' });
    const otherTerm = step(checking.snapshot, { type: 'answerLeader', to: 'n2', from: 'n1', nonce: '1', term: 7 });
    expect(otherTerm.snapshot.value).toEqual({ online: 'checking' });
    const answered = step(checking.snapshot, { type: 'answerLeader', to: 'n2', from: 'n1', nonce: '1', term: 1 });
    expect(answered.snapshot.value).toEqual({ online: 'follower' });
  });

  it('starts an election with a new term when the leader does not answer in time', () => {
    const checking = step(follower(), { type: 'xstate.after.checkInterval.node.online.follower' }).snapshot;
    const timedOut = step(checking, { type: 'xstate.after.leaderTimeout.node.online.checking' });
    expect(timedOut.snapshot.value).toEqual({ online: 'electing' });
    expect(timedOut.sent).toEqual([{ type: 'election', to: 'next', initiator: 'n2', term: 2, eligible: [{ id: 'n2', rank: 5 }] }]);
    expect(timedOut.emitted).toContainEqual({ type: 'electionStarted', term: 2, initiator: 'n2', reason: 'leaderTimeout' });
  });

  it('a leader answers checks with its term; a follower asked by mistake names the leader', () => {
    const leader = leaderN1();
    expect(leader.value).toEqual({ online: 'leader' });
    expect(step(leader, { type: 'checkLeader', to: 'n1', from: 'n2', nonce: '7' }).sent).toEqual([
      { type: 'answerLeader', to: 'n2', nonce: '7', term: 1 },
    ]);
    expect(step(follower(), { type: 'checkLeader', to: 'n2', from: 'n3', nonce: '3' }).sent).toEqual([
      { type: 'newLeader', to: 'n3', leaderId: 'n1', rank: 9, term: 1 },
    ]);
  });
});

describe('node machine: failover', () => {
  it("only the departed leader's successor starts at once; the others wait in awaiting", () => {
    const left = { type: 'ring', left: 'n1' } as const;
    const successor = step(follower(), left);
    expect(successor.snapshot.value).toEqual({ online: 'electing' });
    expect(successor.sent).toHaveLength(1);
    expect(successor.sent[0]).toMatchObject({ type: 'election', term: 2 });

    const n3 = step(start(7), welcome('n3', ['n1', 'n2', 'n3'], L1)).snapshot;
    const other = step(n3, left);
    expect(other.snapshot.value).toEqual({ online: 'awaiting' });
    expect(other.sent).toEqual([]);
    const backup = step(other.snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' });
    expect(backup.sent[0]).toMatchObject({ type: 'election', initiator: 'n3', term: 2 });
  });

  it('passes an election on with itself appended and completes it on the way back with the highest (rank, id)', () => {
    const forwarded = step(follower(), election([['n1', 9]], 2));
    // n1 led term 1 and is still a member, so a term-2 frame is news: pass it on.
    expect(forwarded.snapshot.value).toEqual({ online: 'electing' });
    expect(forwarded.sent).toEqual([{ type: 'election', to: 'next', initiator: 'n1', term: 2, eligible: [{ id: 'n1', rank: 9 }, { id: 'n2', rank: 5 }] }]);

    // n2 initiated term 2; the frame comes back with n3 (rank 7) and n4 (rank 7, higher id) on it.
    const initiated = step(follower(), { type: 'xstate.after.checkInterval.node.online.follower' }).snapshot;
    const electing = step(initiated, { type: 'xstate.after.leaderTimeout.node.online.checking' }).snapshot;
    const withN4 = step(electing, { type: 'ring', joined: 'n4' }).snapshot;
    const done = step(withN4, election([['n2', 5], ['n3', 7], ['n4', 7]], 2, 'n2'));
    expect(done.snapshot.value).toEqual({ online: 'follower' });
    expect(done.snapshot.context.leader).toEqual({ id: 'n4', rank: 7, term: 2 });
    // It announces the winner to all and addresses a copy to itself: the relay stamps the winner's
    // metadata on both, and this node reports the leader only when its copy comes back.
    expect(done.sent).toEqual([
      { type: 'newLeader', to: 'all', leaderId: 'n4', rank: 7, term: 2 },
      { type: 'newLeader', to: 'n2', leaderId: 'n4', rank: 7, term: 2 },
    ]);
    expect(done.emitted.filter((event) => event.type === 'leaderChanged')).toEqual([]);
    const meta = { url: 'http://10.0.0.4:8080' };
    const handedBack = step(done.snapshot, { type: 'newLeader', to: 'all', from: 'n2', leaderId: 'n4', rank: 7, term: 2, meta });
    expect(handedBack.emitted.filter((event) => event.type === 'leaderChanged')).toEqual([
      { type: 'leaderChanged', leader: { id: 'n4', rank: 7, term: 2, meta }, previous: L1 },
    ]);
    // The second copy (to itself, after the broadcast's) tells nothing new.
    const again = step(handedBack.snapshot, { type: 'newLeader', to: 'n2', from: 'n2', leaderId: 'n4', rank: 7, term: 2, meta });
    expect(again.emitted.filter((event) => event.type === 'leaderChanged')).toEqual([]);
    expect(again.snapshot.context.leader).toEqual({ id: 'n4', rank: 7, term: 2, meta });
  });

  it('ignores announcements of older terms and elections it already knows the outcome of', () => {
    const stale = step(follower(), { type: 'newLeader', to: 'all', from: 'n3', leaderId: 'n3', rank: 99, term: 0 });
    expect(stale.snapshot.context.leader).toEqual(L1);
    const old = step(follower(), election([['n3', 7]], 1));
    expect(old.sent).toEqual([]);
    expect(old.emitted).toContainEqual(expect.objectContaining({ type: 'frameDropped', reason: 'stale' }));
  });

  it('a resigning leader stands aside: its frame does not carry it, so someone else wins', () => {
    const leader = leaderN1();
    const resigning = step(leader, { type: 'resign' });
    expect(resigning.snapshot.value).toEqual({ online: 'electing' });
    expect(resigning.sent).toEqual([{ type: 'election', to: 'next', initiator: 'n1', term: 2, eligible: [] }]);
    expect(resigning.emitted).toContainEqual({ type: 'leadershipLost', term: 1 });
    const passed = step(resigning.snapshot, election([['n2', 5]], 2, 'n1'));
    expect(passed.sent[0]).toMatchObject({ eligible: [{ id: 'n2', rank: 5 }] });
  });

  it('a dropped connection leaves every state for disconnected and forgets the lap', () => {
    const electing = step(follower(), election([['n1', 9]], 2)).snapshot;
    const closed = step(electing, { type: 'relay.closed' }).snapshot;
    expect(closed.value).toBe('disconnected');
    expect(closed.context.round).toBeNull();
  });
});

describe('node machine on a SimulatedClock', () => {
  it('runs its timers with jitter: checks come every 0.8-1.2 check intervals', () => {
    const clock = new SimulatedClock();
    const sent: ClientFrame[] = [];
    let deliver: ((event: NodeEvent) => void) | null = null;
    const relayConnection = fromCallback<RelayCommand>(({ receive, sendBack }) => {
      deliver = sendBack as (event: NodeEvent) => void;
      receive((command) => {
        if (command.type === 'send') sent.push(command.frame);
        // The relay answers every ping at once.
        if (command.type === 'ping') sendBack({ type: 'relay.pong', seq: command.seq } satisfies NodeEvent);
      });
    });
    const actor = createActor(nodeMachine.provide({ actors: { relayConnection } }), { clock, input: { rank: 5, seed: 42 } }).start();
    deliver!(welcome('n2', ['n1', 'n2'], L1));
    const times: number[] = [];
    for (let ms = 0; ms < 20_000; ms += 10) {
      clock.increment(10);
      const last = sent.at(-1);
      if (last?.type === 'checkLeader' && times.length < sent.length) {
        times.push(clock.now());
        deliver!({ type: 'answerLeader', to: 'n2', from: 'n1', nonce: last.nonce, term: 1 });
      }
    }
    const gaps = times.slice(1).map((time, index) => time - times[index]!);
    expect(gaps.length).toBeGreaterThan(10);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(800);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(1210);
    expect(new Set(gaps).size).toBeGreaterThan(1);
    expect(actor.getSnapshot().value).toEqual({ online: 'follower' });
    actor.stop();
  });
});

// ---- the rule itself ---------------------------------------------------------------------------

describe('election rule', () => {
  const view = (over: Partial<ElectionView> = {}): ElectionView => ({
    self: { id: 'n2', rank: 5 },
    members: new Set(['n1', 'n2', 'n3']),
    term: 1,
    leader: null,
    round: null,
    standing: true,
    ...over,
  });

  it('winnerOf picks the highest (rank, id) among live entries only', () => {
    const live = new Set(['n1', 'n2', 'n3']);
    expect(winnerOf([{ id: 'n1', rank: 3 }, { id: 'n3', rank: 8 }, { id: 'n2', rank: 8 }], live)).toEqual({ id: 'n3', rank: 8 });
    expect(winnerOf([{ id: 'n9', rank: 99 }, { id: 'n1', rank: 3 }], live)).toEqual({ id: 'n1', rank: 3 });
  });

  it('Chang-Roberts: a frame of a smaller initiator dies where a greater one of its term passed', () => {
    expect(decideElection(view({ round: { term: 2, initiator: 'n3' } }), election([['n1', 1]], 2, 'n1'))).toEqual({ kind: 'drop', reason: 'extinct' });
    expect(decideElection(view({ round: { term: 2, initiator: 'n1' } }), election([['n3', 1]], 2, 'n3')).kind).toBe('forward');
  });

  it('completes at the first live entry only, so an initiator that died is replaced by the next one', () => {
    const frame = election([['n9', 1], ['n2', 5], ['n3', 7]], 2, 'n9');
    const decided = decideElection(view({ round: { term: 2, initiator: 'n9' } }), frame);
    expect(decided).toMatchObject({ kind: 'complete', winner: { id: 'n3', rank: 7, term: 2 } });
    const notFirst = decideElection(view({ round: { term: 2, initiator: 'n1' } }), election([['n1', 1], ['n2', 5]], 2, 'n1'));
    expect(notFirst).toEqual({ kind: 'drop', reason: 'lapped' });
  });

  it('initiating raises the term by one; supersedes orders by term, then (rank, id)', () => {
    expect(initiateElection(view({ term: 4 })).frame.term).toBe(5);
    expect(supersedes({ id: 'a', rank: 1, term: 3 }, { id: 'b', rank: 9, term: 2 })).toBe(true);
    expect(supersedes({ id: 'a', rank: 1, term: 2 }, { id: 'b', rank: 9, term: 2 })).toBe(false);
    expect(supersedes({ id: 'c', rank: 9, term: 2 }, { id: 'b', rank: 9, term: 2 })).toBe(true);
  });

  it('successorOf names the first surviving member after the departed one', () => {
    const list = (...ids: string[]) => MemberList.from(ids);
    expect(successorOf(list('n1', 'n2', 'n3'), 'n1', list('n2', 'n3'))).toBe('n2');
    expect(successorOf(list('n1', 'n2', 'n3'), 'n3', list('n1', 'n2'))).toBe('n1');
    expect(successorOf(list('n1', 'n2', 'n3'), 'n1', list('n3'))).toBe('n3');
  });
});

// ---- relay machine -----------------------------------------------------------------------------

describe('ring changes', () => {
  it('keep a member list exact from welcome on: joiners go last, leavers drop out, repeats change nothing', () => {
    let members = MemberList.from(['n1', 'n2', 'n3']);
    members = applyRingChange(members, { joined: 'n4' });
    members = applyRingChange(members, { left: 'n2' });
    members = applyRingChange(members, { joined: 'n4' });
    members = applyRingChange(members, { left: 'n9' });
    expect(members.toArray()).toEqual(['n1', 'n3', 'n4']);
  });

  it('are kept as an immutable list: an older version never sees a later join, even when two branch from it', () => {
    const base = MemberList.from(['n1', 'n2']);
    const withN3 = base.withJoined('n3');
    const withN4 = base.withJoined('n4');
    expect(base.toArray()).toEqual(['n1', 'n2']);
    expect([base.has('n3'), base.has('n4')]).toEqual([false, false]);
    expect(withN3.toArray()).toEqual(['n1', 'n2', 'n3']);
    expect(withN4.toArray()).toEqual(['n1', 'n2', 'n4']);
    expect(withN4.has('n3')).toBe(false);
    expect(withN3.withJoined('n5').withoutLeft('n1').toArray()).toEqual(['n2', 'n3', 'n5']);
    expect(JSON.stringify({ members: withN3 })).toBe('{"members":["n1","n2","n3"]}');
  });

  it('are what a node machine applies to its own view', () => {
    const machine = nodeMachine.provide({ actors: { relayConnection: fromCallback(() => {}) } });
    const [start] = initialTransition(machine, { rank: 1, seed: 1 });
    const [welcomed] = transition(machine, start, { type: 'welcome', clientId: 'n2', protocol: 1, members: ['n1', 'n2'], leader: { id: 'n1', rank: 5, term: 1 } });
    const [joined] = transition(machine, welcomed, { type: 'ring', joined: 'n3' });
    const [left] = transition(machine, joined, { type: 'ring', left: 'n1' });
    expect(joined.context.members.toArray()).toEqual(['n1', 'n2', 'n3']);
    expect(left.context.members.toArray()).toEqual(['n2', 'n3']);
  });
});

// ---- the lease, leaving, and decisions that are transitions of their own -------------------------

describe('node machine: the lease on the relay link', () => {
  function commandsOf(snapshot: Snapshot, event: NodeEvent | { type: string }) {
    const [next, actions] = transition(machine, snapshot, event as NodeEvent);
    const commands = actions
      .filter((action) => action.type === 'xstate.sendTo')
      .map((action) => (action.params as { event: RelayCommand }).event);
    const timers = actions
      .filter((action) => action.type === 'xstate.raise' && (action.params as { delay?: number }).delay !== undefined)
      .map((action) => action.params as { event: { type: string; seq?: number }; delay: number });
    return { snapshot: next, commands, timers };
  }

  it('pings the relay three times per lease and keeps leading while pongs come back', () => {
    const leader = leaderN1();
    const { timing, confirmedSeq: handshake } = leader.context;
    const beat = commandsOf(leader, { type: 'heartbeat' });
    const seq = handshake + 1;
    expect(beat.commands).toEqual([{ type: 'ping', seq }]);
    expect(beat.timers).toContainEqual({ event: { type: 'lease.expired', seq }, delay: timing.heartbeatTimeoutMs, id: `lease:${seq}` });
    expect(beat.timers).toContainEqual(expect.objectContaining({ event: { type: 'heartbeat' }, delay: Math.floor(timing.heartbeatTimeoutMs / 3) }));
    const confirmed = step(beat.snapshot, { type: 'relay.pong', seq }).snapshot;
    // The handshake's timer (superseded by the pong) fires late: nothing happens.
    expect(step(confirmed, { type: 'lease.expired', seq: handshake }).snapshot.value).toEqual({ online: 'leader' });
    // The pong's own timer ends the lease if nothing newer is confirmed.
    expect(step(confirmed, { type: 'lease.expired', seq }).snapshot.value).toBe('disconnected');
  });

  it('steps a leader down and drops the link when no round trip was confirmed for a whole lease', () => {
    const leader = leaderN1();
    const handshake = leader.context.confirmedSeq;
    const beat = step(leader, { type: 'heartbeat' }).snapshot;
    // The ping is never answered; the lease of the handshake runs out.
    const lapsed = step(beat, { type: 'lease.expired', seq: handshake });
    expect(lapsed.snapshot.value).toBe('disconnected');
    expect(lapsed.emitted).toContainEqual({ type: 'leadershipLost', term: 1 });
    expect(lapsed.emitted).toContainEqual({ type: 'leaseLapsed', seq: handshake });
    expect(commandsOf(beat, { type: 'lease.expired', seq: handshake }).commands).toEqual([{ type: 'drop' }]);
    // The unanswered ping's timer, firing later, changes nothing.
    expect(step(lapsed.snapshot, { type: 'lease.expired', seq: handshake + 1 }).snapshot.value).toBe('disconnected');
  });

  it('a pong that comes back after its ping\'s timer fired is too late: the lease has ended', () => {
    const leader = leaderN1();
    const handshake = leader.context.confirmedSeq;
    let snapshot = step(leader, { type: 'heartbeat' }).snapshot;
    snapshot = step(snapshot, { type: 'heartbeat' }).snapshot;
    // The handshake's timer was cancelled by nothing (no pong came); the first ping's timer fires.
    const lapsed = step(snapshot, { type: 'lease.expired', seq: handshake + 1 });
    expect(lapsed.snapshot.value).toBe('disconnected');
    expect(step(lapsed.snapshot, { type: 'relay.pong', seq: handshake + 2 }).snapshot.value).toBe('disconnected');
  });

  it('counts the lease from the upgrade request when the connection reports it', () => {
    let snapshot = step(start(), { type: 'relay.connecting' }).snapshot;
    const seq = snapshot.context.pingSeq;
    snapshot = step(snapshot, welcome('n2', ['n1', 'n2'], L1)).snapshot;
    expect(snapshot.context.confirmedSeq).toBe(seq);
    expect(step(snapshot, { type: 'lease.expired', seq }).snapshot.value).toBe('disconnected');
  });

  it('drops and redials a handshake whose welcome has not come within a lease, so a stale welcome is never trusted', () => {
    const connecting = step(start(), { type: 'relay.connecting' }).snapshot;
    const seq = connecting.context.pingSeq;
    const lapsed = commandsOf(connecting, { type: 'lease.expired', seq });
    expect(lapsed.commands).toEqual([{ type: 'drop' }]);
    expect(lapsed.snapshot.value).toBe('disconnected');
    // The next attempt's welcome starts a lease that its own timer ends.
    const redial = step(lapsed.snapshot, { type: 'relay.connecting' }).snapshot;
    const online = step(redial, welcome('n2', ['n1', 'n2'], L1)).snapshot;
    expect(online.value).toEqual({ online: 'follower' });
    expect(step(online, { type: 'lease.expired', seq: redial.context.pingSeq }).snapshot.value).toBe('disconnected');
    // The timer of an older attempt, firing during a newer one's handshake, drops nothing.
    expect(commandsOf(redial, { type: 'lease.expired', seq }).commands).toEqual([]);
  });

  it('does not count frames from the relay as round trips: only pongs extend the lease', () => {
    const leader = leaderN1();
    let snapshot = step(leader, { type: 'heartbeat' }).snapshot;
    snapshot = step(snapshot, { type: 'checkLeader', to: 'n1', from: 'n2', nonce: '1' }).snapshot;
    expect(step(snapshot, { type: 'lease.expired', seq: leader.context.confirmedSeq }).snapshot.value).toBe('disconnected');
  });
});

describe('node machine: leaving', () => {
  it('a follower leaves at once and closes its link', () => {
    const { snapshot, emitted } = step(follower(), { type: 'leave' });
    expect(snapshot.value).toBe('left');
    expect(snapshot.status).toBe('done');
    expect(emitted).toEqual([]);
  });

  it('a leader hands off with a lap it does not stand in, is never elected again while leaving, then leaves', () => {
    const leader = leaderN1();
    const handing = step(leader, { type: 'leave' });
    expect(handing.snapshot.value).toEqual({ online: 'handingOff' });
    expect(handing.emitted).toContainEqual({ type: 'leadershipLost', term: 1 });
    expect(handing.sent).toEqual([{ type: 'election', to: 'next', initiator: 'n1', term: 2, eligible: [] }]);
    // A lap of another member passes through: the leaving node does not enter it.
    const passed = step(handing.snapshot, election([['n2', 5]], 3, 'n2'));
    expect(passed.sent).toEqual([{ type: 'election', to: 'next', initiator: 'n2', term: 3, eligible: [{ id: 'n2', rank: 5 }] }]);
    expect(passed.snapshot.value).toEqual({ online: 'handingOff' });
    // An announcement naming it (a lap it joined before it was asked to leave) does not make it lead.
    const named = step(passed.snapshot, { type: 'newLeader', to: 'all', from: 'n2', leaderId: 'n1', rank: 9, term: 3 });
    expect(named.snapshot.value).toEqual({ online: 'handingOff' });
    expect(named.emitted.filter((event) => event.type === 'leadershipAcquired')).toEqual([]);
    const handedOff = step(named.snapshot, { type: 'newLeader', to: 'all', from: 'n2', leaderId: 'n2', rank: 5, term: 3 });
    expect(handedOff.snapshot.value).toBe('left');
  });

  it('a leader whose hand-off lap gets lost leaves anyway after the hand-off timeout', () => {
    const handing = step(leaderN1(), { type: 'leave' }).snapshot;
    const late = step(handing, { type: 'xstate.after.handOffTimeout.node.online.handingOff' });
    expect(late.snapshot.value).toBe('left');
    expect(late.emitted).toContainEqual({ type: 'handOffTimedOut' });
  });
});

describe('node machine: one decision per election frame', () => {
  it('carries out each election frame in one step, as exactly one of forward, complete or drop', () => {
    const outcome = (snapshot: Snapshot, frame: ElectionFrame) => {
      const steps: string[] = [];
      const actor = createActor(machine, { input: { rank: 5, seed: 1 }, snapshot, inspect: (event) => {
        if (event.type === '@xstate.microstep') steps.push(event.event.type);
      } });
      actor.start();
      actor.send(frame);
      actor.stop();
      const result = step(snapshot, frame);
      return {
        steps: steps.filter((type) => type === 'election' || type.startsWith('election.')),
        sent: result.sent.map((sent) => sent.type),
        dropped: result.emitted.filter((event) => event.type === 'frameDropped').map((event) => (event as unknown as { reason: string }).reason),
      };
    };
    expect(outcome(follower(), election([['n1', 9]], 2))).toEqual({ steps: ['election'], sent: ['election'], dropped: [] });
    expect(outcome(follower(), election([['n3', 7]], 1))).toEqual({ steps: ['election'], sent: [], dropped: ['stale'] });
    const electing = step(step(follower(), { type: 'xstate.after.checkInterval.node.online.follower' }).snapshot, { type: 'xstate.after.leaderTimeout.node.online.checking' }).snapshot;
    expect(outcome(electing, election([['n2', 5], ['n3', 7]], 2, 'n2'))).toEqual({ steps: ['election'], sent: ['newLeader', 'newLeader'], dropped: [] });
  });
});

describe("node machine: the relay's timing (welcome.timing)", () => {
  const RELAY = { leaderTimeoutMs: 5000, heartbeatMs: 2500, forwardTimeoutMs: 2500 };
  const startWith = (timing: Record<string, number>) => initialTransition(machine, { rank: 5, seed: 1, timing })[0];

  it('follows the relay\'s leader timeout, and the lease derived from it, when its own differs', () => {
    const { snapshot, emitted } = step(startWith({ leaderTimeoutMs: 15_000 }), { ...welcome('n2', ['n1', 'n2'], null), timing: RELAY });
    expect(snapshot.value).toEqual({ online: 'awaiting' });
    expect(snapshot.context.timing).toMatchObject({ leaderTimeoutMs: 5000, heartbeatTimeoutMs: 1667 });
    expect(emitted).toContainEqual({ type: 'timingFollowed', leaderTimeoutMs: 5000, leaseMs: 1667, previous: { leaderTimeoutMs: 15_000, leaseMs: 5000 } });
  });

  it('keeps a lease it was given when it is shorter than the relay\'s heartbeat', () => {
    const { snapshot } = step(startWith({ heartbeatTimeoutMs: 900 }), { ...welcome('n2', ['n1', 'n2'], null), timing: RELAY });
    expect(snapshot.context.timing).toMatchObject({ leaderTimeoutMs: 5000, heartbeatTimeoutMs: 900 });
  });

  it('refuses to join, and says why, when its given lease is not shorter than the relay\'s heartbeat', () => {
    const [snapshot, actions] = transition(machine, startWith({ heartbeatTimeoutMs: 2500 }), { ...welcome('n2', ['n1', 'n2'], null), timing: RELAY });
    expect(snapshot.value).toBe('left');
    expect(snapshot.context.id).toBeNull();
    const emitted = actions.filter((action) => (action.type as string) === 'xstate.emit').map((action) => (action.params as { event: { type: string; detail?: string } }).event);
    expect(emitted).toContainEqual({ type: 'timingRefused', detail: expect.stringMatching(/lease \(2500 ms\) is not shorter than the relay's heartbeat \(2500 ms/) });
  });

  it('changes nothing when the relay tells no timing (an older relay)', () => {
    const own = startWith({ leaderTimeoutMs: 15_000 });
    const { snapshot, emitted } = step(own, welcome('n2', ['n1', 'n2'], null));
    expect(snapshot.context.timing).toBe(own.context.timing);
    expect(emitted.filter((event) => event.type.startsWith('timing'))).toEqual([]);
  });
});

describe('node machine: terms and leaders it cannot follow', () => {
  it('starts its first election above the highest term the relay reports', () => {
    let { snapshot } = step(start(), { ...welcome('n2', ['n1', 'n2'], null), term: 41 });
    snapshot = step(snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' }).snapshot;
    expect(snapshot.context.round).toEqual({ term: 42, initiator: 'n2' });
  });

  it('never elects below a term it was told, even one no election can follow: it holds no election at all', () => {
    for (const told of [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1]) {
      const { snapshot } = step(start(), { ...welcome('n2', ['n1', 'n2'], null), term: told });
      expect(snapshot.context.term).toBe(told);
      const fired = step(snapshot, { type: 'xstate.after.backupTimeout.node.online.awaiting' });
      expect(fired.sent).toEqual([]);
      expect(fired.emitted).toContainEqual({ type: 'termsExhausted', term: told });
      expect(step(fired.snapshot, { type: 'startElection' }).sent).toEqual([]);
    }
  });

  it('drops frames and announcements of a term after which no election could follow', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const frame = step(follower(), election([['n3', 7]], max));
    expect(frame.sent).toEqual([]);
    expect(frame.emitted).toContainEqual(expect.objectContaining({ type: 'frameDropped', reason: 'unfollowable' }));
    const announced = step(follower(), { type: 'newLeader', to: 'all', from: 'n3', leaderId: 'n3', rank: 1, term: max });
    expect(announced.snapshot.context.leader).toEqual(L1);
  });

  it('names no leader that is not a member: a remembered one that left is kept for its term only', () => {
    let { snapshot } = step(follower(), { type: 'relay.closed' });
    const back = step(snapshot, welcome('n2', ['n2', 'n3'], null));
    expect(back.emitted.filter((event) => event.type === 'leaderChanged')).toEqual([]);
    expect(liveLeaderOf(back.snapshot.context)).toBeNull();
    expect(back.snapshot.context.term).toBe(1);
    snapshot = step(follower(), { type: 'newLeader', to: 'all', from: 'n3', leaderId: 'n9', rank: 1, term: 2 }).snapshot;
    expect(snapshot.value).toEqual({ online: 'awaiting' });
    expect(liveLeaderOf(snapshot.context)).toBeNull();
  });
});
