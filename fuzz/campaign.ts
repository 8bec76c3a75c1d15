/**
 * The fuzzing itself: keeps `connections` fuzz members on the relay and `streams` fuzz streams on
 * the inspector, replacing each one that leaves or is thrown out (so the pressure stays on after
 * a 4029 or a 1009), until the run's budget of messages is spent; then closes them all.
 */
import { Rng } from '../sim/rng.js';
import { Budget } from './budget.js';
import { InspectStream } from './inspectStream.js';
import { RingMember, type MemberBehaviour, type RingMemberTallies } from './ringMember.js';
import { Tally } from './tally.js';

export interface CampaignOptions {
  relayUrl: string;
  ingestUrl: string;
  seed: number;
  /** Messages to send in all, to the relay and the inspector together. */
  messages: number;
  connections: number;
  streams: number;
  /** Frames per second of a paced member; the relay's limit is above it. */
  ratePerSecond: number;
  inspectRatePerSecond: number;
  maxPayloadBytes: number;
  /** The relay's burst: a flooder sends a few of them' worth before it is thrown out. */
  rateBurst: number;
  /** The real members' ids, for streams that pose as one of them. */
  members: () => readonly string[];
  /** Called every `progressEveryMs` while fuzzing. */
  onProgress?: (progress: CampaignProgress) => void;
  progressEveryMs?: number;
}

export interface CampaignProgress {
  sent: number;
  total: number;
  elapsedMs: number;
  /** Messages per second since the previous report. */
  rate: number;
}

export interface CampaignResult {
  sent: Tally;
  /** How fuzz sockets ended, "relay:4029", "inspector:1009", ... */
  closes: Tally;
  /** Error frames the relay sent back, by code. */
  errors: Tally;
  /** Fuzz members opened, by behaviour. */
  members: Tally;
  streams: number;
  elapsedMs: number;
  /** Set when nothing could be sent for STALL_MS (the relay or inspector stopped taking connections). */
  stalled: boolean;
}

const TICK_MS = 10;
/** Fuzz members' behaviours, drawn with these weights: flooders use up a burst's worth of budget each. */
const BEHAVIOUR_WEIGHTS: Record<MemberBehaviour, number> = { paced: 63, flooder: 3, silent: 17, stalled: 17 };
/** How long closing every fuzz socket may take before the run gives up on a polite close. */
const CLOSE_TIMEOUT_MS = 10_000;
/** A run that could send nothing for this long stops and says so. */
const STALL_MS = 30_000;

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const master = new Rng(options.seed);
  const budget = new Budget(options.messages, Math.max(2, Math.floor(options.messages / 4000)));
  const tallies: RingMemberTallies = { sent: new Tally(), closes: new Tally(), errors: new Tally() };
  const opened = new Tally();
  let streamsOpened = 0;
  const members: (RingMember | null)[] = Array.from({ length: options.connections }, () => null);
  const streams: (InspectStream | null)[] = Array.from({ length: options.streams }, () => null);

  const newMember = () => {
    const rng = new Rng(master.seed());
    const behaviour = weighted(rng, BEHAVIOUR_WEIGHTS);
    opened.add(behaviour);
    return new RingMember({ url: options.relayUrl, rng, behaviour, ratePerSecond: options.ratePerSecond, maxPayloadBytes: options.maxPayloadBytes, rateBurst: options.rateBurst, tallies });
  };
  const newStream = () => {
    streamsOpened += 1;
    return new InspectStream({ ingestUrl: options.ingestUrl, rng: new Rng(master.seed()), ratePerSecond: options.inspectRatePerSecond, members: options.members(), tallies });
  };

  const started = Date.now();
  let last = started;
  let lastProgress = { at: started, sent: 0 };
  const progressEveryMs = options.progressEveryMs ?? 3000;
  let lastSend = { at: started, spent: 0 };
  let stalled = false;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      const elapsed = now - last;
      last = now;
      refill(members, newMember);
      refill(streams, newStream);
      for (const member of members) member?.tick(elapsed, budget);
      for (const stream of streams) stream?.tick(elapsed, budget);
      if (options.onProgress && now - lastProgress.at >= progressEveryMs) {
        const rate = ((budget.spent - lastProgress.sent) * 1000) / (now - lastProgress.at);
        options.onProgress({ sent: budget.spent, total: budget.total, elapsedMs: now - started, rate });
        lastProgress = { at: now, sent: budget.spent };
      }
      if (budget.spent !== lastSend.spent) lastSend = { at: now, spent: budget.spent };
      stalled = now - lastSend.at > STALL_MS;
      if (budget.exhausted || stalled) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
    function refill<T extends { isClosed: boolean }>(slots: (T | null)[], make: () => T): void {
      if (budget.exhausted) return;
      for (let index = 0; index < slots.length; index += 1) if (slots[index] === null || slots[index]!.isClosed) slots[index] = make();
    }
  });

  const open = [...members, ...streams].filter((socket) => socket !== null && !socket.isClosed) as (RingMember | InspectStream)[];
  await Promise.race([Promise.all(open.map((socket) => socket.close())), new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
  return { sent: tallies.sent, closes: tallies.closes, errors: tallies.errors, members: opened, streams: streamsOpened, elapsedMs: Date.now() - started, stalled };
}

function weighted<K extends string>(rng: Rng, weights: Record<K, number>): K {
  const entries = Object.entries(weights) as [K, number][];
  let roll = rng.next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [key, weight] of entries) {
    roll -= weight;
    if (roll < 0) return key;
  }
  return entries[entries.length - 1]![0];
}
