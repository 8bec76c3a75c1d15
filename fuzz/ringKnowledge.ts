/**
 * What a fuzz member has learned from the frames the relay sent it: its id, the members, their
 * ranks (from `eligible` lists and announcements), the highest term, the leader, recent nonces.
 * Hostile frames need it to be believable: a `newLeader` naming a real member with its real rank
 * in a term just above the ring's, an `answerLeader` echoing a nonce someone really sent.
 */
import { parseFrame, type Candidate, type ClientId, type LeaderInfo } from '../machines/protocol.js';
import { MemberList } from '../machines/memberList.js';
import { applyRingChange } from '../machines/ring.js';

/** Nonces remembered for spoofed answers; older ones are forgotten. */
const NONCES_KEPT = 32;
/** Ranks remembered; a member that floods ids cannot make a fuzz member hold more. */
const RANKS_KEPT = 1000;

export class RingKnowledge {
  self: ClientId | null = null;
  members: MemberList = MemberList.EMPTY;
  readonly ranks = new Map<ClientId, number>();
  highestTerm = 0;
  leader: LeaderInfo | null = null;
  /** Recent `checkLeader` nonces and who sent them, for spoofed answers. */
  readonly nonces: { from: ClientId; nonce: string }[] = [];
  /** The last election lap handed to this member (its first entries), for tampered laps. */
  heldElection: { term: number; initiator: ClientId; eligible: Candidate[] } | null = null;

  /** Takes in one text message from the relay; anything unreadable is ignored. */
  learn(text: string): void {
    const parsed = parseFrame(text);
    if (!parsed.ok) return;
    const frame = parsed.frame;
    switch (frame.type) {
      case 'welcome':
        this.self = frame.clientId;
        this.members = MemberList.from(frame.members);
        this.leader = frame.leader;
        this.raiseTerm(frame.term ?? 0);
        if (frame.leader) this.rememberRank(frame.leader.id, frame.leader.rank);
        return;
      case 'ring':
        this.members = applyRingChange(this.members, frame);
        return;
      case 'election':
        this.raiseTerm(frame.term);
        this.heldElection = { term: frame.term, initiator: frame.initiator, eligible: frame.eligible.slice(0, 100) };
        for (const entry of this.heldElection.eligible) this.rememberRank(entry.id, entry.rank);
        return;
      case 'newLeader':
        this.raiseTerm(frame.term);
        this.leader = { id: frame.leaderId, rank: frame.rank, term: frame.term };
        this.rememberRank(frame.leaderId, frame.rank);
        return;
      case 'answerLeader':
        this.raiseTerm(frame.term);
        return;
      case 'checkLeader':
        if (frame.from !== undefined) {
          this.nonces.push({ from: frame.from, nonce: frame.nonce });
          if (this.nonces.length > NONCES_KEPT) this.nonces.shift();
        }
        return;
      case 'error':
        return;
    }
  }

  /** Members other than this one. */
  others(): ClientId[] {
    return this.members.toArray().filter((member) => member !== this.self);
  }

  private raiseTerm(term: number): void {
    if (term > this.highestTerm) this.highestTerm = term;
  }

  private rememberRank(id: ClientId, rank: number): void {
    if (this.ranks.size >= RANKS_KEPT && !this.ranks.has(id)) return;
    this.ranks.set(id, rank);
  }
}
