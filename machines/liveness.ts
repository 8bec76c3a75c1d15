/**
 * The relay's liveness rule for its members, as plain logic every host shares (relay/, sim/,
 * check/, the test harness), as machines/lease.ts is for the node's side of the link. Every
 * heartbeat (`H`, machines/timing.ts) the relay pings each member; a member that has not answered
 * the previous ping by the next heartbeat is dropped. So a member that stops answering leaves
 * between `H` and `2H = L` after its last answer, and a leader cut off at `p` cannot be dropped
 * before `p + H - 2δ`, later than its lease `W < H` runs out (docs/GUARANTEES.md).
 */

/** A member that just joined counts as having answered: its upgrade was its first round trip. */
export const ANSWERED_AT_JOIN = true;

/** What a heartbeat does to one member. */
export type HeartbeatVerdict =
  /** It did not answer the previous ping: drop it from the ring. */
  | { kind: 'drop' }
  /** Ping it again; until its answer comes, it has not `answered`. */
  | { kind: 'ping'; answered: false };

const DROP: HeartbeatVerdict = { kind: 'drop' };
const PING: HeartbeatVerdict = { kind: 'ping', answered: false };

/** The heartbeat's verdict on a member, from whether it answered the previous ping (or joined since). */
export function judgeHeartbeat(answered: boolean): HeartbeatVerdict {
  return answered ? PING : DROP;
}
