/**
 * The state of the modelled world: processes (each with its node machine's state, its timers and
 * its sockets), the relay (its machine's state, its timers, its heartbeat) and the fault budget
 * left. Everything a future step can depend on is here, and nothing else: no absolute time (timers
 * count the ticks they have left), no history. That is what makes two states that serialize alike
 * interchangeable, and so the search finite.
 *
 * Machine snapshots are not stored inline: `machine` is an index into the interning table of
 * check/actors.ts, so equal machine states share one number (cheap to copy and to hash).
 *
 * Worlds are never changed once built: a step copies what it changes (`Draft`); frames, timers
 * and messages are shared between worlds and never changed in place.
 */
import type { AnyEventObject } from 'xstate';
import type { ClientFrame, ClientId, ServerFrame } from '../machines/protocol.js';

/** A timer of one machine: the event it raises, and the ticks left until it is due. */
export interface Timer {
  id: string;
  event: AnyEventObject;
  /** Ticks until due; 0 = due in the current tick; below 0 only for a frozen process (overdue). */
  left: number;
}

/** What travels on a link (each direction of a socket is a FIFO of these). */
export type Message =
  /** The WebSocket upgrade (node to relay), asking to resume `resume`. */
  | { kind: 'upgrade'; resume: ClientId | null; due: number }
  /** A protocol frame. `owner`: the process whose `checkLeader` nonce it carries, so the nonce can be rebased with that process's counter. */
  | { kind: 'frame'; frame: ClientFrame | ServerFrame; due: number; owner?: number }
  /** The relay's `ws` answering the node's ping `seq` (relay to node). */
  | { kind: 'pong'; seq: number; due: number }
  /** The relay closed the socket (relay to node): the node sees the close after what came before it. */
  | { kind: 'closed'; due: number }
  /** The node closed the socket (node to relay): TCP's FIN follows the data. */
  | { kind: 'fin'; due: number };

/** The relay's end of a socket: `pending` until the upgrade reaches the relay, then `member` until it is closed. */
export type RelaySide = 'pending' | 'member' | 'closed';

export interface Socket {
  /** Node to relay. */
  up: Message[];
  /** Relay to node. */
  down: Message[];
  /** The node still reads this socket (it is the node's current link). */
  nodeOpen: boolean;
  relay: RelaySide;
  /** The id the relay admitted it under. */
  id: ClientId | null;
  /** Relay heartbeat: answered the last ping (or just joined). */
  alive: boolean;
  /** A relay ping waits for a frozen process to answer it when it thaws. */
  pinged: boolean;
  /** Partitioned: everything sent either way is lost, and neither side sees a close. */
  cut: boolean;
}

/** `dead`: crashed (only its sockets' up links, and FIN, are left in the world). `gone`: left the ring for good and exited. */
export type ProcessStatus = 'running' | 'dead' | 'gone';

export interface Process {
  status: ProcessStatus;
  /** Interned node machine state (check/actors.ts), -1 once dead or gone. */
  machine: number;
  /** Stopped (SIGSTOP): its timers run down but do not fire, it reads nothing, until it thaws. */
  frozen: boolean;
  /** Timers in the order they were set (ties fire in that order, as xstate's clock does). */
  timers: Timer[];
  /** Oldest first; the last one with `nodeOpen` is the current link. */
  sockets: Socket[];
  /** A (re)connect is due within this many ticks; -1 when none is pending. */
  connectIn: number;
  /** Told to leave: it never reconnects. */
  closing: boolean;
  /** The id to ask for on the next join (`?resume=`). */
  resume: ClientId | null;
  /** Cache of check/canonical.ts: this process's hash, set once a step is over (a copy starts without). */
  hash?: string;
}

export interface Relay {
  /** Interned relay machine state. */
  machine: number;
  timers: Timer[];
  /** Ticks until the next heartbeat (ping every member, drop one that did not answer the last). */
  heartbeatIn: number;
}

export interface World {
  processes: Process[];
  relay: Relay;
  /** Faults that may still be injected. */
  faultsLeft: number;
}

function cloneProcess(process: Process): Process {
  return { ...process, hash: undefined, timers: process.timers.slice(), sockets: process.sockets.map((socket) => ({ ...socket, up: socket.up.slice(), down: socket.down.slice() })) };
}

/**
 * A world being changed by one step, copy-on-write: a process is copied the first time the step
 * asks to change it (`process`), and the others stay shared with the world the step started
 * from. Worlds reached are never changed again, so sharing is safe, and an unchanged process
 * keeps its identity (check/canonical.ts caches its text by it).
 */
export class Draft {
  readonly world: World;
  private readonly owned = new Set<Process>();

  constructor(base: World) {
    this.world = { processes: base.processes.slice(), relay: { ...base.relay }, faultsLeft: base.faultsLeft };
  }

  /** Process `index`, to change. */
  process(index: number): Process {
    const current = this.world.processes[index]!;
    if (this.owned.has(current)) return current;
    const copy = cloneProcess(current);
    this.owned.add(copy);
    this.world.processes[index] = copy;
    return copy;
  }

  /** Process `index`, to read only. */
  peek(index: number): Process {
    return this.world.processes[index]!;
  }

  /** Adds a new process (already the draft's own). */
  add(process: Process): number {
    this.owned.add(process);
    return this.world.processes.push(process) - 1;
  }
}

/** Whether a process runs (alive and not frozen): only then do its timers fire and does it read. */
export function isRunning(process: Process): boolean {
  return process.status === 'running' && !process.frozen;
}

export function isAlive(process: Process): boolean {
  return process.status === 'running';
}

/** The process's current link: the newest socket it still reads. */
export function currentSocket(process: Process): Socket | null {
  for (let index = process.sockets.length - 1; index >= 0; index -= 1) {
    const socket = process.sockets[index]!;
    if (socket.nodeOpen) return socket;
  }
  return null;
}

/** Where the socket the relay admitted under `id` is: its process and its place in that process's list. */
export function memberSocket(world: World, id: ClientId): { process: number; socket: number } | null {
  for (let index = 0; index < world.processes.length; index += 1) {
    const at = world.processes[index]!.sockets.findIndex((socket) => socket.relay === 'member' && socket.id === id);
    if (at !== -1) return { process: index, socket: at };
  }
  return null;
}
