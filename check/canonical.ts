/**
 * The canonical text of a world, and its hash: two worlds with the same text have the same
 * future (the same steps enabled, leading to worlds with the same texts), so the search visits
 * each text once.
 *
 * What makes it canonical: machine states are interned numbers (their counters already rebased,
 * check/actors.ts); timers are listed by ticks left, ties in the order they were set (the only
 * order that can matter: ties fire in set order when a frozen process thaws); frames are written
 * with sorted keys. What it leaves out: nothing a future step reads. (Node permutations are not
 * folded together: ranks and ids make processes differ, and the ring order is join order.)
 */
import { canonicalJson } from './canonicalJson.js';
import type { Message, Process, Timer, World } from './world.js';

const frameText = new WeakMap<object, string>();

function textOfFrame(frame: object): string {
  let text = frameText.get(frame);
  if (text === undefined) {
    text = canonicalJson(frame);
    frameText.set(frame, text);
  }
  return text;
}

function textOfMessage(message: Message): string {
  switch (message.kind) {
    case 'frame':
      return `F${message.due}${message.owner === undefined ? '' : `@${message.owner}`}${textOfFrame(message.frame)}`;
    case 'pong':
      return `P${message.due}:${message.seq}`;
    case 'upgrade':
      return `U${message.due}:${message.resume ?? ''}`;
    case 'closed':
      return `C${message.due}`;
    case 'fin':
      return `X${message.due}`;
  }
}

/**
 * Timers by ticks left; a stable sort keeps ties in the order they were set. The id names the
 * event in every timer these machines set (`xstate.after.*`, `heartbeat`, `lease:<seq>`,
 * `forward:<holder>:<serial>`), so the event itself is left out.
 *
 * A frozen process's overdue timers (0 or less) only matter by their order: on thaw they fire
 * most overdue first, and ticks move them all alike. So they are written as their rank (the
 * latest 0, the one before -1, ...), and a freeze of any length ends in finitely many states.
 */
function textOfTimers(timers: readonly Timer[], frozen: boolean): string {
  const sorted = timers.length < 2 ? timers : [...timers].sort((a, b) => a.left - b.left);
  if (!frozen || sorted.length === 0 || sorted[0]!.left > 0) return sorted.map((timer) => `${timer.id}=${timer.left}`).join(',');
  const overdue = [...new Set(sorted.filter((timer) => timer.left <= 0).map((timer) => timer.left))];
  return sorted.map((timer) => `${timer.id}=${timer.left > 0 ? timer.left : overdue.indexOf(timer.left) - overdue.length + 1}`).join(',');
}

/**
 * A process's hash, kept on it: processes are never changed once a step is over (check/world.ts
 * `Draft`), so it is computed once per process, not once per world that shares it.
 */
function hashOfProcess(process: Process): string {
  if (process.hash === undefined) process.hash = hash128(writeProcess(process));
  return process.hash;
}

function writeProcess(process: Process): string {
  const sockets = process.sockets
    .map(
      (socket) =>
        `<${socket.relay[0]}${socket.id ?? ''}${socket.nodeOpen ? 'o' : ''}${socket.alive ? 'a' : ''}${socket.pinged ? 'p' : ''}${socket.cut ? 'x' : ''}` +
        `|${socket.up.map(textOfMessage).join(';')}|${socket.down.map(textOfMessage).join(';')}>`,
    )
    .join('');
  if (process.status !== 'running') return `${process.status}${sockets}`;
  return `${process.machine}/${process.frozen ? 'F' : ''}/${process.connectIn}/${process.closing ? 1 : 0}/${process.resume ?? ''}/${textOfTimers(process.timers, process.frozen)}${sockets}`;
}

function relayText(world: World): string {
  return `${world.faultsLeft}|${world.relay.machine}/${world.relay.heartbeatIn}/${textOfTimers(world.relay.timers, false)}`;
}

/**
 * The key the search keeps per state: a 106-bit hash of the relay's part and each process's hash
 * (a collision, which would wrongly merge two states, is about as likely as 2^-60 over a run of
 * tens of millions of states). Short and flat, so a million keys take tens of megabytes.
 */
export function hashWorld(world: World): string {
  let key = relayText(world);
  for (const process of world.processes) key += `|${hashOfProcess(process)}`;
  return hash128(key);
}

/** Two independent 53-bit hashes (cyrb53) of `text`, as one string. */
export function hash128(text: string): string {
  return cyrb53(text, 0x9e3779b9).toString(36) + ':' + cyrb53(text, 0x85ebca6b).toString(36);
}

function cyrb53(text: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
