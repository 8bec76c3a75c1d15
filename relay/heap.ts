/**
 * How the relay process asks V8 to size its heap.
 *
 * V8 doubles its young generation (up to 16 MB per semi-space, 32 MB in all on Node 20) whenever
 * the bytes that survive its scavenges since the last doubling exceed its size, and only gives it
 * back when the process idles for a while. A relay's survivors are its connections' state, which
 * it keeps for as long as they stay, so a burst of joins (1,000 members joining is about as many
 * sockets and machine states kept, plus the garbage of telling every member of every join) grows
 * the young generation to its ceiling, and the RSS with it: 32 of the 45-48 KB of RSS per
 * connection at N = 1,000 (bench/README.md, "Memory"), where the raw relay grows to 8 MB.
 *
 * Keeping the young generation at its starting size (1 MB per semi-space) costs the relay more,
 * shorter scavenges; what survives them is promoted sooner and collected by the old generation's
 * collector. The growth factor is the one heap size V8 still reads after start-up (the maximum
 * semi-space size is fixed when the process starts, and a relay started by `node` or a container
 * has no say over its command line), and V8 only reads it when it would grow the young
 * generation. It applies to the whole process, so only a process that is a relay sets it:
 * `ringleader relay`, not `startRelay` in a process that does other things.
 */
import { setFlagsFromString } from 'node:v8';

export const RELAY_V8_FLAGS = '--semi-space-growth-factor=1';

export function sizeHeapForRelay(): void {
  setFlagsFromString(RELAY_V8_FLAGS);
}
