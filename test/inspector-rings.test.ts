/**
 * The inspector and a relay that serves several rings: the page's ring picker (the relay's rings,
 * then membership and leader of the picked one from its /status), and that a relay streaming one
 * machine per ring does not make the default ring's view follow another ring.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../cli/freePort.js';
import type { RunningInspector } from '../inspector/server/index.js';
import type { RingState, RingSummaryView, ServerMessage } from '../inspector/server/messages.js';
import { joinRing, type RingNode } from '../index.js';
import { startRelay, type RunningRelay } from '../relay/server.js';
import { cleanup, closeAll, inspectorWith } from './inspectorKit.js';
import { FAST, silentLogger, TestRing } from './nodeKit.js';
import { waitFor } from '../runtime/waitFor.js';

afterEach(closeAll);

const until = <T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string) =>
  waitFor(check, what, { timeoutMs: 30_000, intervalMs: 50 });

async function relayWith(options: Parameters<typeof startRelay>[0] = {}): Promise<RunningRelay> {
  const relay = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: FAST.leaderTimeoutMs, logger: silentLogger, ...options });
  cleanup(() => relay.close());
  return relay;
}

async function member(relay: string, ring?: string): Promise<RingNode> {
  const node = await joinRing({ relay, ring, timing: FAST, logger: silentLogger });
  cleanup(() => node.leave());
  return node;
}

/** A page on /events, optionally for a picked ring: every message it got. */
async function page(inspector: RunningInspector, ring?: string): Promise<ServerMessage[]> {
  const socket = new WebSocket(`${inspector.ingestUrl.replace('/inspect', '/events')}${ring ? `?ring=${ring}` : ''}`);
  cleanup(() => socket.terminate());
  const messages: ServerMessage[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as ServerMessage));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return messages;
}

const lastState = (messages: ServerMessage[]): RingState | undefined =>
  [...messages].reverse().find((message): message is Extract<ServerMessage, { type: 'state' }> => message.type === 'state')?.state;
const lastRings = (messages: ServerMessage[]): RingSummaryView[] | null | undefined =>
  [...messages].reverse().find((message): message is Extract<ServerMessage, { type: 'rings' }> => message.type === 'rings')?.rings;

describe('inspector: a relay with several rings', () => {
  it('lists the relay\'s rings, and shows the picked ring\'s members and leader from its /status', async () => {
    const relay = await relayWith();
    const ring = new TestRing();
    const jobs = [await member(`${relay.url}/rings/jobs`), await member(`${relay.url}/rings/jobs`)];
    const plain = await member(relay.url);
    const jobsLeader = await ring.agreement(jobs);
    await ring.agreement([plain]);
    const inspector = await inspectorWith({ relayUrl: relay.url });

    const defaultPage = await page(inspector);
    const jobsPage = await page(inspector, 'jobs');
    expect(defaultPage.find((message) => message.type === 'hello')).toMatchObject({ ring: 'default' });
    expect(jobsPage.find((message) => message.type === 'hello')).toMatchObject({ ring: 'jobs' });
    const listed = await until(() => lastRings(jobsPage)?.length === 2 && lastRings(jobsPage), 'the ring list');
    expect(listed.map((entry) => [entry.name, entry.members])).toEqual([['default', 1], ['jobs', 2]]);
    expect(listed[1]!.leader).toMatchObject({ id: jobsLeader.id, term: jobsLeader.term() });

    const jobsState = await until(() => {
      const state = lastState(jobsPage);
      return state?.relay.members.length === 2 && state;
    }, 'the jobs ring\'s membership on its page');
    expect(jobsState.relay).toMatchObject({ source: 'status', members: relay.status('jobs')!.members, connected: true });
    expect(jobsState.leader).toEqual({ id: jobsLeader.id, rank: jobsLeader.rank, term: jobsLeader.term() });
    expect(jobsState.nodes.map((node) => [node.id, node.state])).toEqual(relay.status('jobs')!.members.map((id) => [id, 'member']));

    const defaultState = await until(() => {
      const state = lastState(defaultPage);
      return state?.relay.members.length === 1 && state;
    }, 'the default ring\'s membership on its page');
    expect(defaultState.relay.members).toEqual([plain.id]);
    expect(defaultState.leader?.id).toBe(plain.id);

    // The same over HTTP, also for a ring no page is watching; a name that cannot be a ring shows the default.
    const viaHttp = (await (await fetch(`${inspector.url}api/state?ring=jobs`)).json()) as RingState;
    expect(viaHttp.relay.members).toEqual(relay.status('jobs')!.members);
    const unknown = (await (await fetch(`${inspector.url}api/state?ring=nobody-here`)).json()) as RingState;
    expect(unknown.relay).toMatchObject({ members: [], connected: false });
    const invalid = (await (await fetch(`${inspector.url}api/state?ring=${encodeURIComponent('no/such ring')}`)).json()) as RingState;
    expect(invalid.relay.members).toEqual([plain.id]);
  });

  it('with the relay streaming a machine per ring, the default view keeps the default ring\'s members', async () => {
    const inspectorPort = await freePort();
    const relayPort = await freePort();
    const relay = await relayWith({ port: relayPort, inspectUrl: `ws://127.0.0.1:${inspectorPort}/inspect` });
    const inspector = await inspectorWith({ port: inspectorPort, relayUrl: relay.url });
    const plain = [await member(relay.url), await member(relay.url)];
    await until(async () => {
      const state = (await (await fetch(`${inspector.url}api/state`)).json()) as RingState;
      return state.relay.source === 'inspection' && state.relay.members.length === 2;
    }, 'the relay\'s stream to show the default ring');
    // A named ring opens later: its machine streams too, and must not take the default's place.
    const jobs = [await member(`${relay.url}/rings/jobs`), await member(`${relay.url}/rings/jobs`), await member(`${relay.url}/rings/jobs`)];
    await until(() => relay.status('jobs')?.members.length === 3, 'the jobs ring to fill');
    const leaving = plain[1]!;
    await leaving.leave();
    const state = await until(async () => {
      const current = (await (await fetch(`${inspector.url}api/state`)).json()) as RingState;
      return current.relay.members.length === 1 && current;
    }, 'the default ring\'s leave to show');
    expect(state.relay).toMatchObject({ source: 'inspection', members: [plain[0]!.id] });
    expect(jobs).toHaveLength(3);
  });
});
