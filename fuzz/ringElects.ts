/**
 * Whether a relay still does its job: two fresh nodes join a ring of their own on it and agree on
 * a leader within the deadline. The surface fuzzer asks after every batch of requests, and the
 * tests ask after a request that once killed the relay.
 */
import { pino } from 'pino';
import { joinRing, type RingNode } from '../node/joinRing.js';
import { checkAgreement } from '../runtime/agreement.js';

/** Short timers: a first election among two fresh nodes takes well under a second. */
const TIMING = { checkIntervalMs: 200, leaderTimeoutMs: 2000, electionTimeoutMs: 800 } as const;

/** Null when two nodes on `ring` agreed on a leader within `timeoutMs`; else why not. */
export async function ringElects(relayUrl: string, ring: string, timeoutMs = 20_000): Promise<string | null> {
  const logger = pino({ level: 'silent' });
  const nodes: RingNode[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    for (const rank of [1, 2]) nodes.push(await joinRing({ relay: relayUrl, ring, rank, logger, timing: TIMING, connectTimeoutMs: timeoutMs }));
    let why = 'no agreement yet';
    while (Date.now() < deadline) {
      const verdict = checkAgreement(nodes.map((node) => ({ id: node.id, leader: node.leader(), leading: node.isLeader() })));
      if (verdict.agreed) return null;
      why = verdict.why;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return `ring ${ring} elected no leader within ${timeoutMs} ms: ${why}`;
  } catch (error) {
    return `ring ${ring} could not be joined: ${(error as Error).message}`;
  } finally {
    await Promise.allSettled(nodes.map((node) => node.leave()));
  }
}
