/**
 * The ring's properties (docs/ALGORITHM.md, "Properties, as the simulator checks them"), checked
 * after every event the simulator runs.
 *
 * The checker has its own copy of "highest (rank, id)" on purpose: if it called the machines'
 * `winnerOf`, a broken election rule would grade itself. Definitions (docs/ALGORITHM.md):
 *
 * - One leader per term: at no instant are two live processes in state `leader` with the same
 *   term. Frozen processes count (they still believe they lead), except one whose socket the
 *   relay has already closed (dropped by the heartbeat, or the relay restarted): the close is the
 *   next thing it reads, and terms are only remembered by connected processes (docs/ALGORITHM.md,
 *   "Limits"). A node in state `leader` names itself as leader, and some completed election of
 *   that term chose its id with its rank.
 * - Validity: when a node completes an election, the winner it announces is the highest
 *   (rank, id) among the `eligible` entries that are members in that node's view of the ring
 *   (its last `welcome`/`ring`, plus itself), and the winner's rank is the rank its process has.
 * - Agreement: every live process is online and in `follower`/`checking`, naming the same leader
 *   and term, except that leader itself, which is in state `leader`; the relay's ring holds
 *   exactly the live processes.
 * - Stability: once agreement holds, it keeps holding (joins included) until a fault other than
 *   a join; a joiner never deposes the leader.
 * - Liveness: agreement is reached within a budget (see the simulation's budgets).
 * - Nothing lost: every frame a node sends and every frame the relay delivers survives
 *   encode/parse unchanged, no machine ever throws, the relay never answers a well-behaved node
 *   with an error other than `unknown_target`, and frames are only lost to an injected fault.
 * - Lease: at no instant do two running processes (not frozen: a frozen one cannot act) hold a
 *   lease, that is, sit in state `leader` and so would answer `isLeader()` true. This is what
 *   GUARANTEES.md builds on; it holds only within the timing assumptions stated there (clock
 *   rates within the bound), and the simulator shows it failing beyond them.
 */
import type { SnapshotFrom } from 'xstate';
import type { Candidate, ClientId, LeaderInfo } from '../machines/protocol.js';
import type { NodeEmitted, NodeMachine } from '../machines/nodeMachine.js';

export type NodeSnapshot = SnapshotFrom<NodeMachine>;

export type PropertyName = 'one-leader-per-term' | 'validity' | 'agreement' | 'stability' | 'liveness' | 'nothing-lost' | 'lease';

export interface Violation {
  property: PropertyName;
  at: number;
  message: string;
}

export type Role = 'offline' | 'leader' | 'follower' | 'electing';

export function roleOf(snapshot: NodeSnapshot): Role {
  const value = snapshot.value;
  if (value === 'disconnected' || value === 'left') return 'offline';
  const online = typeof value === 'object' ? (value as { online?: string }).online : undefined;
  if (online === 'leader') return 'leader';
  if (online === 'follower' || online === 'checking') return 'follower';
  return 'electing';
}

/** Independent of machines/election.ts on purpose: the highest (rank, id), ids compared as strings. */
export function highestCandidate(entries: readonly Candidate[]): Candidate | null {
  let best: Candidate | null = null;
  for (const entry of entries) {
    if (best === null || entry.rank > best.rank || (entry.rank === best.rank && entry.id > best.id)) best = entry;
  }
  return best;
}

function stanceOf(snapshot: NodeSnapshot): string {
  const role = roleOf(snapshot);
  const { leader, id } = snapshot.context;
  if (role === 'leader') return leader !== null && leader.id === id ? `L|${leader.id}|${leader.term}` : 'X';
  if (role === 'follower' && leader !== null) return `F|${leader.id}|${leader.term}`;
  return role === 'offline' ? 'O' : 'X';
}

export class PropertyChecker {
  readonly violations: Violation[] = [];
  /** term -> the live processes (sim index) in state leader with that term, and the term each leads. */
  private readonly leadersOfTerm = new Map<number, Set<number>>();
  private readonly leadingTerm = new Map<number, number>();
  private readonly cutOff = new Set<number>();
  /** term -> ids chosen by completed elections of that term. */
  private readonly chosen = new Map<number, Set<ClientId>>();
  /** term -> the first process that led it, over the whole run (see `termsDurable`). */
  private readonly firstLeaderOfTerm = new Map<number, number>();
  /**
   * While the relay's state file has never been lost (relay restarts keep it), a term names at
   * most one leader over the whole run, not only at any one instant: the relay's floor survives
   * restarts, so no election reuses a term. Cleared by the `relay-restart-fresh` fault.
   */
  termsDurable = true;
  /** Stance of each live process -> how many hold it; agreement is read off these counts. */
  private readonly stances = new Map<number, string>();
  private readonly stanceCounts = new Map<string, number>();
  private stanceVersion = 0;
  /** The agreed leader while the stability window is open. */
  private stable: LeaderInfo | null = null;
  /** Processes in state leader, and which of them are frozen (a frozen one holds no usable lease). */
  private readonly leading = new Set<number>();
  private readonly frozen = new Set<number>();
  /** Describes a process for a violation message (its id, term, clock rate). */
  describe: (index: number) => string = (index) => `#${index}`;

  constructor(private readonly now: () => number) {}

  fail(property: PropertyName, message: string): void {
    this.violations.push({ property, at: this.now(), message });
  }

  get failed(): boolean {
    return this.violations.length > 0;
  }

  /** Every new snapshot of a live process. */
  observe(index: number, snapshot: NodeSnapshot): void {
    const stance = stanceOf(snapshot);
    this.setStance(index, stance);
    const { leader, id } = snapshot.context;
    const leading = roleOf(snapshot) === 'leader';
    this.setLeading(index, leading && leader !== null && !this.cutOff.has(index) ? leader.term : null);
    if (leading) this.leading.add(index);
    else this.leading.delete(index);
    if (leading) this.checkLease();
    if (leading) {
      if (leader === null || leader.id !== id) {
        this.fail('one-leader-per-term', `node #${index} (${id}) is in state leader but names ${JSON.stringify(leader)} as leader`);
        return;
      }
      const holders = this.leadersOfTerm.get(leader.term);
      if (holders !== undefined && holders.size > 1) {
        this.fail('one-leader-per-term', `term ${leader.term} has ${holders.size} leaders at once: processes ${[...holders].map((p) => `#${p}`).join(', ')}`);
      }
      const first = this.firstLeaderOfTerm.get(leader.term);
      if (first === undefined) this.firstLeaderOfTerm.set(leader.term, index);
      else if (first !== index && this.termsDurable) {
        this.fail('one-leader-per-term', `term ${leader.term} named two leaders over the run, across relay restarts with the state file kept: processes #${first} and #${index}`);
      }
      if (leader.rank !== snapshot.context.rank) {
        this.fail('validity', `node #${index} (${id}) leads term ${leader.term} under rank ${leader.rank}, but its rank is ${snapshot.context.rank}`);
      }
      if (!this.chosen.get(leader.term)?.has(leader.id)) {
        this.fail('validity', `${id} leads term ${leader.term} but no completed election of term ${leader.term} chose it`);
      }
    }
    if (this.stable !== null && stance !== 'O' && !this.agreesWithStable(stance)) {
      this.fail(
        'stability',
        `the agreed leader ${this.stable.id} (term ${this.stable.term}) lost node #${index} (${id}), now ${stance}, with no fault but joins since agreement`,
      );
    }
  }

  /** The relay closed this process's socket (or took it back by a new join). */
  setCutOff(index: number, cutOff: boolean): void {
    if (cutOff) {
      this.cutOff.add(index);
      this.setLeading(index, null);
    } else this.cutOff.delete(index);
  }

  /** A process died: it holds no stance and leads nothing any more. */
  forget(index: number): void {
    this.setStance(index, null);
    this.setLeading(index, null);
    this.leading.delete(index);
    this.frozen.delete(index);
  }

  /** A process froze or woke (after its overdue timers fired). */
  setFrozen(index: number, frozen: boolean): void {
    if (frozen) this.frozen.add(index);
    else {
      this.frozen.delete(index);
      if (this.leading.has(index)) this.checkLease();
    }
  }

  /** The processes that would answer `isLeader()` true now. */
  leaseHolders(): number[] {
    return [...this.leading].filter((index) => !this.frozen.has(index));
  }

  private checkLease(): void {
    const holders = this.leaseHolders();
    if (holders.length > 1) {
      this.fail('lease', `${holders.length} processes hold a lease at once: ${holders.map((index) => this.describe(index)).join(', ')}`);
    }
  }

  private setLeading(index: number, term: number | null): void {
    const previous = this.leadingTerm.get(index);
    if (previous === term || (previous === undefined && term === null)) return;
    if (previous !== undefined) {
      const holders = this.leadersOfTerm.get(previous)!;
      holders.delete(index);
      if (holders.size === 0) this.leadersOfTerm.delete(previous);
      this.leadingTerm.delete(index);
    }
    if (term === null) return;
    this.leadingTerm.set(index, term);
    let holders = this.leadersOfTerm.get(term);
    if (holders === undefined) this.leadersOfTerm.set(term, (holders = new Set()));
    holders.add(index);
  }

  /** An `electionCompleted` emitted by a node whose view of the ring is `members`. */
  electionCompleted(
    index: number,
    self: ClientId | null,
    members: Iterable<ClientId>,
    event: Extract<NodeEmitted, { type: 'electionCompleted' }>,
    ranksOf: (id: ClientId) => ReadonlySet<number> | undefined,
  ): void {
    const live = new Set(members);
    if (self !== null) live.add(self);
    const expected = highestCandidate(event.eligible.filter((entry) => live.has(entry.id)));
    const { winner } = event;
    if (expected === null || expected.id !== winner.id || expected.rank !== winner.rank) {
      this.fail(
        'validity',
        `node #${index} (${self}) completed term ${event.term} with winner ${winner.id}/${winner.rank}, but the highest live entry of ` +
          `${JSON.stringify(event.eligible)} in its view ${JSON.stringify([...live])} is ${JSON.stringify(expected)}`,
      );
    }
    const trueRanks = ranksOf(winner.id);
    if (trueRanks === undefined || !trueRanks.has(winner.rank)) {
      this.fail('validity', `term ${event.term} chose ${winner.id} with rank ${winner.rank}, but no process that held that id has that rank`);
    }
    if (winner.term !== event.term) this.fail('validity', `election of term ${event.term} announced term ${winner.term}`);
    let ids = this.chosen.get(event.term);
    if (ids === undefined) this.chosen.set(event.term, (ids = new Set()));
    ids.add(winner.id);
  }

  /** Changes whenever any process's stance changes: a cache key for whoever reads agreement. */
  get version(): number {
    return this.stanceVersion;
  }

  /**
   * Whether the stances counted so far can be an agreement of `liveProcesses` (see the file
   * comment): a cheap test after every step. The simulation confirms a yes with the project's one
   * agreement check (runtime/agreement.ts). `ringSize` is the relay's member count (null while down).
   */
  agreement(liveProcesses: number, ringSize: number | null): LeaderInfo | null {
    if (ringSize !== liveProcesses || this.stances.size !== liveProcesses) return null;
    let leader: LeaderInfo | null = null;
    let followers = 0;
    for (const [stance, count] of this.stanceCounts) {
      const [kind, id, term] = stance.split('|');
      if (kind === 'L' && count === 1 && leader === null) leader = { id: id!, rank: 0, term: Number(term) };
      else if (kind === 'F') followers += count;
      else return null;
    }
    if (leader === null || followers !== liveProcesses - 1) return null;
    if (followers > 0 && this.stanceCounts.get(`F|${leader.id}|${leader.term}`) !== followers) return null;
    return leader;
  }

  /** Opens the stability window on an agreed leader (null closes it: a fault other than a join). */
  setStable(leader: LeaderInfo | null): void {
    this.stable = leader;
  }

  get stableLeader(): LeaderInfo | null {
    return this.stable;
  }

  private agreesWithStable(stance: string): boolean {
    const { id, term } = this.stable!;
    return stance === `F|${id}|${term}` || stance === `L|${id}|${term}`;
  }

  private setStance(index: number, stance: string | null): void {
    const previous = this.stances.get(index);
    if (previous === stance) return;
    this.stanceVersion += 1;
    if (previous !== undefined) {
      const left = (this.stanceCounts.get(previous) ?? 1) - 1;
      if (left === 0) this.stanceCounts.delete(previous);
      else this.stanceCounts.set(previous, left);
    }
    if (stance === null) {
      this.stances.delete(index);
      return;
    }
    this.stances.set(index, stance);
    this.stanceCounts.set(stance, (this.stanceCounts.get(stance) ?? 0) + 1);
  }
}
