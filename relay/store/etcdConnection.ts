/**
 * The etcd3 client for the relay's store, and the check at start that etcd answers at all: a
 * relay that cannot reach its store must say so and exit (code 4), not start serving rings it
 * cannot claim.
 */
import { Etcd3 } from 'etcd3';
import { StoreUnreachableError } from './storeErrors.js';

export interface EtcdConnectionOptions {
  endpoints: string[];
  /** How long the first answer may take before the relay gives up. */
  connectTimeoutMs: number;
  /** How long any one request (not a stream) may take: a request that hangs must not hold a ring's record forever. */
  callTimeoutMs: number;
}

export async function connectEtcd({ endpoints, connectTimeoutMs, callTimeoutMs }: EtcdConnectionOptions): Promise<Etcd3> {
  const client = new Etcd3({
    hosts: endpoints,
    dialTimeout: connectTimeoutMs,
    // Streams (watch, keep-alive) live as long as the relay; every other call gets a deadline.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
  try {
    // A linearizable read needs a quorum: a member cut off from the others does not pass it.
    await client.get('ringleader-reachability-check').options({ deadline: Date.now() + connectTimeoutMs }).exists();
  } catch (error) {
    client.close();
    throw new StoreUnreachableError(`cannot reach etcd at ${endpoints.join(', ')} (${(error as Error).message}); is etcd running there, and is --store right?`);
  }
  return client;
}
