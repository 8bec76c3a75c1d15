/**
 * Bare WebSocket clients (no node machine) that speak just enough of the protocol to be routed:
 * they read their id from the first frame (`welcome`) and send valid `checkLeader` frames, which
 * both the raw and the real relay forward by `to` without looking further. They measure the
 * transport: one hop, a token's lap, and throughput.
 */
import { WebSocket } from 'ws';
import { performance } from 'node:perf_hooks';

export interface WireClient {
  id: string;
  socket: WebSocket;
  /** Replaces the handler for frames after `welcome` (text as received). */
  onFrame(handler: (text: string) => void): void;
  close(): void;
}

export function connectClient(url: string, timeoutMs = 20_000): Promise<WireClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    let handler: (text: string) => void = () => {};
    let welcomed = false;
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no welcome from ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('message', (data) => {
      const text = data.toString();
      if (!welcomed) {
        welcomed = true;
        clearTimeout(timer);
        const id = (JSON.parse(text) as { clientId: string }).clientId;
        resolve({
          id,
          socket,
          onFrame: (next) => {
            handler = next;
          },
          close: () => socket.terminate(),
        });
        return;
      }
      handler(text);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (!welcomed) reject(error);
    });
  });
}

/** Connects `count` clients, `parallel` at a time, in join order. */
export async function connectClients(url: string, count: number, parallel = 25): Promise<WireClient[]> {
  const clients: WireClient[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = await Promise.all(Array.from({ length: Math.min(parallel, count - start) }, () => connectClient(url)));
    clients.push(...batch);
  }
  return clients;
}

export function closeClients(clients: readonly WireClient[]): void {
  for (const client of clients) client.close();
}

/** A routable frame both relays accept and forward unchanged (apart from the real relay's `from`). */
export function probeFrame(to: string, nonce: string): string {
  return JSON.stringify({ type: 'checkLeader', to, nonce });
}

/** Milliseconds for one frame A -> relay -> B, measured `count` times one after another. */
export async function measureHops(url: string, count: number): Promise<number[]> {
  const [sender, receiver] = await connectClients(url, 2, 1);
  const samples: number[] = [];
  try {
    for (let index = 0; index < count; index += 1) {
      const nonce = `hop${index}`;
      const arrived = new Promise<number>((resolve) => {
        receiver!.onFrame((text) => {
          if (text.includes(`"${nonce}"`)) resolve(performance.now());
        });
      });
      const sentAt = performance.now();
      sender!.socket.send(probeFrame(receiver!.id, nonce));
      samples.push((await withTimeout(arrived, 10_000, `hop ${index}`)) - sentAt);
    }
  } finally {
    sender!.close();
    receiver!.close();
  }
  return samples;
}

/**
 * A token passed to `next` by every client until it is back at the first: one lap of the ring,
 * the floor under an election lap of the same size. Every client forwards the same text, so
 * the clients add no work beyond receiving and sending.
 */
/** Only the token is passed on: the real relay also sends `ring` frames, which must not multiply it. */
const isToken = (text: string) => text.includes('"lap"');

export async function measureLaps(clients: readonly WireClient[], laps: number): Promise<number[]> {
  const token = probeFrame('next', 'lap');
  const [origin, ...others] = clients;
  if (!origin || others.length === 0) throw new Error('measureLaps: a lap needs at least two clients');
  for (const client of others) client.onFrame((text) => isToken(text) && client.socket.send(token));
  return timeLaps(origin, clients.length, laps);
}

/**
 * Sends the token from `origin` and times its return, `laps` times; the rest of the ring (bare
 * clients here, or token-passer processes) sends it on.
 */
export async function timeLaps(origin: WireClient, size: number, laps: number): Promise<number[]> {
  const token = probeFrame('next', 'lap');
  const samples: number[] = [];
  for (let lap = 0; lap < laps; lap += 1) {
    const back = new Promise<number>((resolve) => origin.onFrame((text) => isToken(text) && resolve(performance.now())));
    const sentAt = performance.now();
    origin.socket.send(token);
    samples.push((await withTimeout(back, 60_000, `lap ${lap} of ${size}`)) - sentAt);
  }
  return samples;
}

/** A growing lap's frame: the protocol's `election` shape, which both relays route by `to`. */
const isGrowingLap = (text: string) => text.startsWith('{"type":"election"');

/** An entry of a growing lap's list (the protocol's `Candidate`). */
export interface LapEntry {
  id: string;
  rank: number;
}

/** A growing lap's first frame, from `origin`. */
function firstLapFrame(origin: WireClient, term: number): string {
  return JSON.stringify({ type: 'election', to: 'next', term, initiator: origin.id, eligible: [{ id: origin.id, rank: 0 }] });
}

/** A bare client's share of a growing lap: its own `{id, rank}` appended, and the frame sent on (its `to` unchanged). */
export function appendAndPass(client: WireClient, frame: { eligible: LapEntry[] }, rank: number): void {
  frame.eligible.push({ id: client.id, rank });
  client.socket.send(JSON.stringify(frame));
}

/** The entry a bare client's lap elects: the highest rank. */
export function highestRanked(eligible: readonly LapEntry[]): LapEntry {
  return eligible.reduce((best, entry) => (entry.rank > best.rank ? entry : best));
}

/**
 * The seed's rule on bare clients: an `election`-shaped frame sent to `next`, and every client
 * parses it, appends its own `{id, rank}` to `eligible` and sends the result on, until it is back
 * at the first. No machine, no checks: the floor for an election lap, which must carry the same
 * growing list (O(N²) bytes a lap).
 */
export async function measureGrowingLaps(clients: readonly WireClient[], laps: number): Promise<number[]> {
  const [origin, ...others] = clients;
  if (!origin || others.length === 0) throw new Error('measureGrowingLaps: a lap needs at least two clients');
  others.forEach((client, index) =>
    client.onFrame((text) => {
      if (isGrowingLap(text)) appendAndPass(client, JSON.parse(text) as { eligible: LapEntry[] }, index + 1);
    }),
  );
  const samples: number[] = [];
  for (let lap = 0; lap < laps; lap += 1) {
    const back = new Promise<number>((resolve) => origin.onFrame((text) => isGrowingLap(text) && resolve(performance.now())));
    const sentAt = performance.now();
    origin.socket.send(firstLapFrame(origin, lap + 1));
    samples.push((await withTimeout(back, 120_000, `growing lap ${lap} of ${clients.length}`)) - sentAt);
  }
  return samples;
}

const isAnnouncement = (text: string) => text.startsWith('{"type":"newLeader"');

/**
 * A growing lap that ends as `election.lap.N` does: when every member knows the winner. Back at
 * the first client, the highest `{id, rank}` of the frame is sent to `all` as a `newLeader`, and
 * the lap is timed until the last of the others has read it. The floor for an election lap
 * with the announcement the protocol requires.
 */
export async function measureAnnouncedLaps(clients: readonly WireClient[], laps: number): Promise<number[]> {
  const [origin, ...others] = clients;
  if (!origin || others.length === 0) throw new Error('measureAnnouncedLaps: a lap needs at least two clients');
  let unread = 0;
  let allRead: (at: number) => void = () => {};
  others.forEach((client, index) =>
    client.onFrame((text) => {
      if (isGrowingLap(text)) appendAndPass(client, JSON.parse(text) as { eligible: LapEntry[] }, index + 1);
      else if (isAnnouncement(text)) {
        JSON.parse(text);
        unread -= 1;
        if (unread === 0) allRead(performance.now());
      }
    }),
  );
  origin.onFrame((text) => {
    if (!isGrowingLap(text)) return;
    const frame = JSON.parse(text) as { term: number; eligible: LapEntry[] };
    const winner = highestRanked(frame.eligible);
    origin.socket.send(JSON.stringify({ type: 'newLeader', to: 'all', leaderId: winner.id, rank: winner.rank, term: frame.term }));
  });
  const samples: number[] = [];
  for (let lap = 0; lap < laps; lap += 1) {
    unread = others.length;
    const done = new Promise<number>((resolve) => {
      allRead = resolve;
    });
    const sentAt = performance.now();
    origin.socket.send(firstLapFrame(origin, lap + 1));
    samples.push((await withTimeout(done, 120_000, `announced lap ${lap} of ${clients.length}`)) - sentAt);
  }
  return samples;
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
