/**
 * Relay throughput: frames forwarded per second with many in flight. A circle of bare clients
 * passes `inFlight` tokens, each client to the next one by id, as fast as the relay delivers them
 * (each arrival is sent on at once), so the load is self-clocked: the relay is always busy and
 * nothing queues without bound. Tokens are addressed by id, not `next`, so that the load stays
 * among its own clients when node processes share the relay (the freeze benchmark's load).
 * The same load runs against the raw and the real relay.
 */
import { connectClients, closeClients, probeFrame, type WireClient } from './wireClients.js';
import { sleep } from './stats.js';

export interface ThroughputOptions {
  clients: number;
  /** Tokens circulating at once. */
  inFlight: number;
  warmupMs: number;
  measureMs: number;
}

export const DEFAULT_THROUGHPUT: ThroughputOptions = { clients: 10, inFlight: 200, warmupMs: 1000, measureMs: 3000 };

/** A running load: counts every arrival until stopped. */
export interface Load {
  received(): number;
  stop(): void;
}

export async function startLoad(url: string, options: Pick<ThroughputOptions, 'clients' | 'inFlight'>): Promise<Load> {
  const clients: WireClient[] = await connectClients(url, options.clients);
  const tokens = clients.map((_, index) => probeFrame(clients[(index + 1) % clients.length]!.id, 'load'));
  let received = 0;
  let running = true;
  clients.forEach((client, index) => {
    const token = tokens[index]!;
    client.onFrame((text) => {
      if (!running || !text.includes('"load"')) return;
      received += 1;
      client.socket.send(token);
    });
  });
  for (let index = 0; index < options.inFlight; index += 1) clients[index % clients.length]!.socket.send(tokens[index % clients.length]!);
  return {
    received: () => received,
    stop: () => {
      running = false;
      closeClients(clients);
    },
  };
}

/** Frames per second delivered over `measureMs`, after `warmupMs`. */
export async function measureThroughput(url: string, options: ThroughputOptions = DEFAULT_THROUGHPUT): Promise<number> {
  const load = await startLoad(url, options);
  try {
    await sleep(options.warmupMs);
    const before = load.received();
    const start = performance.now();
    await sleep(options.measureMs);
    return ((load.received() - before) * 1000) / (performance.now() - start);
  } finally {
    load.stop();
  }
}
