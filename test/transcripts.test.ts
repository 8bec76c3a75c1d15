/**
 * Transcript tests, in the style of etcd-io/raft's testdata: each file in test/transcripts/ is a
 * conversation with one node machine, events in and what it does out. A block is one or more
 * command lines, `----`, then the expected output (everything the machine sent, emitted and the
 * state it ended in), up to a blank line. `UPDATE_TRANSCRIPTS=1 npx vitest run test/transcripts`
 * rewrites the expected outputs from what the machine does now (read the diff before committing).
 *
 * Commands (frames are written `key=value`; candidates `id/rank`, leaders `id/rank/term`):
 *   node rank=5                                  start a node (first line of every file)
 *   connecting                                   the connection sends its upgrade request
 *   welcome id=n2 members=n1,n2 [leader=n1/9/1] [term=4]
 *   ring joined=n4 | ring left=n1
 *   election from=n1 initiator=n1 term=2 eligible=n1/9,n3/7
 *   newLeader from=n3 leader=n3/7/2 [to=n2]
 *   checkLeader from=n3 nonce=x
 *   answerLeader from=n1 nonce=1 term=1
 *   timer check|leaderTimeout|backup|election|handOff
 *   heartbeat | pong seq=2 | lease seq=1 | closed | leave | resign | startElection
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromCallback, initialTransition, transition, type SnapshotFrom } from 'xstate';
import { describe, expect, it } from 'vitest';
import { nodeMachine, type NodeEvent, type RelayCommand } from '../machines/nodeMachine.js';
import type { Candidate, ClientFrame, LeaderInfo } from '../machines/protocol.js';

const machine = nodeMachine.provide({ actors: { relayConnection: fromCallback(() => undefined) } });
type Snapshot = SnapshotFrom<typeof machine>;

const DIR = join(import.meta.dirname, 'transcripts');
const UPDATE = process.env.UPDATE_TRANSCRIPTS === '1';

const TIMERS: Record<string, string> = {
  check: 'xstate.after.checkInterval.node.online.follower',
  leaderTimeout: 'xstate.after.leaderTimeout.node.online.checking',
  backup: 'xstate.after.backupTimeout.node.online.awaiting',
  election: 'xstate.after.electionTimeout.node.online.electing',
  handOff: 'xstate.after.handOffTimeout.node.online.handingOff',
};

function fields(words: string[]): Record<string, string> {
  return Object.fromEntries(words.map((word) => word.split('=') as [string, string]));
}

function candidates(text: string | undefined): Candidate[] {
  if (!text) return [];
  return text.split(',').map((entry) => {
    const [id, rank] = entry.split('/');
    return { id: id!, rank: Number(rank) };
  });
}

function leader(text: string | undefined): LeaderInfo | null {
  if (!text) return null;
  const [id, rank, term] = text.split('/');
  return { id: id!, rank: Number(rank), term: Number(term) };
}

function eventOf(line: string): NodeEvent | { type: string } {
  const [command, ...words] = line.trim().split(/\s+/);
  const f = fields(words);
  switch (command) {
    case 'connecting':
      return { type: 'relay.connecting' };
    case 'welcome':
      return {
        type: 'welcome',
        clientId: f.id!,
        protocol: 1,
        members: f.members ? f.members.split(',') : [],
        leader: leader(f.leader),
        ...(f.term === undefined ? {} : { term: Number(f.term) }),
      };
    case 'ring':
      return f.joined !== undefined ? { type: 'ring', joined: f.joined } : { type: 'ring', left: f.left! };
    case 'election':
      return { type: 'election', to: 'next', from: f.from!, initiator: f.initiator!, term: Number(f.term), eligible: candidates(f.eligible) };
    case 'newLeader': {
      const announced = leader(f.leader)!;
      return { type: 'newLeader', to: f.to ?? 'all', from: f.from!, leaderId: announced.id, rank: announced.rank, term: announced.term };
    }
    case 'checkLeader':
      return { type: 'checkLeader', to: 'x', from: f.from!, nonce: f.nonce! };
    case 'answerLeader':
      return { type: 'answerLeader', to: 'x', from: f.from!, nonce: f.nonce!, term: Number(f.term) };
    case 'timer':
      if (!TIMERS[words[0]!]) throw new Error(`unknown timer ${words[0]}`);
      return { type: TIMERS[words[0]!]! };
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'pong':
      return { type: 'relay.pong', seq: Number(f.seq) };
    case 'lease':
      return { type: 'lease.expired', seq: Number(f.seq) };
    case 'closed':
      return { type: 'relay.closed' };
    case 'leave':
    case 'resign':
    case 'startElection':
      return { type: command };
    default:
      throw new Error(`unknown command: ${line}`);
  }
}

function renderFrame(frame: ClientFrame): string {
  switch (frame.type) {
    case 'election':
      return `election to=${frame.to} initiator=${frame.initiator} term=${frame.term} eligible=${frame.eligible.map((c) => `${c.id}/${c.rank}`).join(',')}`;
    case 'newLeader':
      return `newLeader to=${frame.to} leader=${frame.leaderId}/${frame.rank}/${frame.term}`;
    case 'checkLeader':
      return `checkLeader to=${frame.to} nonce=${frame.nonce}`;
    case 'answerLeader':
      return `answerLeader to=${frame.to} nonce=${frame.nonce} term=${frame.term}`;
  }
}

function renderCommand(command: RelayCommand): string {
  return command.type === 'send' ? `send ${renderFrame(command.frame)}` : command.type === 'ping' ? `ping seq=${command.seq}` : command.type;
}

/** Emitted events worth a line; membership and drops are left out unless they say something. */
function renderEmitted(event: { type: string; [key: string]: unknown }): string | null {
  switch (event.type) {
    case 'electionStarted':
      return `emit electionStarted term=${event.term} reason=${event.reason}`;
    case 'electionCompleted': {
      const winner = event.winner as LeaderInfo;
      return `emit electionCompleted winner=${winner.id}/${winner.rank}/${winner.term}`;
    }
    case 'leaderChanged': {
      const next = event.leader as LeaderInfo;
      return `emit leaderChanged ${next.id}/${next.rank}/${next.term}`;
    }
    case 'leadershipAcquired':
    case 'leadershipLost':
      return `emit ${event.type} term=${event.term}`;
    case 'frameDropped':
      return `emit frameDropped reason=${event.reason}`;
    case 'leaseLapsed':
    case 'handOffTimedOut':
      return `emit ${event.type}`;
    default:
      return null;
  }
}

function stateOf(snapshot: Snapshot): string {
  const value = snapshot.value;
  return typeof value === 'string' ? value : Object.entries(value).map(([key, child]) => `${key}.${child as string}`).join();
}

function step(snapshot: Snapshot, line: string): { snapshot: Snapshot; output: string[] } {
  const [next, actions] = transition(machine, snapshot, eventOf(line) as NodeEvent);
  const output: string[] = [];
  for (const action of actions) {
    const params = action.params as { event?: unknown } | undefined;
    if (action.type === 'xstate.sendTo') output.push(renderCommand(params!.event as RelayCommand));
    else if ((action.type as string) === 'xstate.emit') {
      const line = renderEmitted(params!.event as { type: string });
      if (line !== null) output.push(line);
    }
  }
  output.push(`state ${stateOf(next)}`);
  return { snapshot: next, output };
}

interface Block {
  commands: string[];
  expected: string[];
}

function parse(text: string): { header: string[]; blocks: Block[] } {
  const header: string[] = [];
  const blocks: Block[] = [];
  let current: Block | null = null;
  let reading: 'commands' | 'expected' | null = null;
  for (const line of text.split('\n')) {
    if (reading === null) {
      if (line.trim() === '' || line.startsWith('#')) {
        header.push(line);
        continue;
      }
      current = { commands: [line], expected: [] };
      blocks.push(current);
      reading = 'commands';
    } else if (reading === 'commands') {
      if (line === '----') reading = 'expected';
      else current!.commands.push(line);
    } else if (line.trim() === '') {
      reading = null;
      header.push(`@block${blocks.length - 1}`);
    } else current!.expected.push(line);
  }
  if (reading === 'expected') header.push(`@block${blocks.length - 1}`);
  return { header, blocks };
}

function render(header: string[], blocks: Block[]): string {
  return `${header
    .map((line) => {
      const match = /^@block(\d+)$/.exec(line);
      if (!match) return line;
      const block = blocks[Number(match[1])]!;
      return [...block.commands, '----', ...block.expected, ''].join('\n');
    })
    .join('\n')
    .replace(/\n+$/, '')}\n`;
}

describe('transcripts of the node machine (test/transcripts/*.txt)', () => {
  for (const file of readdirSync(DIR).filter((name) => name.endsWith('.txt'))) {
    it(file.replace(/\.txt$/, '').replaceAll('-', ' '), () => {
      const path = join(DIR, file);
      const { header, blocks } = parse(readFileSync(path, 'utf8'));
      let snapshot: Snapshot | null = null;
      const actual: Block[] = [];
      for (const block of blocks) {
        const output: string[] = [];
        for (const command of block.commands) {
          if (command.startsWith('node ')) {
            const rank = Number(fields(command.split(/\s+/).slice(1)).rank);
            snapshot = initialTransition(machine, { rank, seed: 1, timing: { jitter: 0 } })[0];
            output.push(`state ${stateOf(snapshot)}`);
            continue;
          }
          if (snapshot === null) throw new Error(`${file}: the first command must be "node rank=..."`);
          const result = step(snapshot, command);
          snapshot = result.snapshot;
          output.push(...result.output);
        }
        actual.push({ commands: block.commands, expected: output });
      }
      if (UPDATE) writeFileSync(path, render(header, actual));
      else expect(actual.map((block) => [...block.commands, '----', ...block.expected].join('\n'))).toEqual(
        blocks.map((block) => [...block.commands, '----', ...block.expected].join('\n')),
      );
    });
  }
});
