/** Ring order as a node machine sees it: applying the relay's changes, and who takes over from whom. */
import { MemberList } from './memberList.js';
import type { ClientId, RingFrame } from './protocol.js';

/** The member list after one `ring` change: a joiner goes to the end of ring order; a leaver is removed. */
export function applyRingChange(members: MemberList, change: Pick<RingFrame, 'joined' | 'left'>): MemberList {
  if (change.joined !== undefined) return members.withJoined(change.joined);
  return change.left === undefined ? members : members.withoutLeft(change.left);
}

/**
 * Who takes over from a departed member: the first member after it in the ring as it was
 * (`before`) that is still in the ring now (`after`). Everyone computes the same answer from
 * the same `ring` frame, so exactly one node reacts at once.
 */
export function successorOf(before: MemberList, departed: ClientId, after: MemberList): ClientId | null {
  const start = before.indexOf(departed);
  if (start === -1) return after.at(0) ?? null;
  for (let step = 1; step < before.length; step += 1) {
    const candidate = before.at((start + step) % before.length);
    if (candidate !== undefined && after.has(candidate)) return candidate;
  }
  return after.at(0) ?? null;
}
