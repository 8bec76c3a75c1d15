/**
 * The relay's writing side. A frame for many members (a `ring` change, a `newLeader`) is encoded
 * once and framed once as a WebSocket text message; each recipient's share is one reference in
 * its outbox. Outboxes are written once per turn of the event loop (setImmediate), so a burst of
 * joins, leaves or frames handled in one turn costs each peer one write, not one per frame, and
 * the I/O that arrived meanwhile (pongs, /healthz) is not kept waiting behind it.
 *
 * Frames go straight to the TCP socket the relay took over at the upgrade. That is safe because
 * compression is off: `ws` itself writes every control frame (ping, pong, close) whole and at
 * once to the same socket, so writes never interleave inside a frame. Nothing is written once
 * the WebSocket is no longer open.
 */
import type { Socket } from 'node:net';

/**
 * A server-to-client WebSocket text message (FIN, opcode 1, unmasked) carrying `payload`, built in
 * one allocation. With `tail` (ASCII), the payload's last byte is replaced by `tail`: how the
 * relay appends a field to a frame it passes on as it came (relay/forwardedMessage.ts).
 */
export function textMessage(payload: string | Buffer, tail?: string): Buffer {
  const kept = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const body = tail === undefined ? kept : kept - 1;
  const length = body + (tail === undefined ? 0 : tail.length);
  const message = Buffer.allocUnsafe(headerLength(length) + length);
  const start = writeHeader(message, length);
  if (typeof payload === 'string') message.write(payload, start);
  else payload.copy(message, start, 0, body);
  if (tail !== undefined) message.write(tail, start + body, 'latin1');
  return message;
}

/** A text message whose payload is `parts` one after the other, written straight into the message (no joined string). */
export function textMessageOf(parts: readonly string[]): Buffer {
  let length = 0;
  for (const part of parts) length += Buffer.byteLength(part);
  const message = Buffer.allocUnsafe(headerLength(length) + length);
  let at = writeHeader(message, length);
  for (const part of parts) at += message.write(part, at);
  return message;
}

function headerLength(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65_536 ? 4 : 10;
}

/** Writes the header for a payload of `length` bytes at the start of `message`; returns where the payload goes. */
function writeHeader(message: Buffer, length: number): number {
  message[0] = 0x81;
  if (length < 126) {
    message[1] = length;
    return 2;
  }
  if (length < 65_536) {
    message[1] = 126;
    message.writeUInt16BE(length, 2);
    return 4;
  }
  message[1] = 127;
  message.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  message.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** One peer's queue of framed messages, and what it takes to write them. */
export interface Outbox {
  readonly socket: Socket;
  /** False once the WebSocket is closing: queued messages are dropped. */
  isOpen(): boolean;
  /**
   * What waits to be written, in order: nothing, one message, or several. One message is kept
   * without an array: a burst of joins queues one `ring` frame for every member per turn, and an
   * array per member per turn was a fifth of what the relay allocated for the joins.
   */
  queued: Buffer | Buffer[] | null;
  queuedBytes: number;
}

export function createOutbox(socket: Socket, isOpen: () => boolean): Outbox {
  return { socket, isOpen, queued: null, queuedBytes: 0 };
}

/** Bytes written to this peer and not yet taken by the network, plus what waits in its outbox. */
export function backlogOf(outbox: Outbox): number {
  return outbox.socket.writableLength + outbox.queuedBytes;
}

/**
 * Messages waiting for one peer up to this many bytes in all go out as one buffer: copying a
 * turn's worth of small frames (a burst of joins is one `ring` frame per join for every member)
 * costs less than a socket write each, whose request objects are most of the garbage a burst of
 * joins makes (bench/README.md, "Memory"). Longer queues are written as they are, corked.
 */
const COALESCE_BYTES = 16 * 1024;

/** Writes every queued outbox once per turn of the event loop. */
export class OutboxWriter {
  /** Outboxes with something queued, in the first `dirtyCount` slots: the array is kept, not rebuilt, from turn to turn. */
  private readonly dirty: Array<Outbox | null> = [];
  private dirtyCount = 0;
  private scheduled = false;

  /** Queues `message` (already framed) for `outbox`. */
  push(outbox: Outbox, message: Buffer): void {
    const { queued } = outbox;
    if (queued === null) {
      outbox.queued = message;
      this.dirty[this.dirtyCount++] = outbox;
    } else if (Array.isArray(queued)) queued.push(message);
    else outbox.queued = [queued, message];
    outbox.queuedBytes += message.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Drops what waits for a peer that is going away. */
  discard(outbox: Outbox): void {
    outbox.queued = null;
    outbox.queuedBytes = 0;
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const { dirty } = this;
    for (let index = 0; index < this.dirtyCount; index += 1) {
      const outbox = dirty[index]!;
      dirty[index] = null;
      this.write(outbox);
    }
    this.dirtyCount = 0;
  };

  /** Writes what waits for one peer now: the last words before the relay closes it. */
  write(outbox: Outbox): void {
    const { queued, queuedBytes, socket } = outbox;
    if (queued === null) return;
    outbox.queued = null;
    outbox.queuedBytes = 0;
    if (!outbox.isOpen() || socket.destroyed) return;
    try {
      if (!Array.isArray(queued)) socket.write(queued);
      else if (queuedBytes <= COALESCE_BYTES) socket.write(Buffer.concat(queued, queuedBytes));
      else {
        socket.cork();
        for (const message of queued) socket.write(message);
        socket.uncork();
      }
    } catch {
      // The socket broke under us; its close event takes the member out of the ring.
    }
  }
}
