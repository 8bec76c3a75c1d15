/** Ring order helpers shared by the relay machine (routing) and the node machine (failover). */
import type { ClientId, RingFrame } from './protocol.js';

/** The member list after one `ring` change: a joiner goes to the end of ring order; a leaver is removed. */
export function applyRingChange(members: readonly ClientId[], change: Pick<RingFrame, 'joined' | 'left'>): ClientId[] {
  if (change.joined !== undefined) return members.includes(change.joined) ? [...members] : [...members, change.joined];
  return members.filter((member) => member !== change.left);
}

/**
 * The member after `id` in ring order, wrapping around; a ring of one is its own next.
 * Returns null when `id` is not a member.
 */
export function ringAfter(members: readonly ClientId[], id: ClientId): ClientId | null {
  const index = members.indexOf(id);
  if (index === -1) return null;
  return members[(index + 1) % members.length] ?? null;
}

/**
 * Who takes over from a departed member: the first member after it in the ring as it was
 * (`before`) that is still in the ring now (`after`). Everyone computes the same answer from
 * the same `ring` frame, so exactly one node reacts at once.
 */
export function successorOf(
  before: readonly ClientId[],
  departed: ClientId,
  after: readonly ClientId[],
): ClientId | null {
  const start = before.indexOf(departed);
  if (start === -1) return after[0] ?? null;
  const alive = new Set(after);
  for (let step = 1; step < before.length; step += 1) {
    const candidate = before[(start + step) % before.length];
    if (candidate !== undefined && alive.has(candidate)) return candidate;
  }
  return after[0] ?? null;
}
