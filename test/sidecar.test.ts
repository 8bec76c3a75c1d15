/**
 * `ringleader run` as a process around small scripts, against an in-process relay: what the
 * command sees (RINGLEADER_TERM, _RING, _LEADER_ID), what happens when it exits by itself
 * (--on-exit leave / restand), when leadership moves away (SIGTERM to its group), when it ignores
 * SIGTERM (SIGKILL after --grace-ms, or at the end of the lease once leadership is lost), when
 * the sidecar dies (its watchdog kills the command) or its watchdog does, and the exit statuses.
 * Frozen and killed sidecars beside a successor: sidecarOverlap.test.ts.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRelay } from '../relay/server.js';
import { silentLogger, TestRing, type LogLine } from './nodeKit.js';
import { alive, cliRingFixture, DEADLINE_MS, FAST_ARGS, fencingViolations, readTermLines, SIDECAR_TIMING, TERM_WRITER, writeScript, type CliProcess } from './sidecarKit.js';
import { waitFor } from '../runtime/waitFor.js';

const msg = (text: string) => (line: LogLine) => line.msg === text;
const until = <T>(check: () => T | undefined | null | false, what: string) => waitFor(check, what, { timeoutMs: DEADLINE_MS });

/** Once the file argv[4] exists (if given), records what it was given, and exits with the status in argv[3] a moment later. */
const RECORD_AND_EXIT = `
import { appendFileSync, existsSync } from 'node:fs';
const [file, status, go] = process.argv.slice(2);
const { RINGLEADER_TERM, RINGLEADER_RING, RINGLEADER_LEADER_ID } = process.env;
const run = () => {
  appendFileSync(file, \`\${RINGLEADER_TERM} \${RINGLEADER_LEADER_ID} \${RINGLEADER_RING} \${process.pid}\\n\`);
  setTimeout(() => process.exit(Number(status)), 200);
};
const wait = setInterval(() => {
  if (go !== undefined && !existsSync(go)) return;
  clearInterval(wait);
  run();
}, 20);
`;

/** Ignores SIGTERM (it says so in the file) and keeps running. */
const IGNORE_TERM = `
import { appendFileSync } from 'node:fs';
process.on('SIGTERM', () => appendFileSync(process.argv[2], 'got SIGTERM\\n'));
appendFileSync(process.argv[2], 'running\\n');
setInterval(() => {}, 1000);
`;

/** The pids of the watchdogs that guard the command with this pid (from their command lines, Linux's /proc). */
function watchdogPids(commandPid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv.some((arg) => arg.endsWith('watchdog.js')) && argv.includes(String(commandPid));
      } catch {
        return false;
      }
    })
    .map(Number);
}

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('ringleader run', () => {
  const { ring, processes } = cliRingFixture();

  /** The relay with the sidecars' timers (TestRing cleans it up). */
  const startRing = async () => {
    ring.relay = await startRelay({ port: 0, host: '127.0.0.1', leaderTimeoutMs: SIDECAR_TIMING.leaderTimeoutMs, logger: silentLogger });
  };
  const sidecar = (args: string[], command: string[]): CliProcess =>
    processes.start(['run', '--relay', ring.url, ...FAST_ARGS, ...args, '--', ...command]);

  it('--on-exit leave: the command sees its term, ring and id; its status is the sidecar\'s; a standby runs it next, in a higher term', async () => {
    await startRing();
    const folder = processes.folder();
    const script = writeScript(folder, 'record.mjs', RECORD_AND_EXIT);
    const file = join(folder, 'runs.txt');
    const first = sidecar(['--ring', 'jobs', '--rank', '2'], [process.execPath, script, file, '3']);
    const firstId = (await first.log(msg('node joined'), '"node joined"')).clientId;
    const second = sidecar(['--ring', 'jobs', '--rank', '1'], [process.execPath, script, file, '3']);
    const secondId = (await second.log(msg('node joined'), '"node joined"')).clientId;

    expect(await first.exited).toEqual({ code: 3, signal: null });
    expect(await second.exited).toEqual({ code: 3, signal: null });
    const runs = lines(file).map((line) => line.split(' '));
    expect(runs).toHaveLength(2);
    const [firstRun, secondRun] = runs as [string[], string[]];
    // Whoever led first ran first; each run names its own sidecar's id, the ring, and a term.
    expect(new Set([firstRun[1], secondRun[1]])).toEqual(new Set([firstId, secondId]));
    expect(firstRun[2]).toBe('jobs');
    expect(secondRun[2]).toBe('jobs');
    expect(Number(secondRun[0])).toBeGreaterThan(Number(firstRun[0]));
    const leaver = firstRun[1] === firstId ? first : second;
    const started = leaver.logs.find(msg('command started'))!;
    expect(started).toMatchObject({ component: 'run', term: Number(firstRun[0]), commandPid: Number(firstRun[3]) });
    expect(leaver.logs.find(msg('command exited'))).toMatchObject({ term: Number(firstRun[0]), commandPid: Number(firstRun[3]), code: 3 });
    // Left after the command, not before: the hand-off came once it was done.
    const order = leaver.logs.map((line) => line.msg);
    expect(order.indexOf('command exited')).toBeLessThan(order.indexOf('node left'));
  });

  it('a command ended by a signal of its own makes the sidecar exit 128+n', async () => {
    await startRing();
    const run = sidecar([], ['sh', '-c', 'kill -USR1 $$']);
    expect((await run.exited).code).toBe(128 + constants.signals.SIGUSR1);
  });

  it('--on-exit restand: hands leadership off when the command exits and runs it again on its next leadership', async () => {
    await startRing();
    const folder = processes.folder();
    const script = writeScript(folder, 'record.mjs', RECORD_AND_EXIT);
    const file = join(folder, 'runs.txt');
    const go = join(folder, 'go');
    const args = ['--on-exit', 'restand', '--restart-delay-ms', '100'];
    const a = sidecar(args, [process.execPath, script, file, '0', go]);
    const b = sidecar(args, [process.execPath, script, file, '0', go]);
    // The first run ends only once both are in the ring: alone, a sidecar runs the command again itself.
    await a.log(msg('node joined'), '"node joined"');
    await b.log(msg('node joined'), '"node joined"');
    writeFileSync(go, '');
    // Four runs: at least two on each sidecar, handed back and forth.
    const runs = await until(() => {
      const seen = lines(file).map((line) => line.split(' '));
      return seen.length >= 4 && seen;
    }, 'four runs of the command');
    const ids = runs.map((run) => run[1]);
    expect(new Set(ids).size).toBe(2);
    for (let index = 1; index < runs.length; index += 1) {
      expect(ids[index], 'each exit hands off to the other sidecar').not.toBe(ids[index - 1]);
      expect(Number(runs[index]![0])).toBeGreaterThan(Number(runs[index - 1]![0]));
    }
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect((await b.exited).code).toBe(0);
  });

  it('when leadership moves away, the command gets SIGTERM; the new leader\'s runs in a higher term; one writer per term', async () => {
    await startRing();
    const folder = processes.folder();
    const writer = writeScript(folder, 'writer.mjs', TERM_WRITER);
    const file = join(folder, 'shared.txt');
    const low = sidecar(['--rank', '1'], [process.execPath, writer, file]);
    const lowStarted = await low.log(msg('command started'), 'the first sidecar to run its command alone');
    const high = sidecar(['--rank', '2'], [process.execPath, writer, file]);
    await high.log((line) => line.msg === 'leader changed' && line.term === lowStarted.term, 'the second sidecar to follow the first');
    expect(high.logs.find(msg('command started')), 'a follower never runs the command').toBeUndefined();

    // An election on request: the higher rank wins, and the first sidecar loses leadership.
    low.child.kill('SIGUSR2');
    const highStarted = await high.log(msg('command started'), 'the new leader to run its command');
    expect(highStarted.term as number).toBeGreaterThan(lowStarted.term as number);
    const stopping = await low.log(msg('stopping command: SIGTERM to its process group'), 'the old leader to stop its command');
    expect(stopping).toMatchObject({ reason: 'leadership lost', term: lowStarted.term, commandPid: lowStarted.commandPid });
    expect(await low.log(msg('command stopped'), 'the old command to be gone')).toMatchObject({ signal: 'SIGTERM', killed: false });
    await until(() => !alive(lowStarted.commandPid as number), 'the old command\'s process to be gone');
    await until(() => readTermLines(file).filter((line) => line.pid === highStarted.commandPid).length >= 3, 'the new leader\'s command to write');
    expect(low.child.exitCode, 'the old leader stays a member').toBeNull();

    const written = readTermLines(file);
    expect(fencingViolations(written)).toEqual([]);
    expect(written[0]!.term).toBe(lowStarted.term);
    expect(written.some((line) => line.term === highStarted.term && line.pid === highStarted.commandPid)).toBe(true);
  });

  it('a command that ignores SIGTERM gets SIGKILL after --grace-ms; the sidecar then leaves and exits 0', async () => {
    await startRing();
    const folder = processes.folder();
    const script = writeScript(folder, 'stubborn.mjs', IGNORE_TERM);
    const file = join(folder, 'stubborn.txt');
    const run = sidecar(['--grace-ms', '1500'], [process.execPath, script, file]);
    const started = await run.log(msg('command started'), 'the command to start');
    await until(() => lines(file).includes('running'), 'the command to run');

    run.child.kill('SIGTERM');
    const stopping = await run.log(msg('stopping command: SIGTERM to its process group'), 'the stop to begin');
    expect(stopping.reason).toBe('stopping');
    await until(() => lines(file).includes('got SIGTERM'), 'the command to receive SIGTERM');
    expect(alive(started.commandPid as number), 'it ignored SIGTERM').toBe(true);
    const killed = await run.log((line) => /outlived its grace period: sent SIGKILL/.test(line.msg), 'SIGKILL after the grace period');
    expect((killed.time as number) - (stopping.time as number)).toBeGreaterThanOrEqual(1400);
    expect(await run.log(msg('command stopped'), 'the command to be gone')).toMatchObject({ signal: 'SIGKILL', killed: true });
    expect((await run.exited).code).toBe(0);
    expect(alive(started.commandPid as number)).toBe(false);
    const order = run.logs.map((line) => line.msg);
    expect(order.indexOf('command stopped')).toBeLessThan(order.indexOf('node left'));
  });

  it('asked twice to stop, it does not wait out the grace period', async () => {
    await startRing();
    const folder = processes.folder();
    const script = writeScript(folder, 'stubborn.mjs', IGNORE_TERM);
    const file = join(folder, 'stubborn.txt');
    // A grace period longer than the test's own timeout: only the second signal can end it in time.
    const run = sidecar(['--grace-ms', '600000'], [process.execPath, script, file]);
    await run.log(msg('command started'), 'the command to start');
    await until(() => lines(file).includes('running'), 'the command to run');
    run.child.kill('SIGINT');
    await until(() => lines(file).includes('got SIGTERM'), 'the command to receive SIGTERM');
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
    expect(run.logs.find(msg('command stopped'))).toMatchObject({ signal: 'SIGKILL', killed: true });
  });

  it('a sidecar killed outright does not leave its command running: the watchdog kills it', async () => {
    await startRing();
    const folder = processes.folder();
    const writer = writeScript(folder, 'writer.mjs', TERM_WRITER);
    const run = sidecar([], [process.execPath, writer, join(folder, 'shared.txt')]);
    const started = await run.log(msg('command started'), 'the command to start');
    run.child.kill('SIGKILL');
    await run.exited;
    await until(() => !alive(started.commandPid as number), 'the orphaned command to be stopped');
    expect(await run.log((line) => line.role === 'watchdog' && line.commandPid === started.commandPid, 'the watchdog\'s line')).toMatchObject({ reason: 'the sidecar is gone (its pipe closed)' });
  });

  it('once leadership is lost, a command that ignores SIGTERM gets no more grace than the lease has left', async () => {
    await startRing();
    const folder = processes.folder();
    const script = writeScript(folder, 'stubborn.mjs', IGNORE_TERM);
    const file = join(folder, 'stubborn.txt');
    // A grace period longer than the test's own timeout: only the end of the lease can end it in time.
    const run = sidecar(['--grace-ms', '600000'], [process.execPath, script, file]);
    const started = await run.log(msg('command started'), 'the command to start');
    await until(() => lines(file).includes('running'), 'the command to run');

    // The relay goes away: leadership ends at once, the lease a moment later.
    await ring.relay!.close();
    const stopping = await run.log(msg('stopping command: SIGTERM to its process group'), 'the stop to begin');
    expect(stopping).toMatchObject({ reason: 'leadership lost', commandPid: started.commandPid });
    expect(stopping.graceMs as number).toBeLessThanOrEqual(Math.round(SIDECAR_TIMING.leaderTimeoutMs / 3));
    expect(await run.log(msg('command stopped'), 'the command to be gone')).toMatchObject({ signal: 'SIGKILL', killed: true });
    expect(alive(started.commandPid as number)).toBe(false);
    expect(run.child.exitCode, 'the sidecar stays, to rejoin').toBeNull();
  });

  it('a command whose watchdog is killed is stopped, and started again with a new watchdog while the sidecar leads', async () => {
    await startRing();
    const folder = processes.folder();
    const writer = writeScript(folder, 'writer.mjs', TERM_WRITER);
    const run = sidecar([], [process.execPath, writer, join(folder, 'shared.txt')]);
    const first = await run.log(msg('command started'), 'the command to start');
    const watchdogs = () => watchdogPids(first.commandPid as number);
    const [watchdog] = await until(() => watchdogs().length === 1 && watchdogs(), 'the command\'s watchdog');
    process.kill(watchdog!, 'SIGKILL');
    expect(await run.log(msg('stopping command: SIGTERM to its process group'), 'the unguarded command to be stopped')).toMatchObject({ reason: 'watchdog gone', commandPid: first.commandPid });
    const again = await run.log((line) => line.msg === 'command started' && line.commandPid !== first.commandPid, 'the command to start again');
    expect(again.term).toBe(first.term);
    expect(alive(first.commandPid as number)).toBe(false);
    await until(() => watchdogPids(again.commandPid as number).length === 1, 'a watchdog for the new run');
  });

  it('exit status 2 for bad configuration and 127 for a command that is not there, before joining', async () => {
    await startRing();
    const noCommand = processes.start(['run', '--relay', ring.url]);
    expect((await noCommand.exited).code).toBe(2);
    expect(noCommand.logs.map((line) => line.msg).join('\n')).toMatch(/no command to run: ringleader run \[options\] -- <command>/);
    const noSeparator = processes.start(['run', '--relay', ring.url, 'true']);
    expect((await noSeparator.exited).code).toBe(2);
    expect(noSeparator.logs.map((line) => line.msg).join('\n')).toMatch(/unexpected argument "true": put the command after --/);
    const badOnExit = processes.start(['run', '--relay', ring.url, '--on-exit', 'retry', '--', 'true']);
    expect((await badOnExit.exited).code).toBe(2);
    expect(badOnExit.logs.map((line) => line.msg).join('\n')).toMatch(/--on-exit \(env RUN_ON_EXIT\) must be one of leave, restand/);
    const missing = processes.start(['run', '--relay', ring.url, '--', 'no-such-command-here']);
    expect((await missing.exited).code).toBe(127);
    expect(missing.logs.map((line) => line.msg).join('\n')).toMatch(/no-such-command-here: not found on PATH/);
    expect(ring.relay!.status().members).toEqual([]);
  });
});
