/**
 * The inspector reads a relay's /status and /rings, and a relay (or whatever answers at its
 * address) may be hostile: a body larger than RELAY_BODY_LIMIT_BYTES is not read to its end nor
 * kept, and counts as an unreachable relay (issue 21: one took the inspector from 185 to 465 MB).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RELAY_BODY_LIMIT_BYTES, startRelayStatusPoller, type RelayStatusPoller } from '../inspector/server/relayStatus.js';
import type { RingSummaryView } from '../inspector/server/messages.js';
import type { RelayStatus } from '../inspector/server/ringModel.js';
import { waitFor } from '../runtime/waitFor.js';

const stops: Array<() => void> = [];
afterEach(() => stops.splice(0).forEach((stop) => stop()));

/** A relay whose bodies are valid JSON followed by `padding` bytes of whitespace, sent at once. */
async function paddedRelay(padding: number): Promise<{ url: string; paths: string[] }> {
  const paths: string[] = [];
  const server: Server = createServer((request, response) => {
    paths.push(request.url ?? '');
    const body = request.url === '/rings' ? '[{"name":"default","members":1,"leader":null}]' : '{"members":["node-a"],"leader":null}';
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(Buffer.concat([Buffer.from(body), Buffer.alloc(padding, 0x20)]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}

function poll(url: string): { statuses: Array<RelayStatus | null>; rings: Array<RingSummaryView[] | null>; poller: RelayStatusPoller } {
  const statuses: Array<RelayStatus | null> = [];
  const rings: Array<RingSummaryView[] | null> = [];
  const poller = startRelayStatusPoller({ relayUrl: url, token: '', logger: pino({ level: 'silent' }), onStatus: (status) => statuses.push(status), onRings: (list) => rings.push(list) });
  stops.push(() => poller.stop());
  return { statuses, rings, poller };
}

describe('the inspector reading a relay', () => {
  it('does not take a /status or /rings body past the cap: the relay shows as unreachable', async () => {
    const relay = await paddedRelay(RELAY_BODY_LIMIT_BYTES + 1024 * 1024);
    const { statuses, rings } = poll(relay.url);
    await waitFor(() => statuses.length > 0 && rings.length > 0, 'a first poll', { timeoutMs: 20_000 });
    expect(statuses[0]).toBeNull();
    expect(rings[0]).toBeNull();
    expect(relay.paths.slice(0, 2).sort()).toEqual(['/rings', '/status']);
  });

  it('still reads bodies under the cap', async () => {
    const relay = await paddedRelay(RELAY_BODY_LIMIT_BYTES / 4);
    const { statuses, rings } = poll(relay.url);
    await waitFor(() => statuses.length > 0 && rings.length > 0, 'a first poll', { timeoutMs: 20_000 });
    expect(statuses[0]).toEqual({ members: ['node-a'], leader: null });
    expect(rings[0]).toEqual([{ name: 'default', members: 1, leader: null }]);
  });
});
