/**
 * The relay's CPU per frame with no sockets, next to the raw relay's work on the same text:
 * text → parseClientFrame → a ring's RingHost and relay machine → the framed message, against
 * JSON.parse(text).to + framing the text (what bench/rawRelay.ts does per frame). Best of 6
 * rounds of `process.cpuUsage()`. Not part of `npm run bench`: a tool for work on the relay's
 * per-frame cost (bench/README.md, "The relay's side of a hop").
 *
 *   npm run build && node dist/bench/relayStep.js [addressed|election]
 */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parseClientFrame } from '../machines/protocol.js';
import type { Logger } from '../runtime/logger.js';
import { DEFAULT_LIMITS, effectiveLimits } from '../relay/limits.js';
import { LineBudget } from '../relay/lineBudget.js';
import { RelayMetrics } from '../relay/metrics.js';
import { textMessage } from '../relay/outbox.js';
import { RingHost, type Carrier, type RingConnection } from '../relay/ringHost.js';

let written = 0;
const carrier: Carrier<RingConnection> = {
  write: () => {
    written += 1;
  },
  reject: (_connection, code, detail) => {
    throw new Error(`the relay rejected a frame: ${code}: ${detail}`);
  },
  turnAway: () => {
    throw new Error('the relay turned a member away');
  },
  leaveFields: () => ({}),
};

function ringOf(size: number): { ring: RingHost<RingConnection>; members: RingConnection[] } {
  // A forward timeout no lap here reaches: the timers are armed and cancelled, never fired.
  const limits = effectiveLimits({ ...DEFAULT_LIMITS, forwardTimeoutMs: 600_000 });
  const ring = new RingHost<RingConnection>('default', limits, carrier, pino({ level: 'silent' }) as Logger, new RelayMetrics());
  const members: RingConnection[] = [];
  for (let index = 0; index < size; index += 1) {
    const member: RingConnection = { serial: index + 1, id: null, remote: '127.0.0.1', lines: new LineBudget() };
    ring.connect(member, { resume: null, host: null, role: 'member', meta: null });
    members.push(member);
  }
  return { ring, members };
}

/** What relay/connections.ts does with a text message, then the ring. */
function relayFrame(ring: RingHost<RingConnection>, member: RingConnection, data: Buffer): void {
  const text = data.toString();
  const parsed = parseClientFrame(text);
  if (!parsed.ok) throw new Error(parsed.detail);
  ring.frame(member, parsed.frame, { text, data });
}

/** What the raw relay does with one. */
function rawFrame(data: Buffer): void {
  const text = data.toString();
  if (typeof (JSON.parse(text) as { to?: unknown }).to === 'string') {
    textMessage(text);
    written += 1;
  }
}

function cpuMs(body: () => void): number {
  const start = process.cpuUsage();
  body();
  const spent = process.cpuUsage(start);
  return (spent.user + spent.system) / 1000;
}

function bestOf(rounds: number, body: () => { relay: number; raw: number }): { relay: number; raw: number } {
  let best = { relay: Infinity, raw: Infinity };
  for (let round = 0; round < rounds; round += 1) {
    const { relay, raw } = body();
    best = { relay: Math.min(best.relay, relay), raw: Math.min(best.raw, raw) };
  }
  return best;
}

/** `checkLeader` frames addressed by id around the ring: the throughput load's frames. */
function addressed(size: number, frames: number): void {
  const { ring, members } = ringOf(size);
  const texts = members.map((_, index) => Buffer.from(JSON.stringify({ type: 'checkLeader', to: members[(index + 1) % size]!.id, nonce: 'load' })));
  const best = bestOf(6, () => ({
    relay: cpuMs(() => {
      for (let index = 0; index < frames; index += 1) relayFrame(ring, members[index % size]!, texts[index % size]!);
    }),
    raw: cpuMs(() => {
      for (let index = 0; index < frames; index += 1) rawFrame(texts[index % size]!);
    }),
  }));
  ring.stop();
  const perFrame = (ms: number) => ((ms * 1000) / frames).toFixed(2);
  console.log(`checkLeader by id, N=${size}: relay ${perFrame(best.relay)} µs/frame, raw ${perFrame(best.raw)} µs/frame (${(best.relay / best.raw).toFixed(2)}x)`);
}

/** A lap's frames: each member passes the growing election frame to `next`, then the winner announces. */
function lapFrames(ids: string[], term: number): Buffer[] {
  const eligible: Array<{ id: string; rank: number }> = [];
  const frames: Buffer[] = [];
  for (let index = 0; index < ids.length; index += 1) {
    eligible.push({ id: ids[index]!, rank: 1000 + index });
    frames.push(Buffer.from(JSON.stringify({ type: 'election', to: 'next', initiator: ids[0], term, eligible })));
  }
  frames.push(Buffer.from(JSON.stringify({ type: 'newLeader', to: 'all', leaderId: ids.at(-1), rank: 1000 + ids.length - 1, term })));
  return frames;
}

function election(size: number, laps: number): void {
  const { ring, members } = ringOf(size);
  const ids = members.map((member) => member.id!);
  let term = 1;
  const best = bestOf(6, () => {
    const rounds = Array.from({ length: laps }, () => lapFrames(ids, term++));
    return {
      relay: cpuMs(() => {
        for (const lap of rounds) lap.forEach((frame, index) => relayFrame(ring, members[Math.min(index, size - 1)]!, frame));
      }) / laps,
      raw: cpuMs(() => {
        for (const lap of rounds) lap.forEach((frame) => rawFrame(frame));
      }) / laps,
    };
  });
  ring.stop();
  console.log(
    `election lap, N=${size}: relay ${best.relay.toFixed(3)} ms/lap (${((best.relay * 1000) / (size + 1)).toFixed(1)} µs/hop), raw ${best.raw.toFixed(3)} ms/lap (${(best.relay / best.raw).toFixed(2)}x)`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const which = process.argv[2] ?? 'all';
  if (which === 'all' || which === 'addressed') {
    addressed(10, 100_000);
    addressed(1000, 100_000);
  }
  if (which === 'all' || which === 'election') {
    election(10, 2000);
    election(100, 100);
    election(1000, 3);
  }
  if (written === 0) throw new Error('nothing was delivered');
}
