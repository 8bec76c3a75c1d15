/**
 * The agreement check, written once: "every live member names the same live leader, which
 * leads". The simulator, `ringleader up`, the benchmarks, the fuzzer and the tests all ask it,
 * each with the views it has (machine snapshots, log lines, library calls, container logs).
 */
import type { ClientId, LeaderInfo } from '../machines/protocol.js';

/** What one live member says: its id, the leader it names, and whether it says it leads. */
export interface MemberView {
  id: ClientId | null;
  leader: LeaderInfo | null;
  leading: boolean;
}

export type Agreement = { agreed: true; leader: LeaderInfo; members: ClientId[] } | { agreed: false; why: string };

/**
 * Whether `views` (every live member) agree: each has an id and names the same leader, same id
 * and term; that leader is one of them and says it leads, and nobody else does. With
 * `ringMembers` (the relay's list), the views must be exactly the ring's members too.
 */
export function checkAgreement(views: readonly MemberView[], ringMembers?: readonly ClientId[]): Agreement {
  if (views.length === 0) return { agreed: false, why: 'no live members' };
  const first = views[0]!.leader;
  if (first === null) return { agreed: false, why: `${views[0]!.id ?? 'a member'} names no leader` };
  let leaders = 0;
  let leaderIsMember = false;
  for (const view of views) {
    if (view.id === null) return { agreed: false, why: 'a member has no id yet' };
    if (view.leader === null || view.leader.id !== first.id || view.leader.term !== first.term) {
      return { agreed: false, why: `${view.id} names ${describe(view.leader)}, ${views[0]!.id} names ${describe(first)}` };
    }
    if (view.leading) {
      leaders += 1;
      if (view.id !== first.id) return { agreed: false, why: `${view.id} says it leads, but the leader is ${first.id}` };
    }
    if (view.id === first.id) leaderIsMember = true;
  }
  if (!leaderIsMember) return { agreed: false, why: `the leader ${first.id} is not among the live members` };
  if (leaders !== 1) return { agreed: false, why: `the leader ${first.id} does not say it leads` };
  const members = views.map((view) => view.id!);
  if (ringMembers !== undefined) {
    if (ringMembers.length !== members.length) return { agreed: false, why: `the ring has ${ringMembers.length} members, ${members.length} are live` };
    const live = new Set(members);
    const stranger = ringMembers.find((id) => !live.has(id));
    if (stranger !== undefined) return { agreed: false, why: `${stranger} is in the ring but not among the live members` };
  }
  return { agreed: true, leader: first, members };
}

function describe(leader: LeaderInfo | null): string {
  return leader === null ? 'no leader' : `${leader.id} (term ${leader.term})`;
}
