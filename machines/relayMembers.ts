/**
 * Fast membership tests on the relay machine's id lists. The lists stay plain arrays in the
 * machine's context (ring order, what /status, `welcome` and the inspector show), and the machine
 * only ever replaces them, never changes one in place; so a list's positions can be computed
 * once per list and kept beside it (weakly: they go when the list is replaced). Every frame asks
 * whether its sender is a member and where it stands; at 1,000 members an array scan per
 * question is most of the machine's work per frame.
 */
import type { ClientId } from './protocol.js';

/** Below this many ids a scan is as quick as a lookup, and builds nothing. */
const SCAN_LIMIT = 16;

const positions = new WeakMap<readonly ClientId[], Map<ClientId, number>>();

/** Where `id` stands in `list`, or -1. */
export function positionIn(list: readonly ClientId[], id: ClientId): number {
  if (list.length <= SCAN_LIMIT) return list.indexOf(id);
  let index = positions.get(list);
  if (index === undefined) {
    index = new Map();
    for (let position = 0; position < list.length; position += 1) index.set(list[position]!, position);
    positions.set(list, index);
  }
  return index.get(id) ?? -1;
}

/** Whether `list` holds `id`. */
export function isListed(list: readonly ClientId[], id: ClientId): boolean {
  return positionIn(list, id) !== -1;
}
