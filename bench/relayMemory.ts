/**
 * What one connection costs a relay in memory: RSS of the relay child with `count` bare clients
 * joined, less its RSS with none, per client. Measured the same way for the raw relay and the
 * real one, so the real relay's per-member cost has its floor (sockets, `ws`, buffers) beside it.
 */
import type { ChildRelay } from './childServer.js';
import { rssMB } from './childServer.js';
import { sleep } from './stats.js';
import { closeClients, connectClients } from './wireClients.js';

export interface ConnectionMemory {
  emptyMB: number;
  fullMB: number;
  /** (fullMB - emptyMB) / count, in KB. */
  perConnectionKB: number;
}

export async function measureConnectionMemory(relay: Pick<ChildRelay, 'url' | 'pid'>, count: number): Promise<ConnectionMemory> {
  await sleep(200);
  const emptyMB = rssMB(relay.pid);
  const clients = await connectClients(relay.url, count);
  try {
    // Let the relay finish the joins' fan-out (every join tells every member) before reading.
    await sleep(1000);
    const fullMB = rssMB(relay.pid);
    return { emptyMB, fullMB, perConnectionKB: ((fullMB - emptyMB) * 1024) / count };
  } finally {
    closeClients(clients);
  }
}
