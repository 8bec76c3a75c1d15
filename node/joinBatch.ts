/**
 * How a node's connection hands the machine the frames one read of its socket brought: the
 * `ring {joined}` frames are held and go to the machine as one `ring.joined` event, in order, once
 * the read is handled; anything else for the machine first delivers the joins held before it.
 * A join only adds to the member list, in every state, so the batch is the joins one by one; at
 * 1,000 members assembling, joins are most of what a node takes, and XState's cost is per event.
 *
 * One rule for both adapters: node/relayConnection.ts ends a read with a microtask (`ws` emits
 * the messages of one chunk together), the simulator (sim/nodeHost.ts) at the end of the step
 * that delivered one read of a simulated link (sim/network.ts).
 */
import type { ClientId, ServerFrame } from '../machines/protocol.js';
import type { RelayConnectionEvent } from '../machines/nodeMachine.js';

export interface JoinBatch {
  /** A frame from the relay: a join is held until the read ends, anything else goes at once. */
  frame(frame: ServerFrame): void;
  /** A fact for the machine (a frame, `relay.pong`, `relay.closed`, ...), after the joins held before it. */
  send(event: RelayConnectionEvent): void;
}

/**
 * `deliver` takes each event to the machine; `atEndOfRead` runs a function once the read being
 * handled is over (called at the first join held in a read).
 */
export function joinBatch(deliver: (event: RelayConnectionEvent) => void, atEndOfRead: (flush: () => void) => void): JoinBatch {
  let held: ClientId[] = [];
  const flush = () => {
    if (held.length === 0) return;
    const ids = held;
    held = [];
    deliver(ids.length === 1 ? { type: 'ring', joined: ids[0]! } : { type: 'ring.joined', ids });
  };
  const send = (event: RelayConnectionEvent) => {
    flush();
    deliver(event);
  };
  return {
    send,
    frame(frame) {
      if (frame.type === 'ring' && frame.joined !== undefined) {
        if (held.length === 0) atEndOfRead(flush);
        held.push(frame.joined);
        return;
      }
      send(frame);
    },
  };
}
