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
  queue: Buffer[];
  queuedBytes: number;
}

export function createOutbox(socket: Socket, isOpen: () => boolean): Outbox {
  return { socket, isOpen, queue: [], queuedBytes: 0 };
}

/** Bytes written to this peer and not yet taken by the network, plus what waits in its outbox. */
export function backlogOf(outbox: Outbox): number {
  return outbox.socket.writableLength + outbox.queuedBytes;
}

/** Writes every queued outbox once per turn of the event loop. */
export class OutboxWriter {
  private readonly dirty: Outbox[] = [];
  private scheduled = false;

  /** Queues `message` (already framed) for `outbox`. */
  push(outbox: Outbox, message: Buffer): void {
    if (outbox.queue.length === 0) this.dirty.push(outbox);
    outbox.queue.push(message);
    outbox.queuedBytes += message.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Drops what waits for a peer that is going away. */
  discard(outbox: Outbox): void {
    outbox.queue = [];
    outbox.queuedBytes = 0;
  }

  readonly flush = (): void => {
    this.scheduled = false;
    for (const outbox of this.dirty.splice(0)) this.write(outbox);
  };

  /** Writes what waits for one peer now: the last words before the relay closes it. */
  write(outbox: Outbox): void {
    const { queue, socket } = outbox;
    outbox.queue = [];
    outbox.queuedBytes = 0;
    if (queue.length === 0 || !outbox.isOpen() || socket.destroyed) return;
    try {
      if (queue.length === 1) socket.write(queue[0]!);
      else {
        socket.cork();
        for (const message of queue) socket.write(message);
        socket.uncork();
      }
    } catch {
      // The socket broke under us; its close event takes the member out of the ring.
    }
  }
}
