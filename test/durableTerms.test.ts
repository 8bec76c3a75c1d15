/**
 * Durable terms (`ringleader relay --state-file`): the file's format and atomic writes, the rule
 * that a term is recorded before the frame that raised it is forwarded, and, with real processes,
 * a relay restarted on the same file telling a fresh ring to elect above every term it used.
 * (`npm run build` first: the process tests run dist/cli/ringleader.js.)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createActor } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RING, MAX_TERM, type ElectionFrame } from '../machines/protocol.js';
import { relayMachine, type RelayEmitted } from '../machines/relayMachine.js';
import { DEFAULT_LIMITS } from '../relay/limits.js';
import { LineBudget } from '../relay/lineBudget.js';
import { RelayMetrics } from '../relay/metrics.js';
import { RingHost, type RingConnection } from '../relay/ringHost.js';
import { STATE_FILE_EXIT_CODE, StateFileError, TermStore, readStateFile, writeStateFile } from '../relay/stateFile.js';
import { DEADLINE_MS, doubleClaims, startRing, stopRings, waitForAgreement } from './e2eHarness.js';
import { CLI, RelayProcess, TestClient, getJson, killRelayProcesses } from './relayHelpers.js';

let folder = '';
beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'ringleader-state-'));
});
afterEach(async () => {
  killRelayProcesses();
  await stopRings();
  rmSync(folder, { recursive: true, force: true });
});

function lap(initiator: string, term: number, eligible: Array<[string, number]>): ElectionFrame {
  return { type: 'election', to: 'next', initiator, term, eligible: eligible.map(([id, rank]) => ({ id, rank })) };
}

describe('the state file', () => {
  it('starts fresh when missing, and a reopened file gives each ring the floor it recorded', () => {
    const path = join(folder, 'relay-state.json');
    const store = TermStore.open(path);
    expect(store.floor(DEFAULT_RING)).toBe(0);
    store.record(DEFAULT_RING, 7, { id: 'n2', rank: 40, term: 7, meta: { zone: 'a' } });
    store.record('blue', 3, null);

    expect(readStateFile(path)).toEqual({
      version: 1,
      rings: { default: { highestTerm: 7, leader: { id: 'n2', rank: 40, term: 7 } }, blue: { highestTerm: 3, leader: null } },
    });
    const reopened = TermStore.open(path);
    expect(reopened.floor(DEFAULT_RING)).toBe(7);
    expect(reopened.floor('blue')).toBe(3);
    expect(reopened.floor('never-seen')).toBe(0);
  });

  it('records terms up to MAX_TERM, the highest the relay lets through', () => {
    const path = join(folder, 'relay-state.json');
    TermStore.open(path).record(DEFAULT_RING, MAX_TERM, null);
    expect(TermStore.open(path).floor(DEFAULT_RING)).toBe(MAX_TERM);
  });

  it('keeps a ring named like an Object property as a ring', () => {
    const path = join(folder, 'relay-state.json');
    TermStore.open(path).record('__proto__', 5, null);
    expect(TermStore.open(path).floor('__proto__')).toBe(5);
    expect(TermStore.open(path).floor('toString')).toBe(0);
  });

  it('writes by replacing: no temp file is left, and an unchanged record does not rewrite the file', () => {
    const path = join(folder, 'relay-state.json');
    const store = TermStore.open(path);
    for (let term = 1; term <= 5; term += 1) store.record(DEFAULT_RING, term, { id: 'n1', rank: 1, term });
    expect(readdirSync(folder)).toEqual(['relay-state.json']);
    // Each write renames a new file over the old one, so an unchanged inode means no write.
    const written = statSync(path).ino;
    store.record(DEFAULT_RING, 5, { id: 'n1', rank: 1, term: 5 });
    expect(statSync(path).ino).toBe(written);
    store.record(DEFAULT_RING, 6, { id: 'n1', rank: 1, term: 5 });
    expect(statSync(path).ino).not.toBe(written);
  });

  it('refuses a file it cannot trust with an error naming the file and the problem', () => {
    const path = join(folder, 'relay-state.json');
    writeStateFile(path, { version: 1, rings: { default: { highestTerm: 12, leader: { id: 'n3', rank: 9, term: 12 } } } });
    const valid = readFileSync(path, 'utf8');
    const cases: Array<[string, RegExp]> = [
      [valid.slice(0, valid.length / 2), /is not valid JSON .*truncated or corrupt/],
      ['', /is not valid JSON/],
      ['[1]', /is not a JSON object/],
      [valid.replace('"version": 1', '"version": 2'), /has version 2; this relay reads version 1/],
      [JSON.stringify({ rings: {} }), /has version undefined/],
      [JSON.stringify({ version: 1, rings: [] }), /"rings" is not an object/],
      [JSON.stringify({ version: 1, rings: { default: { highestTerm: -1, leader: null } } }), /ring "default": highestTerm -1 is not a term/],
      [JSON.stringify({ version: 1, rings: { default: { highestTerm: '4', leader: null } } }), /highestTerm "4" is not a term/],
      // Above MAX_TERM (2^53 - 1): JSON reads 2^53 + 1 as 2^53, no longer an exact integer.
      [`{"version":1,"rings":{"default":{"highestTerm":9007199254740993,"leader":null}}}`, /highestTerm 9007199254740992 is not a term/],
      [`{"version":1,"rings":{"default":{"highestTerm":1e300,"leader":null}}}`, /is not a term/],
      [JSON.stringify({ version: 1, rings: { default: { highestTerm: 4, leader: { id: 'n1', rank: 1, term: 5 } } } }), /leader.term 5 is above highestTerm 4/],
      [JSON.stringify({ version: 1, rings: { default: { highestTerm: 4, leader: { id: '', rank: 1, term: 4 } } } }), /leader.id "" is not a client id/],
      [JSON.stringify({ version: 1, rings: { default: { highestTerm: 4 } } }), /leader is neither null nor an object/],
    ];
    for (const [text, problem] of cases) {
      writeFileSync(path, text);
      expect(() => TermStore.open(path), text).toThrow(StateFileError);
      expect(() => TermStore.open(path), text).toThrow(problem);
      expect(() => TermStore.open(path), text).toThrow(`state file ${path}: `);
      // Never reset: the file is left as it was for a person to look at.
      expect(readFileSync(path, 'utf8')).toBe(text);
    }
    expect(() => readStateFile(folder)).toThrow(/cannot be read \(EISDIR\)/);
    expect(() => TermStore.open(join(folder, 'missing', 'state.json'))).toThrow(/cannot be written \(ENOENT\)/);
  });
});

describe('a term is recorded before the frame that raised it goes out', () => {
  it('the relay machine says what changed before the deliver, and only when something changed', () => {
    const actor = createActor(relayMachine, { input: { maxMembers: 10, forwardTimeoutMs: 60_000, termFloor: 4 } });
    const emitted: RelayEmitted[] = [];
    actor.on('*', (event) => emitted.push(event as RelayEmitted));
    actor.start();
    for (let connection = 1; connection <= 2; connection += 1) actor.send({ type: 'connect', connection, resume: null, host: null });
    const after = (count: number) => emitted.slice(count).map((event) => event.type);

    let start = emitted.length;
    actor.send({ type: 'frame', from: 'n1', frame: lap('n1', 5, [['n1', 1]]) });
    expect(after(start)).toEqual(['electionStarted', 'termsChanged', 'deliver']);
    expect(emitted.find((event) => event.type === 'termsChanged')).toEqual({ type: 'termsChanged', highestTerm: 5, leader: null });

    start = emitted.length;
    actor.send({ type: 'frame', from: 'n2', frame: lap('n1', 5, [['n1', 1], ['n2', 2]]) });
    expect(after(start)).toEqual(['deliver']);

    start = emitted.length;
    actor.send({ type: 'frame', from: 'n1', frame: { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 2, term: 5 } });
    expect(after(start)).toEqual(['leaderChanged', 'termsChanged', 'deliver']);
    expect(emitted.at(-2)).toEqual({ type: 'termsChanged', highestTerm: 5, leader: { id: 'n2', rank: 2, term: 5 } });

    // Below the floor: let through (nodes judge it), but nothing to record.
    start = emitted.length;
    actor.send({ type: 'frame', from: 'n1', frame: lap('n1', 3, [['n1', 1]]) });
    expect(after(start)).not.toContain('termsChanged');
    actor.stop();
  });

  it('the ring host writes the file before it hands the frame to the member', () => {
    const path = join(folder, 'relay-state.json');
    const store = TermStore.open(path);
    const seen: Array<{ type: string; term: number | undefined; fileTerm: number | undefined; fileLeader: string | undefined }> = [];
    const connections: RingConnection[] = [1, 2].map((serial) => ({ serial, id: null, remote: '127.0.0.1', lines: new LineBudget() }));
    const host = new RingHost(
      DEFAULT_RING,
      { ...DEFAULT_LIMITS, forwardTimeoutMs: 60_000 },
      {
        write: (_connection, message) => {
          const frame = JSON.parse(message.toString('utf8', message.indexOf('{')));
          const file = readStateFile(path).rings[DEFAULT_RING];
          seen.push({ type: frame.type, term: frame.term, fileTerm: file?.highestTerm, fileLeader: file?.leader?.id });
        },
        reject: () => {},
        turnAway: () => {},
        leaveFields: () => ({}),
      },
      pino({ level: 'silent' }),
      new RelayMetrics(),
      { termFloor: store.floor(DEFAULT_RING), recordTerms: (highestTerm, leader) => store.record(DEFAULT_RING, highestTerm, leader) },
    );
    for (const connection of connections) host.connect(connection, { resume: null, host: null, role: 'member', meta: null });
    host.frame(connections[0]!, lap('n1', 1, [['n1', 1]]));
    host.frame(connections[1]!, { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 2, term: 1 });
    host.stop();

    expect(seen.filter((entry) => entry.type === 'election' || entry.type === 'newLeader')).toEqual([
      { type: 'election', term: 1, fileTerm: 1, fileLeader: undefined },
      { type: 'newLeader', term: 1, fileTerm: 1, fileLeader: 'n2' },
    ]);
    expect(readStateFile(path).rings[DEFAULT_RING]).toEqual({ highestTerm: 1, leader: { id: 'n2', rank: 2, term: 1 } });
  });
});

describe('ringleader relay --state-file (processes)', () => {
  it('a relay restarted on the same file makes a fresh ring elect above every term it used', async () => {
    const path = join(folder, 'relay-state.json');
    const ring = await startRing({ ranks: [30, 20, 10], env: { RELAY_STATE_FILE: path } });
    const before = await waitForAgreement(ring, (a) => a.nodes.length === 3);

    // Everything goes: every node crashes (they would remember terms), then the relay. The file
    // is read once no node is left to raise a term (the ring may have elected again meanwhile).
    for (const node of [...ring.nodes]) await ring.crash(node.clientId!);
    const recorded = readStateFile(path).rings[DEFAULT_RING]!;
    expect(recorded.highestTerm).toBeGreaterThanOrEqual(before.leader.term);
    expect(recorded.leader?.term ?? 0).toBeLessThanOrEqual(recorded.highestTerm);
    await ring.restartRelay();
    const status = await getJson(`${ring.relayHttpUrl}/status`);
    expect(status.highestTerm).toBe(recorded.highestTerm);

    await ring.startNodes(3, [35, 25, 15]);
    const after = await waitForAgreement(ring, (a) => a.nodes.length === 3 && a.leader.rank === 35, 'the fresh ring to agree');
    expect(after.leader.term).toBeGreaterThan(recorded.highestTerm);
    // No term names two leaders, across both relays and all six processes.
    expect(doubleClaims(ring)).toEqual([]);
    expect(readStateFile(path).rings[DEFAULT_RING]!.highestTerm).toBeGreaterThanOrEqual(after.leader.term);
  }, DEADLINE_MS * 3);

  it('a relay that cannot record a raised term exits 3 instead of forwarding the frame', async () => {
    const path = join(folder, 'state', 'relay-state.json');
    mkdirSync(join(folder, 'state'));
    const relay = await RelayProcess.start(['--state-file', path]);
    const [first, second] = [await TestClient.connect(relay.url), await TestClient.connect(relay.url)];
    // The file's folder goes away under the running relay: the next write cannot happen.
    renameSync(join(folder, 'state'), join(folder, 'moved'));
    first.send(lap(first.id, 1, [[first.id, 1]]));

    expect(await relay.exit).toBe(STATE_FILE_EXIT_CODE);
    expect(relay.stderr.join('')).toContain(`state file ${path}: cannot be written (ENOENT)`);
    expect(second.frames.filter((frame) => frame.type === 'election')).toEqual([]);
    expect(readStateFile(join(folder, 'moved', 'relay-state.json'))).toEqual({ version: 1, rings: {} });
    first.close();
    second.close();
  });

  it('a corrupt or wrong-version file stops the relay at start with exit code 3 and a message naming it', () => {
    const path = join(folder, 'relay-state.json');
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [CLI, 'relay', '--port', '0', '--host', '127.0.0.1', ...args], {
        env: { ...process.env, LOG_PRETTY: '0', ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    writeFileSync(path, '{"version":1,"rings":{"default":{"highestTerm":4');
    const corrupt = run(['--state-file', path]);
    expect(corrupt.status).toBe(STATE_FILE_EXIT_CODE);
    expect(corrupt.stderr).toContain(`ringleader relay: state file ${path}: is not valid JSON`);

    writeFileSync(path, JSON.stringify({ version: 0, rings: {} }));
    const old = run([], { RELAY_STATE_FILE: path });
    expect(old.status).toBe(STATE_FILE_EXIT_CODE);
    expect(old.stderr).toContain(`state file ${path}: has version 0; this relay reads version 1`);

    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--state-file <string> .*\[env RELAY_STATE_FILE\]/);
    expect(help.stdout).toContain('3 the --state-file');
  });
});
