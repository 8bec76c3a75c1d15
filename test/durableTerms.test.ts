/**
 * Durable terms (`ringleader relay --state-file`): the file's format and atomic writes, the rule
 * that a term is recorded before the frame that raised it is forwarded, and, with real processes,
 * a relay restarted on the same file telling a fresh ring to elect above every term it used.
 * (`npm run build` first: the process tests run dist/cli/ringleader.js.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createActor } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RING, MAX_TERM, type ElectionFrame, type LeaderInfo } from '../machines/protocol.js';
import { relayMachine, type RelayEmitted } from '../machines/relayMachine.js';
import { DEFAULT_LIMITS } from '../relay/limits.js';
import { LineBudget } from '../relay/lineBudget.js';
import { RelayMetrics } from '../relay/metrics.js';
import { RingHost, type RingConnection } from '../relay/ringHost.js';
import { startRelay } from '../relay/server.js';
import { STATE_FILE_EXIT_CODE, StateFileError, readStateFile, writeStateFile, type WriteChunk } from '../relay/stateFile.js';
import { TermStore } from '../relay/termStore.js';
import { DEADLINE_MS, doubleClaims, startRing, stopRings, waitForAgreement } from './e2eHarness.js';
import { CLI, RelayProcess, TestClient, getJson, killRelayProcesses, waitFor } from './relayHelpers.js';

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN): the real full-disk test needs one. */
const canMountTmpfs = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'ringleader-mount-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();
const mounted: string[] = [];

let folder = '';
beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'ringleader-state-'));
});
afterEach(async () => {
  killRelayProcesses();
  await stopRings();
  for (const disk of mounted.splice(0)) execFileSync('umount', ['-l', disk]);
  rmSync(folder, { recursive: true, force: true });
});

function lap(initiator: string, term: number, eligible: Array<[string, number]>): ElectionFrame {
  return { type: 'election', to: 'next', initiator, term, eligible: eligible.map(([id, rank]) => ({ id, rank })) };
}

const open = (path: string, maxRings = 1000, write?: WriteChunk) => TermStore.open(path, { maxRings, write });
const stores: TermStore[] = [];
/** Opens a store that afterEach closes (its lock released), so one test's failure does not hold the next one's file. */
async function opened(path: string, maxRings = 1000, write?: WriteChunk): Promise<TermStore> {
  const store = await open(path, maxRings, write);
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

type Json = Record<string, any>;

/** A ring host whose carrier hands every frame it writes, parsed, to `onWrite`. */
function ringHost(
  name: string,
  onWrite: (connection: RingConnection, frame: Json) => void,
  options: { termFloor?: number; recordTerms?: (highestTerm: number, leader: LeaderInfo | null) => Promise<void> },
): RingHost<RingConnection> {
  return new RingHost(
    name,
    { ...DEFAULT_LIMITS, forwardTimeoutMs: 60_000 },
    {
      write: (connection, message) => onWrite(connection, JSON.parse(message.toString('utf8', message.indexOf('{')))),
      reject: () => {},
      turnAway: () => {},
      leaveFields: () => ({}),
    },
    pino({ level: 'silent' }),
    new RelayMetrics(),
    options,
  );
}

/** Two members joined (ids n1, n2; serials 1, 2). */
function join2(host: RingHost<RingConnection>): [RingConnection, RingConnection] {
  const connections = [1, 2].map((serial): RingConnection => ({ serial, id: null, remote: '127.0.0.1', lines: new LineBudget() })) as [RingConnection, RingConnection];
  for (const connection of connections) host.connect(connection, { resume: null, host: null, role: 'member', meta: null });
  return connections;
}

/** A term store whose records the test resolves or rejects by hand. */
function manualRecords() {
  const pending: Array<{ ring: string; highestTerm: number; resolve: () => void; reject: (error: Error) => void }> = [];
  const take = (ring: string, highestTerm: number) => {
    const index = pending.findIndex((entry) => entry.ring === ring && entry.highestTerm === highestTerm);
    if (index < 0) throw new Error(`no pending record of ${ring} at ${highestTerm}`);
    return pending.splice(index, 1)[0]!;
  };
  return {
    pending,
    for: (ring: string) => (highestTerm: number) => new Promise<void>((resolve, reject) => pending.push({ ring, highestTerm, resolve, reject })),
    settle: (ring: string, highestTerm: number) => take(ring, highestTerm).resolve(),
    fail: (ring: string, error: Error) => take(ring, pending.find((entry) => entry.ring === ring)!.highestTerm).reject(error),
  };
}

/** `ringleader relay` run to its end (a relay that starts is killed after 30 s: the tests expect it not to). */
function runRelay(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, 'relay', '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, LOG_PRETTY: '0', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

/** Lets every settled promise's callbacks run (no time passes: a turn of the event loop). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the state file', () => {
  it('starts fresh when missing, and a reopened file gives each ring the floor it recorded', async () => {
    const path = join(folder, 'relay-state.json');
    const store = await open(path);
    expect(store.floor(DEFAULT_RING)).toBe(0);
    await store.record(DEFAULT_RING, 7, { id: 'n2', rank: 40, term: 7, meta: { zone: 'a' } });
    await store.record('blue', 3, null);
    await store.close();

    expect(readStateFile(path)).toEqual({
      rings: new Map([
        ['default', { highestTerm: 7, leader: { id: 'n2', rank: 40, term: 7 } }],
        ['blue', { highestTerm: 3, leader: null }],
      ]),
      othersFloor: 0,
    });
    const reopened = await opened(path);
    expect(reopened.floor(DEFAULT_RING)).toBe(7);
    expect(reopened.floor('blue')).toBe(3);
    expect(reopened.floor('never-seen')).toBe(0);
  });

  it('records terms up to MAX_TERM, the highest the relay lets through', async () => {
    const path = join(folder, 'relay-state.json');
    const store = await open(path);
    await store.record(DEFAULT_RING, MAX_TERM, null);
    await store.close();
    expect((await opened(path)).floor(DEFAULT_RING)).toBe(MAX_TERM);
  });

  it('keeps a ring named like an Object property as a ring', async () => {
    const path = join(folder, 'relay-state.json');
    const store = await open(path);
    await store.record('__proto__', 5, null);
    await store.close();
    const reopened = await opened(path);
    expect(reopened.floor('__proto__')).toBe(5);
    expect(reopened.floor('toString')).toBe(0);
  });

  it('writes by replacing: no temp file is left, and an unchanged record does not rewrite the file', async () => {
    const path = join(folder, 'relay-state.json');
    const store = await opened(path);
    for (let term = 1; term <= 5; term += 1) await store.record(DEFAULT_RING, term, { id: 'n1', rank: 1, term });
    expect(readdirSync(folder).sort()).toEqual(['relay-state.json', 'relay-state.json.lock']);
    // Each write renames a new file over the old one, so an unchanged inode means no write.
    const written = statSync(path).ino;
    await store.record(DEFAULT_RING, 5, { id: 'n1', rank: 1, term: 5 });
    expect(statSync(path).ino).toBe(written);
    await store.record(DEFAULT_RING, 6, { id: 'n1', rank: 1, term: 5 });
    expect(statSync(path).ino).not.toBe(written);
  });

  it('refuses a file it cannot trust with an error naming the file and the problem', async () => {
    const path = join(folder, 'relay-state.json');
    await writeStateFile(path, { rings: new Map([['default', { highestTerm: 12, leader: { id: 'n3', rank: 9, term: 12 } }]]), othersFloor: 0 });
    const valid = readFileSync(path, 'utf8');
    const cases: Array<[string, RegExp]> = [
      [valid.slice(0, valid.length / 2), /is not valid JSON .*truncated or corrupt/],
      ['', /is not valid JSON/],
      ['[1]', /is not a JSON object/],
      [valid.replace('"version":1', '"version":3'), /has version 3; this relay reads versions 1 and 2/],
      [JSON.stringify({ rings: {} }), /has version undefined/],
      [JSON.stringify({ version: 1, rings: [] }), /"rings" is not an object/],
      [JSON.stringify({ version: 2, rings: {} }), /othersFloor undefined is not a term/],
      [JSON.stringify({ version: 2, othersFloor: -3, rings: {} }), /othersFloor -3 is not a term/],
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
      await expect(open(path), text).rejects.toThrow(StateFileError);
      await expect(open(path), text).rejects.toThrow(problem);
      await expect(open(path), text).rejects.toThrow(`state file ${path}: `);
      // Never reset: the file is left as it was for a person to look at (and the lock released).
      expect(readFileSync(path, 'utf8')).toBe(text);
      expect(existsSync(`${path}.lock`)).toBe(false);
    }
    expect(() => readStateFile(folder)).toThrow(/cannot be read \(EISDIR\)/);
    await expect(open(join(folder, 'missing', 'state.json'))).rejects.toThrow(/cannot create its lock file .*state.json.lock \(ENOENT\)/);
  });
});

describe('a full disk, a planted symlink: the file is written whole or not at all', () => {
  it('a short write fails loudly and leaves the old file and no temp file; the store then refuses every record', async () => {
    const path = join(folder, 'relay-state.json');
    let diskFull = false;
    // What a full disk does: write(2) writes what fits (here half), and the next call writes nothing.
    const write: WriteChunk = async (file, data, offset, length, position) =>
      diskFull ? (offset === 0 ? (await file.write(data, offset, Math.ceil(length / 2), position)).bytesWritten : 0) : (await file.write(data, offset, length, position)).bytesWritten;
    const store = await opened(path, 1000, write);
    await store.record(DEFAULT_RING, 4, { id: 'n1', rank: 1, term: 4 });
    const before = readFileSync(path, 'utf8');

    diskFull = true;
    await expect(store.record(DEFAULT_RING, 5, null)).rejects.toThrow(new RegExp(`^state file ${path}: cannot be written \\(short write: \\d+ of \\d+ bytes; is the disk full\\?\\)$`));
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(folder).sort()).toEqual(['relay-state.json', 'relay-state.json.lock']);
    // Final: the relay is stopping, and nothing it records later can go out before it.
    diskFull = false;
    await expect(store.record('blue', 1, null)).rejects.toThrow(/short write/);
    expect(readStateFile(path).rings.get(DEFAULT_RING)).toEqual({ highestTerm: 4, leader: { id: 'n1', rank: 1, term: 4 } });
  });

  it('a write error (ENOSPC) names its code and leaves the old file', async () => {
    const path = join(folder, 'relay-state.json');
    await writeStateFile(path, { rings: new Map([['default', { highestTerm: 2, leader: null }]]), othersFloor: 0 });
    const before = readFileSync(path, 'utf8');
    const enospc: WriteChunk = async (file, data, offset, length, position) => {
      if (offset > 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return (await file.write(data, offset, Math.min(length, 8), position)).bytesWritten;
    };
    await expect(writeStateFile(path, { rings: new Map([['default', { highestTerm: 3, leader: null }]]), othersFloor: 0 }, enospc)).rejects.toThrow(
      `state file ${path}: cannot be written (ENOSPC)`,
    );
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(folder)).toEqual(['relay-state.json']);
  });

  it('never follows a symlink planted where the temp file goes: the target is untouched and the file stays a file', async () => {
    const path = join(folder, 'relay-state.json');
    const victim = join(folder, 'victim.txt');
    writeFileSync(victim, 'not the relay\'s to overwrite\n');
    // The name a temp file used to have (and a name a leftover of this relay could have).
    const planted = join(folder, `.relay-state.json.${process.pid}.tmp`);
    symlinkSync(victim, planted);
    const store = await opened(path);
    await store.record(DEFAULT_RING, 3, null);

    expect(readFileSync(victim, 'utf8')).toBe('not the relay\'s to overwrite\n');
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readStateFile(path).rings.get(DEFAULT_RING)).toEqual({ highestTerm: 3, leader: null });
    // A leftover temp name under the lock is removed at open (the link, never what it points to).
    expect(existsSync(planted)).toBe(false);
  });
});

describe('one relay per state file', () => {
  it('a second store on the same file is refused naming the file and the holder\'s pid; closing releases it', async () => {
    const path = join(folder, 'relay-state.json');
    const first = await open(path);
    await expect(open(path)).rejects.toThrow(`state file ${path}: is in use by the relay with pid ${process.pid} (lock file ${path}.lock)`);
    await first.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    await opened(path);
  });

  it('takes over the lock of a relay that died on this host, never one naming another host', async () => {
    const path = join(folder, 'relay-state.json');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: Number(dead.stdout), host: hostname() }));
    const store = await open(path);
    expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8'))).toEqual({ pid: process.pid, host: hostname() });
    await store.close();

    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 4242, host: 'elsewhere' }));
    await expect(open(path)).rejects.toThrow(`is in use by the relay with pid 4242 on host "elsewhere" (lock file ${path}.lock); one relay per state file. If that relay is gone, delete the lock file`);
    expect(readFileSync(`${path}.lock`, 'utf8')).toContain('elsewhere');
  });
});

describe('durable writes coalesce, and the file is bounded', () => {
  it('records made while a write is in flight go out together as the next version, each resolving once it is durable', async () => {
    const path = join(folder, 'relay-state.json');
    const gates: Array<() => void> = [];
    let versions = 0;
    let gated = false;
    const write: WriteChunk = async (file, data, offset, length, position) => {
      if (offset === 0) versions += 1;
      if (offset === 0 && gated) await new Promise<void>((resolve) => gates.push(resolve));
      return (await file.write(data, offset, length, position)).bytesWritten;
    };
    const store = await opened(path, 1000, write);
    versions = 0;
    gated = true;
    const durable = new Set<string>();
    const track = (name: string, promise: Promise<void>) => promise.then(() => durable.add(name));
    const a1 = track('a1', store.record('a', 1, null));
    await waitFor(() => gates.length === 1, 'the first write to start');
    const later = [track('b1', store.record('b', 1, null)), track('c1', store.record('c', 1, null)), track('a2', store.record('a', 2, null))];
    expect(durable.size).toBe(0);

    gates.shift()!();
    await a1;
    expect([...durable]).toEqual(['a1']);
    expect(readStateFile(path).rings).toEqual(new Map([['a', { highestTerm: 1, leader: null }]]));
    await waitFor(() => gates.length === 1, 'the second write to start');
    expect([...durable]).toEqual(['a1']);
    gates.shift()!();
    await Promise.all(later);
    expect(versions).toBe(2);
    expect(readStateFile(path).rings).toEqual(
      new Map([
        ['a', { highestTerm: 2, leader: null }],
        ['b', { highestTerm: 1, leader: null }],
        ['c', { highestTerm: 1, leader: null }],
      ]),
    );
    // What the file holds already resolves without a write.
    await store.record('b', 1, null);
    expect(versions).toBe(2);
  });

  it('names at most maxRings rings: the lowest-term ones fold into othersFloor, so no ring ever starts at or below a term it used', async () => {
    const path = join(folder, 'relay-state.json');
    const store = await open(path, 3);
    for (let term = 1; term <= 5; term += 1) await store.record(`r${term}`, term, null);
    expect([...readStateFile(path).rings.keys()].sort()).toEqual(['r3', 'r4', 'r5']);
    expect(readStateFile(path).othersFloor).toBe(2);
    expect(readFileSync(path, 'utf8')).toMatch(/^\{"version":2,"othersFloor":2,/);
    expect(store.floor('r1')).toBe(2);
    expect(store.floor('r2')).toBe(2);
    expect(store.floor('never-seen')).toBe(2);
    expect(store.floor('r5')).toBe(5);
    // A folded ring back within the floor adds nothing; above it, it is named again.
    await store.record('r1', 2, null);
    expect(readStateFile(path).rings.has('r1')).toBe(false);
    await store.record('r1', 9, null);
    expect([...readStateFile(path).rings.keys()].sort()).toEqual(['r1', 'r4', 'r5']);
    expect(store.floor('r3')).toBe(3);
    await store.close();

    // Reopened with a lower bound: folded down at open.
    const reopened = await opened(path, 1);
    expect(readStateFile(path)).toEqual({ rings: new Map([['r1', { highestTerm: 9, leader: null }]]), othersFloor: 5 });
    expect(reopened.floor('r4')).toBe(5);
  });

  it('3,500 ring names raising terms at once: a few coalesced writes, and a file of at most --max-rings names', async () => {
    const path = join(folder, 'relay-state.json');
    let versions = 0;
    const write: WriteChunk = async (file, data, offset, length, position) => {
      if (offset === 0) versions += 1;
      return (await file.write(data, offset, length, position)).bytesWritten;
    };
    const store = await opened(path, 1000, write);
    versions = 0;
    await Promise.all(Array.from({ length: 3500 }, (_, index) => store.record(`ring-${index}`, index + 1, { id: 'n1', rank: 1, term: index + 1 })));
    expect(versions).toBeLessThanOrEqual(3);
    const state = readStateFile(path);
    expect(state.rings.size).toBe(1000);
    expect(state.othersFloor).toBe(2500);
    expect(statSync(path).size).toBeLessThan(100 * 1000);
    for (const index of [0, 1234, 2499]) expect(store.floor(`ring-${index}`)).toBeGreaterThanOrEqual(index + 1);
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

  it('the ring host writes the file before it hands the frame to the member', async () => {
    const path = join(folder, 'relay-state.json');
    const store = await opened(path);
    const seen: Array<{ type: string; term: number | undefined; fileTerm: number | undefined; fileLeader: string | undefined }> = [];
    const host = ringHost(DEFAULT_RING, (_connection, frame) => {
      const file = readStateFile(path).rings.get(DEFAULT_RING);
      seen.push({ type: frame.type, term: frame.term, fileTerm: file?.highestTerm, fileLeader: file?.leader?.id });
    }, { termFloor: store.floor(DEFAULT_RING), recordTerms: (highestTerm, leader) => store.record(DEFAULT_RING, highestTerm, leader) });
    const [first, second] = join2(host);
    host.frame(first, lap('n1', 1, [['n1', 1]]));
    host.frame(second, { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 2, term: 1 });
    await waitFor(() => seen.some((entry) => entry.type === 'newLeader'), 'the announcement to reach the other member');
    host.stop();

    expect(seen.filter((entry) => entry.type === 'election' || entry.type === 'newLeader')).toEqual([
      { type: 'election', term: 1, fileTerm: 1, fileLeader: undefined },
      { type: 'newLeader', term: 1, fileTerm: 1, fileLeader: 'n2' },
    ]);
    expect(readStateFile(path).rings.get(DEFAULT_RING)).toEqual({ highestTerm: 1, leader: { id: 'n2', rank: 2, term: 1 } });
  });

  it('a ring holds the raising frame and everything after it until its record resolves, while another ring goes on', async () => {
    const records = manualRecords();
    const delivered: Array<{ ring: string; to: number; type: string; term?: number }> = [];
    const carry = (ring: string) => (connection: RingConnection, frame: Json) => delivered.push({ ring, to: connection.serial, type: frame.type, ...(frame.term === undefined ? {} : { term: frame.term }) });
    const red = ringHost('red', carry('red'), { recordTerms: records.for('red') });
    const blue = ringHost('blue', carry('blue'), { recordTerms: records.for('blue') });
    const [red1, red2] = join2(red);
    const elections = (ring: string) => delivered.filter((entry) => entry.ring === ring && (entry.type === 'election' || entry.type === 'newLeader'));

    red.frame(red1, lap('n1', 1, [['n1', 1]]));
    // Not raising the term, but after the frame that did: held behind it, in order.
    red.frame(red2, lap('n1', 1, [['n1', 1], ['n2', 2]]));
    expect(records.pending.map(({ ring, highestTerm }) => [ring, highestTerm])).toEqual([['red', 1]]);
    await settle();
    expect(elections('red')).toEqual([]);
    expect(red.heldDecisions).toBeGreaterThan(0);
    // Membership is not held: a member admitted meanwhile is one, and its leaving is seen.
    const third: RingConnection = { serial: 3, id: null, remote: '127.0.0.1', lines: new LineBudget() };
    red.connect(third, { resume: null, host: null, role: 'member', meta: null });
    expect(third.id).toBe('n3');
    red.disconnect(third);
    expect(red.status().members).toEqual(['n1', 'n2']);

    // Meanwhile blue admits members, elects and announces: its own records, not red's, gate it.
    const [blue1, blue2] = join2(blue);
    expect(delivered.filter((entry) => entry.ring === 'blue' && entry.type === 'welcome')).toHaveLength(2);
    blue.frame(blue1, lap('n1', 7, [['n1', 1]]));
    records.settle('blue', 7);
    await waitFor(() => elections('blue').length === 1, 'blue\'s election to go on');
    blue.frame(blue2, { type: 'newLeader', to: 'all', leaderId: 'n2', rank: 2, term: 7 });
    records.settle('blue', 7);
    await waitFor(() => elections('blue').length === 2, 'blue\'s announcement');
    expect(elections('red')).toEqual([]);

    records.settle('red', 1);
    await waitFor(() => elections('red').length === 2, 'red\'s held frames');
    expect(elections('red')).toEqual([
      { ring: 'red', to: 2, type: 'election', term: 1 },
      { ring: 'red', to: 1, type: 'election', term: 1 },
    ]);
    expect(red.heldDecisions).toBe(0);
    red.stop();
    blue.stop();
  });

  it('a record that fails: the frame that raised the term and everything after it never go out', async () => {
    const records = manualRecords();
    const delivered: string[] = [];
    const host = ringHost('red', (_connection, frame) => delivered.push(frame.type), { recordTerms: records.for('red') });
    const [first, second] = join2(host);
    delivered.length = 0;
    host.frame(first, lap('n1', 1, [['n1', 1]]));
    records.fail('red', new StateFileError('/x', 'cannot be written (ENOSPC)'));
    await settle();
    host.frame(second, lap('n1', 1, [['n1', 1], ['n2', 2]]));
    await settle();
    expect(delivered).toEqual([]);
    host.stop();
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
    const recorded = readStateFile(path).rings.get(DEFAULT_RING)!;
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
    expect(readStateFile(path).rings.get(DEFAULT_RING)!.highestTerm).toBeGreaterThanOrEqual(after.leader.term);
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
    expect(readStateFile(join(folder, 'moved', 'relay-state.json'))).toEqual({ rings: new Map(), othersFloor: 0 });
    first.close();
    second.close();
  });

  it('a second relay on the same file exits 3 naming the file and the first relay\'s pid; once the first is killed, it starts', async () => {
    const path = join(folder, 'relay-state.json');
    const first = await RelayProcess.start(['--state-file', path]);
    const refused = runRelay(['--state-file', path]);
    expect(refused.status).toBe(STATE_FILE_EXIT_CODE);
    expect(refused.stderr).toContain(`ringleader relay: state file ${path}: is in use by the relay with pid ${first.child.pid} (lock file ${path}.lock); one relay per state file`);
    // Killed without a chance to clean up: its lock names a pid that is gone, so it is taken over.
    first.kill();
    await first.exit;
    const second = await RelayProcess.start(['--state-file', path]);
    expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid).toBe(second.child.pid);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it.skipIf(!canMountTmpfs)('on a full disk (a 256 KB tmpfs) the relay exits 3 before forwarding, and the file stays the last good one', async () => {
    const disk = join(folder, 'disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]);
    mounted.push(disk);
    const path = join(disk, 'relay-state.json');
    // A file big enough that a new version cannot fit in what the filler leaves free.
    const rings = Array.from({ length: 900 }, (_, index) => [`ring-${String(index).padStart(4, '0')}`, { highestTerm: 5, leader: { id: 'n1', rank: 1, term: 5 } }]);
    writeFileSync(path, JSON.stringify({ version: 1, rings: Object.fromEntries(rings) }));
    const relay = await RelayProcess.start(['--state-file', path]);
    // As the relay wrote it back at start.
    const good = readFileSync(path, 'utf8');
    expect(good.length).toBeGreaterThan(48 * 1024);
    const [first, second] = [await TestClient.connect(relay.url), await TestClient.connect(relay.url)];
    const { bavail, bsize } = statfsSync(disk);
    writeFileSync(join(disk, 'filler'), Buffer.alloc(bavail * bsize - 16 * 1024));

    first.send(lap(first.id, 1, [[first.id, 1]]));
    expect(await relay.exit).toBe(STATE_FILE_EXIT_CODE);
    expect(relay.stderr.join('')).toMatch(new RegExp(`state file ${path}: cannot be written \\((ENOSPC|short write)`));
    expect(relay.logs.filter((line) => line.level === 60).map((line) => line.msg)).toEqual(['could not record the term in the state file: the relay stops before forwarding it']);
    expect(second.frames.filter((frame) => frame.type === 'election')).toEqual([]);
    expect(readFileSync(path, 'utf8') === good).toBe(true);
    expect(readdirSync(disk).sort()).toEqual(['filler', 'relay-state.json']);

    // Room again: the next start reads every ring's term.
    rmSync(join(disk, 'filler'));
    const restarted = await RelayProcess.start(['--state-file', path]);
    const client = await TestClient.connect(`${restarted.url}/rings/ring-0007`);
    expect((client.frames[0] as Json).term).toBe(5);
    client.close();
    first.close();
    second.close();
  });

  it('as a library: a failed record closes the relay and rejects `closed` with the StateFileError, forwarding nothing', async () => {
    const path = join(folder, 'state', 'relay-state.json');
    mkdirSync(join(folder, 'state'));
    const relay = await startRelay({ host: '127.0.0.1', stateFile: path, logLevel: 'silent' });
    const [first, second] = [await TestClient.connect(relay.url), await TestClient.connect(relay.url)];
    renameSync(join(folder, 'state'), join(folder, 'moved'));
    first.send(lap(first.id, 1, [[first.id, 1]]));

    const error = await relay.closed.then(
      () => null,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(StateFileError);
    expect((error as Error).message).toBe(`state file ${path}: cannot be written (ENOENT)`);
    await waitFor(() => second.closed, 'the relay to close its sockets');
    expect(second.frames.filter((frame) => frame.type === 'election')).toEqual([]);
    first.close();
    second.close();
  });

  it('a corrupt or wrong-version file stops the relay at start with exit code 3 and a message naming it', () => {
    const path = join(folder, 'relay-state.json');
    const run = runRelay;
    writeFileSync(path, '{"version":1,"rings":{"default":{"highestTerm":4');
    const corrupt = run(['--state-file', path]);
    expect(corrupt.status).toBe(STATE_FILE_EXIT_CODE);
    expect(corrupt.stderr).toContain(`ringleader relay: state file ${path}: is not valid JSON`);

    writeFileSync(path, JSON.stringify({ version: 0, rings: {} }));
    const old = run([], { RELAY_STATE_FILE: path });
    expect(old.status).toBe(STATE_FILE_EXIT_CODE);
    expect(old.stderr).toContain(`state file ${path}: has version 0; this relay reads versions 1 and 2`);

    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--state-file <string> .*\[env RELAY_STATE_FILE\]/);
    expect(help.stdout).toContain('3 the --state-file');
  });
});
