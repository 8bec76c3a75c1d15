/**
 * The lease on a link to the relay, as plain arithmetic that both statecharts (node and
 * observer) turn into XState timers: which ping goes out next, which timers a pong cancels, and
 * whether a timer that fired ends the lease. Every ping gets a timer of one lease; a pong confirms
 * its ping (the link worked both ways when it was sent) and cancels the timers of older pings; the
 * timer of the latest confirmed ping, or of any later one, firing means no round trip has been
 * confirmed for a whole lease. The upgrade request counts as the first ping; `welcome` its pong.
 */

/** What a machine's context keeps of its lease. */
export interface LeaseState {
  /** Sequence number of the last ping (the upgrade request counts as one). */
  pingSeq: number;
  /** The latest ping whose pong came back. */
  confirmedSeq: number;
  /** An upgrade request went out (`relay.connecting`) and its timer runs as ping `pingSeq`. */
  handshaking: boolean;
}

/** A timer to start: the machine raises `{ type: 'lease.expired', seq }` after `delay`, with this `id`. */
export interface LeaseTimer {
  seq: number;
  id: string;
}

export const HEARTBEAT_TIMER = 'heartbeat';
export const NO_LEASE: LeaseState = { pingSeq: 0, confirmedSeq: 0, handshaking: false };

export function leaseTimerId(seq: number): string {
  return `lease:${seq}`;
}

/** An upgrade request went out: it is ping `pingSeq + 1`. */
export function startHandshake(lease: LeaseState): { lease: LeaseState; timer: LeaseTimer } {
  const seq = lease.pingSeq + 1;
  return { lease: { ...lease, pingSeq: seq, handshaking: true }, timer: { seq, id: leaseTimerId(seq) } };
}

/**
 * `welcome` answers the upgrade request: the handshake is the first confirmed round trip. A host
 * that did not report the request gets a lease counted from the welcome itself (a new timer).
 */
export function confirmHandshake(lease: LeaseState): { lease: LeaseState; timer: LeaseTimer | null } {
  if (lease.handshaking) return { lease: { ...lease, confirmedSeq: lease.pingSeq, handshaking: false }, timer: null };
  const seq = lease.pingSeq + 1;
  return { lease: { pingSeq: seq, confirmedSeq: seq, handshaking: false }, timer: { seq, id: leaseTimerId(seq) } };
}

/**
 * Whether the timer of ping `seq` ends a handshake still waiting for its welcome: the upgrade
 * request's round trip has taken a whole lease, which is what a dead link looks like once it is up.
 * A welcome that still came would be as stale as the frames queued behind it (a paused process
 * reads them all at once), so the link is dropped and dialled again rather than confirmed late.
 * A timer of an older request changes nothing.
 */
export function endsHandshake(lease: LeaseState, seq: number): boolean {
  return lease.handshaking && seq === lease.pingSeq;
}

/** The next heartbeat's ping. */
export function nextPing(lease: LeaseState): { lease: LeaseState; timer: LeaseTimer } {
  const seq = lease.pingSeq + 1;
  return { lease: { ...lease, pingSeq: seq }, timer: { seq, id: leaseTimerId(seq) } };
}

/** A pong for ping `seq`: it confirms that ping and every earlier one, whose timers no longer matter. Null for a stale or unknown pong. */
export function confirmPong(lease: LeaseState, seq: number): { lease: LeaseState; cancel: string[] } | null {
  if (seq <= lease.confirmedSeq || seq > lease.pingSeq) return null;
  const cancel: string[] = [];
  for (let older = Math.max(0, lease.confirmedSeq); older < seq; older += 1) cancel.push(leaseTimerId(older));
  return { lease: { ...lease, confirmedSeq: seq }, cancel };
}

/**
 * Whether the timer of ping `seq` ends the lease: it is the latest confirmed ping's, or a later
 * one's (a pong that comes after its ping's timer fired is too late to count).
 */
export function endsLease(lease: LeaseState, seq: number): boolean {
  return seq >= lease.confirmedSeq;
}

/** Every timer the link keeps, for when the link is gone: the next heartbeat and each waiting ping. */
export function linkTimers(lease: LeaseState): string[] {
  const ids = [HEARTBEAT_TIMER];
  for (let seq = Math.max(0, lease.confirmedSeq); seq <= lease.pingSeq; seq += 1) ids.push(leaseTimerId(seq));
  return ids;
}

/**
 * What a statechart's `enqueue` offers that the lease needs. Both machines hand theirs to the
 * functions below, so the timers are armed and cancelled the same way in each.
 */
export interface LeaseEffects {
  assign(lease: LeaseState): void;
  raise(event: { type: 'lease.expired'; seq: number }, options: { delay: number; id: string }): void;
  cancel(id: string): void;
}

/** The context a machine keeps for its lease: the state and the lease's length. */
export interface LeaseContext extends LeaseState {
  timing: { heartbeatTimeoutMs: number };
}

function arm(context: LeaseContext, timer: LeaseTimer | null, effects: LeaseEffects): void {
  if (timer !== null) effects.raise({ type: 'lease.expired', seq: timer.seq }, { delay: context.timing.heartbeatTimeoutMs, id: timer.id });
}

/** `relay.connecting`: the upgrade request is the lease's first ping. */
export function leaseOnConnecting(context: LeaseContext, effects: LeaseEffects): void {
  const { lease, timer } = startHandshake(context);
  effects.assign(lease);
  arm(context, timer, effects);
}

/** `welcome`: the handshake's round trip is confirmed (or a lease starts from it). */
export function leaseOnWelcome(context: LeaseContext, effects: LeaseEffects): void {
  const { lease, timer } = confirmHandshake(context);
  effects.assign(lease);
  arm(context, timer, effects);
}

/** A heartbeat: the next ping goes out with its timer. Returns the ping's sequence number, for the frame. */
export function leaseOnPing(context: LeaseContext, effects: LeaseEffects): number {
  const { lease, timer } = nextPing(context);
  effects.assign(lease);
  arm(context, timer, effects);
  return timer.seq;
}

/** `relay.pong`: confirms its ping and retires the timers of older ones. */
export function leaseOnPong(context: LeaseContext, seq: number, effects: LeaseEffects): void {
  const confirmed = confirmPong(context, seq);
  if (confirmed === null) return;
  for (const id of confirmed.cancel) effects.cancel(id);
  effects.assign(confirmed.lease);
}

/** The link is gone: every timer it kept ends. */
export function leaseOnLinkGone(context: LeaseContext, effects: LeaseEffects): void {
  for (const id of linkTimers(context)) effects.cancel(id);
}
