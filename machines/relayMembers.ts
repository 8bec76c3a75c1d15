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

/**
 * The newest list whose index is shared. A join replaces the members with the old list plus one
 * id at the end: the old positions still hold, so the same index is extended instead of built
 * again (at 1,000 joins, building one per list is half a million entries of garbage). An index
 * may then know ids past the end of an older list that shares it; `positionIn` checks the slot.
 */
let sharedList: readonly ClientId[] = [];
let sharedIndex = new Map<ClientId, number>();

function indexOf(list: readonly ClientId[]): Map<ClientId, number> {
  let index = positions.get(list);
  if (index !== undefined) return index;
  if (list.length >= sharedList.length && startsWith(list, sharedList)) {
    for (let position = sharedList.length; position < list.length; position += 1) sharedIndex.set(list[position]!, position);
  } else {
    sharedIndex = new Map();
    for (let position = 0; position < list.length; position += 1) sharedIndex.set(list[position]!, position);
  }
  sharedList = list;
  index = sharedIndex;
  positions.set(list, index);
  return index;
}

function startsWith(list: readonly ClientId[], prefix: readonly ClientId[]): boolean {
  for (let position = 0; position < prefix.length; position += 1) if (list[position] !== prefix[position]) return false;
  return true;
}

/** Where `id` stands in `list`, or -1. */
export function positionIn(list: readonly ClientId[], id: ClientId): number {
  if (list.length <= SCAN_LIMIT) return list.indexOf(id);
  const position = indexOf(list).get(id);
  return position !== undefined && position < list.length && list[position] === id ? position : -1;
}

/** Whether `list` holds `id`. */
export function isListed(list: readonly ClientId[], id: ClientId): boolean {
  return positionIn(list, id) !== -1;
}
