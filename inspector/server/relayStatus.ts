/**
 * Reads the relay's GET /status (members in ring order, leader) about once a second, so the page
 * shows membership even when the relay does not stream its machine to /inspect. A relay that is
 * down or answers nonsense is reported as unreachable (null), never as an error.
 */
import { isValidClientId } from '../../machines/protocol.js';
import type { Logger } from '../../runtime/logger.js';
import { INGEST_LIMITS } from './ingest.js';
import type { LeaderView } from './messages.js';
import type { RelayStatus } from './ringModel.js';

export const STATUS_INTERVAL_MS = 1000;

export interface PollerOptions {
  relayUrl: string;
  token: string;
  logger: Logger;
  onStatus(status: RelayStatus | null): void;
}

/** http://host:port/status for ws://host:port/ (and https for wss). */
export function statusUrlOf(relayUrl: string): string | null {
  try {
    const url = new URL(relayUrl);
    url.protocol = url.protocol === 'wss:' || url.protocol === 'https:' ? 'https:' : 'http:';
    url.pathname = '/status';
    url.search = '';
    return url.toString();
  } catch {
    return null;
  }
}

/** The members (ids, or objects with an id) and leader of a /status body; null when it is not one, or lists more members than the inspector keeps. */
export function parseRelayStatus(body: unknown): RelayStatus | null {
  if (!body || typeof body !== 'object') return null;
  const record = body as { members?: unknown; leader?: unknown };
  if (!Array.isArray(record.members) || record.members.length > INGEST_LIMITS.listEntries) return null;
  const members = record.members
    .map((member: unknown) => (typeof member === 'string' ? member : member && typeof member === 'object' ? (member as { id?: unknown }).id : undefined))
    .filter(isValidClientId);
  const leader = record.leader as Partial<Record<keyof LeaderView, unknown>> | null | undefined;
  const validLeader = leader && isValidClientId(leader.id) && isCount(leader.rank) && isCount(leader.term) ? { id: leader.id, rank: leader.rank, term: leader.term } : null;
  return { members, leader: validLeader };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function startRelayStatusPoller({ relayUrl, token, logger, onStatus }: PollerOptions): { stop(): void } {
  const statusUrl = statusUrlOf(relayUrl);
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let reachable: boolean | null = null;
  if (statusUrl === null) return { stop() {} };

  const poll = async () => {
    let status: RelayStatus | null = null;
    try {
      const response = await fetch(statusUrl, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(STATUS_INTERVAL_MS),
      });
      if (response.ok) status = parseRelayStatus(await response.json());
    } catch {
      status = null;
    }
    if (stopped) return;
    if ((status !== null) !== reachable) {
      reachable = status !== null;
      logger.info({ statusUrl, reachable }, reachable ? 'relay status reachable' : 'relay status unreachable');
    }
    try {
      onStatus(status);
    } finally {
      // Whatever onStatus did, the next poll comes.
      timer = setTimeout(() => void poll().catch(() => {}), STATUS_INTERVAL_MS);
    }
  };
  void poll().catch(() => {});
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
