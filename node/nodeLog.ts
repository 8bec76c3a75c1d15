/**
 * One pino line per thing an operator cares about, written from the node machine's emitted
 * events: elections, leader changes, leadership, membership and relay errors. Every line carries
 * the node's clientId, rank and term (from `fields`), so `grep clientId` tells one node's story.
 */
import { compareCandidates, type Candidate } from '../machines/protocol.js';
import type { NodeEmitted } from '../machines/nodeMachine.js';
import type { Level } from 'pino';
import type { Logger } from '../runtime/logger.js';

export interface NodeLogFields {
  clientId: string | null;
  rank: number;
  term: number;
}

/** The level each event is logged at. */
const LEVEL_OF: Record<NodeEmitted['type'], Level> = {
  electionStarted: 'info',
  electionCompleted: 'info',
  leaderChanged: 'info',
  leadershipAcquired: 'info',
  leadershipLost: 'info',
  membershipChanged: 'info',
  frameDropped: 'debug',
  relayError: 'warn',
  leaseLapsed: 'warn',
  handOffTimedOut: 'warn',
  electionDeferred: 'info',
  timingFollowed: 'warn',
  timingRefused: 'error',
  termsExhausted: 'error',
};

/** Returns the function that logs one emitted event. */
export function createNodeLog(logger: Logger, fields: () => NodeLogFields): (event: NodeEmitted) => void {
  // The node that closes a lap is the only one that sees the ranks of everyone who took part;
  // it remembers them so its "leader changed" line can say whether the winner topped them all.
  let lastCompleted: { term: number; eligible: Candidate[] } | null = null;

  return (event) => {
    if (event.type === 'electionCompleted') lastCompleted = { term: event.term, eligible: event.eligible };
    // A line that will not be written costs nothing: a ring of N assembles with N² membership
    // events, and a quiet logger (the library's default is warn) must not build N² field objects.
    if (!logger.isLevelEnabled(LEVEL_OF[event.type])) return;
    const base = fields();
    switch (event.type) {
      case 'electionStarted':
        logger.info({ ...base, term: event.term, initiator: event.initiator, reason: event.reason }, 'election started');
        return;
      case 'electionCompleted':
        logger.info(
          { ...base, term: event.term, winner: event.winner.id, winnerRank: event.winner.rank, eligibleCount: event.eligible.length },
          'election completed',
        );
        return;
      case 'leaderChanged': {
        const { leader, previous } = event;
        const eligible = lastCompleted?.term === leader.term ? lastCompleted.eligible : null;
        const highestOfElection = eligible === null ? undefined : eligible.every((entry) => compareCandidates(entry, leader) <= 0);
        logger.info(
          {
            ...base,
            term: leader.term,
            leaderId: leader.id,
            leaderRank: leader.rank,
            previousLeaderId: previous?.id ?? null,
            // Known only to the node that closed the lap; others learned the leader from an announcement.
            ...(highestOfElection === undefined ? {} : { highestOfElection, eligibleCount: eligible!.length }),
            // Stability: a node that joined after the election may outrank the leader, and that is fine.
            ...(base.rank > leader.rank ? { outrankedBySelf: true } : {}),
          },
          'leader changed',
        );
        return;
      }
      case 'leadershipAcquired':
        logger.info({ ...base, term: event.term }, 'leadership acquired');
        return;
      case 'leadershipLost':
        logger.info({ ...base, term: event.term }, 'leadership lost');
        return;
      case 'membershipChanged':
        if (event.joined !== undefined) {
          logger.info({ ...base, memberId: event.joined, memberCount: event.members.length }, 'member joined');
        } else if (event.left !== undefined) {
          logger.info({ ...base, memberId: event.left, memberCount: event.members.length }, 'member left');
        }
        return;
      case 'frameDropped':
        logger.debug(
          { ...base, reason: event.reason, frameTerm: event.frame.term, initiator: event.frame.initiator, from: event.frame.from },
          'election frame dropped',
        );
        return;
      case 'relayError':
        logger.warn({ ...base, code: event.code, detail: event.detail }, 'relay error');
        return;
      case 'leaseLapsed':
        logger.warn({ ...base, lastConfirmedPing: event.seq }, 'relay silent: no round trip confirmed for a whole lease, dropping the connection');
        return;
      case 'electionDeferred':
        logger.info({ ...base, reason: event.reason }, 'election request deferred: no live leader is known yet, the backup timer starts one');
        return;
      case 'handOffTimedOut':
        logger.warn(base, 'leaving without a hand-off: no other leader was announced in time');
        return;
      case 'timingFollowed':
        logger.warn(
          { ...base, leaderTimeoutMs: event.leaderTimeoutMs, leaseMs: event.leaseMs, ownLeaderTimeoutMs: event.previous.leaderTimeoutMs, ownLeaseMs: event.previous.leaseMs },
          "following the relay's timing: its leader timeout differs from this node's",
        );
        return;
      case 'timingRefused':
        logger.error({ ...base, detail: event.detail }, "refusing the relay's timing: leaving");
        return;
      case 'termsExhausted':
        logger.error({ ...base }, 'cannot start an election: no term above the highest known is left');
        return;
    }
  };
}
