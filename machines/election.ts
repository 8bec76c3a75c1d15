/**
 * The election rule, and the only place it is written down.
 *
 * Ring election (as in the seed): an `election` frame travels to `next`; each node appends
 * itself to `eligible`; when the frame comes back to a node already in `eligible` the lap is
 * complete and the highest (rank, id) of `eligible` wins. On top of the seed:
 *
 * - Terms. A node drops election frames older than the newest term it has seen, and frames
 *   for a term whose leader it already knows. Leaders are only accepted in growing
 *   (term, rank, id) order.
 * - Extinction (Chang-Roberts). Per term a node remembers the greatest initiator whose frame it
 *   passed on and drops frames of smaller initiators, so concurrent initiators in one term cost
 *   one surviving lap, not one lap each, and at most one frame per term can complete.
 * - Completion at the first live entry. A frame completes at the first entry of `eligible`
 *   that is still a member (normally the initiator). If the initiator died, the next entry
 *   completes it, which is the seed's "any node already in eligible" made deterministic; a
 *   resigning leader stands aside by not entering `eligible` at all.
 * - Departed members are not electable: the winner is the highest entry still in the ring.
 */
import { compareCandidates, type Candidate, type ClientId, type ElectionFrame, type LeaderInfo } from './protocol.js';

/** What a node remembers of the election round it takes part in. */
export interface ElectionRound {
  term: number;
  /** The greatest initiator whose frame this node started or passed on in `term`. */
  initiator: ClientId;
}

/** The parts of a node's state the rule reads. */
export interface ElectionView {
  self: Candidate;
  /** The ring as this node knows it: who is still a member. */
  members: { has(id: ClientId): boolean };
  /** Highest term this node has seen, in a frame or a leader. */
  term: number;
  leader: LeaderInfo | null;
  round: ElectionRound | null;
  /** False while a resigning leader hands off: it passes frames on without entering them. */
  standing: boolean;
}

/**
 * Why a node drops an election frame: an older term or a decided one (`stale`), a smaller
 * initiator of a term a greater one already runs in (`extinct`), a lap that is not this node's to
 * complete (`lapped`), or a term so high that no election could follow it (`unfollowable`).
 */
export type DropReason = 'stale' | 'extinct' | 'lapped' | 'unfollowable';

export type ElectionDecision =
  | { kind: 'drop'; reason: DropReason }
  | { kind: 'forward'; frame: ElectionFrame; round: ElectionRound }
  | { kind: 'complete'; winner: LeaderInfo; round: ElectionRound; eligible: Candidate[] };

/** The frame and round a node starts when it initiates an election. */
export function initiateElection(view: ElectionView): { frame: ElectionFrame; round: ElectionRound } {
  const term = view.term + 1;
  return {
    frame: {
      type: 'election',
      to: 'next',
      initiator: view.self.id,
      term,
      eligible: view.standing ? [view.self] : [],
    },
    round: { term, initiator: view.self.id },
  };
}

/** What a frame comes to, without building the forwarded frame or picking the winner (guards ask this). */
export type ElectionOutcome = { kind: 'drop'; reason: DropReason } | { kind: 'forward' } | { kind: 'complete' };

const FORWARD: ElectionOutcome = { kind: 'forward' };
const COMPLETE: ElectionOutcome = { kind: 'complete' };
const DROPPED: Record<DropReason, ElectionOutcome> = {
  stale: { kind: 'drop', reason: 'stale' },
  extinct: { kind: 'drop', reason: 'extinct' },
  lapped: { kind: 'drop', reason: 'lapped' },
  unfollowable: { kind: 'drop', reason: 'unfollowable' },
};

/** Who counts as live when a lap completes: the completing node and every member it knows. */
function liveFor(view: ElectionView): { has(id: ClientId): boolean } {
  return { has: (id: ClientId) => id === view.self.id || view.members.has(id) };
}

/** The rule itself: `decideElection` builds on it, and guards read it alone (it allocates nothing). */
export function electionOutcome(view: ElectionView, frame: ElectionFrame): ElectionOutcome {
  const { term } = frame;
  if (term < view.term || (view.leader !== null && term <= view.leader.term)) return DROPPED.stale;
  const sameRound = view.round !== null && view.round.term === term;
  if (sameRound && frame.initiator < view.round!.initiator) return DROPPED.extinct;

  const selfIndex = frame.eligible.findIndex((entry) => entry.id === view.self.id);
  if (selfIndex !== -1) {
    // The frame has been all the way round. Only the first live entry closes the lap, and only
    // if no greater initiator passed through since; anything else is a leftover to drop.
    const live = liveFor(view);
    const firstLive = frame.eligible.find((entry) => live.has(entry.id));
    return sameRound && firstLive?.id === view.self.id ? COMPLETE : DROPPED.lapped;
  }
  // A resigning node's own frame that found nobody to stand: nothing to elect.
  if (frame.initiator === view.self.id && frame.eligible.length === 0) return DROPPED.lapped;
  return FORWARD;
}

export function decideElection(view: ElectionView, frame: ElectionFrame): ElectionDecision {
  const outcome = electionOutcome(view, frame);
  if (outcome.kind === 'drop') return outcome;
  const round: ElectionRound = { term: frame.term, initiator: frame.initiator };
  if (outcome.kind === 'complete') {
    return { kind: 'complete', winner: { ...winnerOf(frame.eligible, liveFor(view)), term: frame.term }, round, eligible: frame.eligible };
  }
  const { from: _stampedByRelay, ...rest } = frame;
  const eligible = view.standing ? [...frame.eligible, view.self] : frame.eligible;
  return { kind: 'forward', frame: { ...rest, to: 'next', eligible }, round };
}

/** The highest (rank, id) among the entries still in the ring. */
export function winnerOf(eligible: readonly Candidate[], live: { has(id: ClientId): boolean }): Candidate {
  let best: Candidate | null = null;
  for (const entry of eligible) {
    if (!live.has(entry.id)) continue;
    if (best === null || compareCandidates(entry, best) > 0) best = entry;
  }
  if (best === null) throw new Error('winnerOf: no live entry (the completing node is always one)');
  return best;
}

/** Whether an announced leader replaces the one a node knows: a later term, or the same term and a higher (rank, id). */
export function supersedes(announced: LeaderInfo, known: LeaderInfo | null): boolean {
  if (known === null) return true;
  if (announced.term !== known.term) return announced.term > known.term;
  return compareCandidates(announced, known) > 0;
}

/**
 * Whether `frame`, sent by `sender`, opens a round rather than carrying one on: its initiator sends
 * it with nobody in `eligible` (a resigning leader) or only itself. The relay machine reports elections with it.
 */
export function opensElection(sender: ClientId, frame: Pick<ElectionFrame, 'initiator' | 'eligible'>): boolean {
  if (frame.initiator !== sender) return false;
  return frame.eligible.length === 0 || (frame.eligible.length === 1 && frame.eligible[0]!.id === sender);
}
