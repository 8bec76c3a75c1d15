/**
 * Reads the relay's GET /status (members in ring order, leader) about once a second, so the page
 * shows membership even when the relay does not stream its machine to /inspect; and GET /rings,
 * for the page's ring picker, with `/status?ring=<name>` for each ring a page has picked. A relay
 * that is down or answers nonsense (or a body over RELAY_BODY_LIMIT_BYTES) is reported as
 * unreachable (null), never as an error. Given several relays (one store, issue 23), it reads
 * one; when that one does not answer, the next.
 */
import { DEFAULT_RING, isValidClientId, isValidRingName } from '../../machines/protocol.js';
import type { Logger } from '../../runtime/logger.js';
import { readCappedJson } from './cappedJson.js';
import { INGEST_LIMITS } from './ingest.js';
import type { LeaderView, RingSummaryView } from './messages.js';
import type { RelayStatus } from './ringModel.js';

export const STATUS_INTERVAL_MS = 1000;

/** The most rings the picker lists (the relay keeps up to 1,000 by default). */
export const RING_LIST_LIMIT = 1000;

/**
 * The largest /status or /rings body the inspector reads. A /status it can use lists at most
 * INGEST_LIMITS.listEntries members, each with at most a 1 KB meta and a hostname (under 2 MB);
 * /rings lists at most 1,000 rings (about 200 KB). Anything larger is treated as unreachable.
 */
export const RELAY_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface PollerOptions {
  relayUrl: string | readonly string[];
  token: string;
  logger: Logger;
  /** The default ring's status (what the model is fed). */
  onStatus(status: RelayStatus | null): void;
  /** The rings pages have picked besides the default: their status is read too. */
  pickedRings?(): Iterable<string>;
  onRingStatus?(ring: string, status: RelayStatus | null): void;
  /** The relay's rings (null: unreachable, or an older relay without /rings). */
  onRings?(rings: RingSummaryView[] | null): void;
}

/** http://host:port/status for ws://host:port/ (and https for wss); `?ring=` for a named ring; `/rings` with `path`. */
export function statusUrlOf(relayUrl: string, ring: string = DEFAULT_RING, path: '/status' | '/rings' = '/status'): string | null {
  try {
    const url = new URL(relayUrl);
    url.protocol = url.protocol === 'wss:' || url.protocol === 'https:' ? 'https:' : 'http:';
    url.pathname = path;
    url.search = path === '/status' && ring !== DEFAULT_RING ? `?ring=${encodeURIComponent(ring)}` : '';
    return url.toString();
  } catch {
    return null;
  }
}

/** The rings of a /rings body (names valid, counts and leader checked); null when it is not one. */
export function parseRingList(body: unknown): RingSummaryView[] | null {
  if (!Array.isArray(body)) return null;
  const rings: RingSummaryView[] = [];
  for (const entry of body.slice(0, RING_LIST_LIMIT)) {
    if (!entry || typeof entry !== 'object') continue;
    const { name, members, leader } = entry as { name?: unknown; members?: unknown; leader?: unknown };
    if (!isValidRingName(name) || !isCount(members)) continue;
    rings.push({ name, members, leader: leaderOf(leader) });
  }
  return rings;
}

function leaderOf(value: unknown): LeaderView | null {
  const leader = value as Partial<Record<keyof LeaderView, unknown>> | null | undefined;
  return leader && isValidClientId(leader.id) && isCount(leader.rank) && isCount(leader.term) ? { id: leader.id, rank: leader.rank, term: leader.term } : null;
}

/** The members (ids, or objects with an id) and leader of a /status body; null when it is not one, or lists more members than the inspector keeps. */
export function parseRelayStatus(body: unknown): RelayStatus | null {
  if (!body || typeof body !== 'object') return null;
  const record = body as { members?: unknown; leader?: unknown };
  if (!Array.isArray(record.members) || record.members.length > INGEST_LIMITS.listEntries) return null;
  const members = record.members
    .map((member: unknown) => (typeof member === 'string' ? member : member && typeof member === 'object' ? (member as { id?: unknown }).id : undefined))
    .filter(isValidClientId);
  return { members, leader: leaderOf(record.leader) };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export interface RelayStatusPoller {
  /** One ring's status now, for a request about a ring no page watches. */
  readStatus(ring: string): Promise<RelayStatus | null>;
  stop(): void;
}

export function startRelayStatusPoller(options: PollerOptions): RelayStatusPoller {
  const { token, logger, onStatus } = options;
  const relays = typeof options.relayUrl === 'string' ? [options.relayUrl] : [...options.relayUrl];
  let current = 0;
  const relayUrl = (): string => relays[current]!;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let reachable: boolean | null = null;
  if (relays.some((relay) => statusUrlOf(relay) === null)) return { readStatus: async () => null, stop() {} };
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const read = async <T>(url: string | null, parse: (body: unknown) => T | null): Promise<T | null> => {
    if (url === null) return null;
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(STATUS_INTERVAL_MS) });
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        return null;
      }
      return parse(await readCappedJson(response, RELAY_BODY_LIMIT_BYTES));
    } catch {
      return null;
    }
  };

  const poll = async () => {
    const picked = [...(options.pickedRings?.() ?? [])].filter((ring) => ring !== DEFAULT_RING);
    const statusUrl = statusUrlOf(relayUrl());
    const [status, rings, ...others] = await Promise.all([
      read(statusUrl, parseRelayStatus),
      options.onRings ? read(statusUrlOf(relayUrl(), DEFAULT_RING, '/rings'), parseRingList) : null,
      ...picked.map((ring) => read(statusUrlOf(relayUrl(), ring), parseRelayStatus)),
    ]);
    if (stopped) return;
    if ((status !== null) !== reachable) {
      reachable = status !== null;
      logger.info({ statusUrl, reachable }, reachable ? 'relay status reachable' : 'relay status unreachable');
    }
    // This relay does not answer: the next poll reads the next one of the list.
    if (status === null && relays.length > 1) current = (current + 1) % relays.length;
    try {
      onStatus(status);
      options.onRings?.(rings);
      picked.forEach((ring, index) => options.onRingStatus?.(ring, others[index] ?? null));
    } finally {
      // Whatever the callbacks did, the next poll comes.
      timer = setTimeout(() => void poll().catch(() => {}), STATUS_INTERVAL_MS);
    }
  };
  void poll().catch(() => {});
  return {
    readStatus: (ring) => read(statusUrlOf(relayUrl(), ring), parseRelayStatus),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
