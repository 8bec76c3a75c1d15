/**
 * The page's view of a ring other than the default one. The streams that reach /inspect do not
 * say which ring their machine is in (neither the node machine's context nor its `welcome` names
 * one), and client ids repeat across rings (each ring starts at n1), so a streamed node cannot be
 * placed in a ring. The model follows the default ring; for a ring picked on the page, what is
 * shown comes from the relay's `/status?ring=<name>` alone: its members in ring order, and its
 * leader with rank and term. Streamed statecharts, frames and elections stay on the default ring's
 * view.
 */
import type { RingState } from './messages.js';
import { memberOnlyView, type RelayStatus } from './ringModel.js';

export function stateForRing(status: RelayStatus | null): RingState {
  const members = status?.members ?? [];
  const leader = status?.leader ?? null;
  return {
    nodes: members.map((id) => memberOnlyView(id, leader)),
    relay: { source: status === null ? 'none' : 'status', members, leader, connected: status !== null },
    leader,
    elections: [],
  };
}
