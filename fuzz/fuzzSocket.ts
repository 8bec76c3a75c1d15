/**
 * One fuzz WebSocket (a ring member or an inspection stream): sends shots and counts them by
 * kind, counts how the other side closed it, and never lets its own send buffer grow without
 * bound (a shot is skipped, not queued, while the buffer is full).
 */
import WebSocket from 'ws';
import type { Shot } from './shot.js';
import type { Tally } from './tally.js';

/** Bytes waiting in this socket above which it sends nothing until they drain. */
const SEND_BUFFER_LIMIT = 2 << 20;

export interface SocketTallies {
  /** Shots sent, by kind. */
  sent: Tally;
  /** How sockets ended, by close code ("1006": broken without a close frame; "never-opened": refused, or closed while connecting). */
  closes: Tally;
}

export class FuzzSocket {
  readonly ws: WebSocket;
  /** Resolves when the socket has closed (or never opened), with the close code. */
  readonly closed: Promise<number>;
  private open = false;
  private ended = false;

  constructor(
    url: string,
    private readonly tallies: SocketTallies,
    /** What the close is counted as, e.g. "relay" or "inspector". */
    private readonly side: string,
  ) {
    // No compression (the relay does not offer it) and a payload limit far above anything sent back.
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20, handshakeTimeout: 10_000 });
    this.ws.on('open', () => {
      this.open = true;
    });
    // Errors end in `close`; a fuzzer expects its sockets to be cut.
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        const wasOpen = this.open;
        this.open = false;
        this.ended = true;
        this.tallies.closes.add(`${this.side}:${wasOpen ? code : 'never-opened'}`);
        resolve(code);
      });
    });
  }

  get isOpen(): boolean {
    return this.open && this.ws.readyState === WebSocket.OPEN;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Whether a shot may go now: open, and the send buffer is not full. */
  get ready(): boolean {
    return this.isOpen && this.ws.bufferedAmount < SEND_BUFFER_LIMIT;
  }

  send(shot: Shot): boolean {
    if (!this.ready) return false;
    this.ws.send(shot.data, { binary: shot.binary });
    this.tallies.sent.add(shot.kind);
    return true;
  }

  /** Stops reading: pings go unanswered and frames pile up on the other side. */
  stall(): void {
    this.ws.pause();
  }

  close(): void {
    if (this.ended) return;
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.isPaused) this.ws.terminate();
    else this.ws.close(1000, 'fuzz connection done');
  }

  /** Closes, and gives the other side a moment before the socket is destroyed. */
  async closeAndWait(graceMs = 2000): Promise<void> {
    this.close();
    const timer = setTimeout(() => this.ws.terminate(), graceMs);
    await this.closed;
    clearTimeout(timer);
  }
}
