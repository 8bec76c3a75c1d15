/**
 * `ringleader inspector` as a process, fed hostile inspection input: one message used to make it
 * (and with it `ringleader up`, whose exit takes the relay and nodes along) throw from its state
 * push and exit. Now such messages are dropped and counted, the log says so a bounded number of
 * times, and the process keeps serving. (`npm run build` first: this runs the built CLI.)
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RingState, ServerMessage } from '../inspector/server/messages.js';
import { startInspectorProcess, type InspectorProcess } from './inspectorHarness.js';
import { waitFor } from '../runtime/waitFor.js';

const running: InspectorProcess[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await Promise.all(running.splice(0).map((inspector) => inspector.stop()));
});

async function open(url: string, onMessage?: (data: string) => void): Promise<WebSocket> {
  const socket = new WebSocket(url);
  sockets.push(socket);
  if (onMessage) socket.on('message', (data) => onMessage(String(data)));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return socket;
}

/** The local addresses (hex, as the kernel lists them) of the sockets listening on `port`. */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') // 0A: LISTEN
      .map((fields) => fields[1]!.split(':')[0]!),
  );
}

const poison = { toString: 0, valueOf: 0 };
/** The message from the report: a node that names itself a member, and a leader whose id is an object. */
const reported = { type: '@xstate.actor', name: 'node', sessionId: 'evil@1/x:0', snapshot: { value: { online: 'follower' }, context: { id: 'n1', members: ['n1'], term: 1, leader: { id: poison, rank: 1, term: 1 } } } };

describe('ringleader inspector (the process)', () => {
  it('listens on 127.0.0.1 unless told otherwise', async () => {
    const inspector = await startInspectorProcess(['--relay', 'ws://127.0.0.1:9/']);
    running.push(inspector);
    // What the kernel says, where it can be read: one listening socket, on 127.0.0.1 only.
    if (process.platform === 'linux') expect(listeningAddresses(inspector.port)).toEqual(['0100007F']);
    expect(new URL(inspector.url).hostname).toBe('127.0.0.1');
    expect(inspector.output()).toContain('"host":"127.0.0.1"');
  });

  it('drops hostile inspection messages, logs them a bounded number of times, and keeps serving pages', async () => {
    const inspector = await startInspectorProcess(['--relay', 'ws://127.0.0.1:9/']);
    running.push(inspector);
    const base = `ws://127.0.0.1:${inspector.port}`;
    const stats = async () => ((await (await fetch(`${inspector.url}api/stats`)).json()) as { ingest: { messages: number; invalid: number } }).ingest;

    // As in the report: no token, the message, with a page open (its state is pushed) and one opening after.
    await open(`${base}/events`);
    const attacker = await open(`${base}/inspect`);
    attacker.send(JSON.stringify(reported));
    await waitFor(async () => !inspector.alive() || (await stats()).invalid === 1, 'the message to be counted as invalid', { timeoutMs: 10_000 });
    expect(inspector.alive(), `the inspector exited:\n${inspector.output()}`).toBe(true);
    const received: ServerMessage[] = [];
    await open(`${base}/events`, (data) => received.push(JSON.parse(data) as ServerMessage));

    // More of the same kind while the page is open, each with another field gone wrong.
    const variants = [
      { ...reported, snapshot: { ...reported.snapshot, context: { ...reported.snapshot.context, leader: { id: 'n1', rank: poison, term: 1 } } } },
      { ...reported, snapshot: { ...reported.snapshot, context: { ...reported.snapshot.context, members: [poison] } } },
      { ...reported, snapshot: { ...reported.snapshot, value: { online: poison } } },
      { type: '@xstate.event', sessionId: 'evil@1/x:1', sourceId: 'evil@1/x:0', event: { type: 'send', frame: { type: 'election', to: 'next', initiator: poison, term: 2, eligible: [] } } },
      { type: '@xstate.snapshot', sessionId: 'evil@1/x:0', snapshot: reported.snapshot, event: { type: 'ring', left: poison } },
    ];
    for (let round = 0; round < 30; round += 1) for (const variant of variants) attacker.send(JSON.stringify(variant));
    const sent = 1 + 30 * variants.length;
    await waitFor(async () => !inspector.alive() || (await stats()).invalid === sent, `all ${sent} messages to be counted as invalid`, { timeoutMs: 15_000 });
    expect(inspector.alive(), `the inspector exited:\n${inspector.output()}`).toBe(true);

    // A well-formed node still shows, and the page gets it through the state push.
    attacker.send(JSON.stringify({ ...reported, sessionId: 'good@2/x:0', snapshot: { ...reported.snapshot, context: { ...reported.snapshot.context, leader: { id: 'n1', rank: 1, term: 1 } } } }));
    const shown = await waitFor(
      () => [...received].reverse().find((message): message is Extract<ServerMessage, { type: 'state' }> => message.type === 'state' && message.state.nodes.length === 1)?.state,
      'the page to show the well-formed node',
      { timeoutMs: 10_000 },
    );
    expect(shown.nodes[0]).toMatchObject({ id: 'n1', state: 'follower', leader: { id: 'n1', rank: 1, term: 1 } });
    expect(received[0]).toMatchObject({ type: 'hello' });

    expect(inspector.alive()).toBe(true);
    const state = (await (await fetch(`${inspector.url}api/state`)).json()) as RingState;
    expect(state.leader).toEqual({ id: 'n1', rank: 1, term: 1 });
    // One line for the first rejected message, one for the hundredth: a flood cannot flood the log.
    const lines = inspector.output().split('\n').filter((line) => line.includes('rejected inspection message'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('context.leader.id');
  });
});
