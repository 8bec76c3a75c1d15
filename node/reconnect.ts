/**
 * What a node's connection remembers from one WebSocket to the next: the id to ask for again
 * (`?resume=`), and how many attempts have failed since the last `welcome` (for the backoff).
 * The real connection (node/relayConnection.ts) and the simulator's both keep one.
 */
import { DEFAULT_RING, type ClientId, type Meta, type Role, type WelcomeFrame } from '../machines/protocol.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';

/** What a connection tells the relay about itself when it joins. */
export interface JoinDetails {
  ring?: string | undefined;
  /** The id this node must have (`?id=`), on every join: the relay refuses it (409) rather than give another. */
  id?: ClientId | undefined;
  role?: Role | undefined;
  host?: string | undefined;
  meta?: Meta | undefined;
}

export class ReconnectState {
  /** The id of the last `welcome`, asked for again on the next join. */
  resumeId: ClientId | null = null;
  /** Failed attempts since the last `welcome`. */
  attempt = 0;

  /**
   * The join URL: the relay's address (for a named ring, its path `/rings/<name>`), plus `?id=` for
   * a node with its own id, else `?resume=` once there is an id to ask for, `?role=observer` for an
   * observer, `?host=` and `?meta=`.
   */
  joinUrl(relay: string, join: JoinDetails = {}): URL {
    const url = new URL(relay);
    if (join.ring !== undefined && join.ring !== DEFAULT_RING) url.pathname = `/rings/${encodeURIComponent(join.ring)}`;
    if (join.id !== undefined) url.searchParams.set('id', join.id);
    else if (this.resumeId !== null) url.searchParams.set('resume', this.resumeId);
    if (join.role === 'observer') url.searchParams.set('role', 'observer');
    if (join.host !== undefined) url.searchParams.set('host', join.host);
    if (join.meta !== undefined) url.searchParams.set('meta', JSON.stringify(join.meta));
    return url;
  }

  /** A `welcome` arrived: remember the id, reset the backoff. True when the old id was granted. */
  welcomed(frame: WelcomeFrame): boolean {
    const resumed = this.resumeId === frame.clientId;
    this.resumeId = frame.clientId;
    this.attempt = 0;
    return resumed;
  }

  /** An attempt failed (or a link broke): how long to wait before the next one. */
  nextDelay(policy: BackoffPolicy, random: number): number {
    this.attempt += 1;
    return backoffDelay(this.attempt, policy, random);
  }
}
