/**
 * End to end, everything a process: a relay, three `ringleader run` sidecars (each in a process
 * group of its own, as on its own machine) around a script that appends "<RINGLEADER_TERM> <pid>"
 * to a shared file every ~50 ms. The leader's machine dies: its sidecar and its command are
 * SIGKILLed together. Another sidecar takes over in a higher term, and the shared file shows
 * what fencing relies on: never two writers in one term, and terms that never go down.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from './nodeKit.js';
import { killRelayProcesses, RelayProcess } from './relayHelpers.js';
import { alive, CliProcesses, DEADLINE_MS, FAST_ARGS, fencingViolations, killGroup, readTermLines, requireBuiltCli, SIDECAR_TIMING, TERM_WRITER, writeScript } from './sidecarKit.js';
import { waitFor } from '../runtime/waitFor.js';

const started = (line: LogLine) => line.msg === 'command started';
const until = <T>(check: () => T | undefined | null | false, what: string) => waitFor(check, what, { timeoutMs: DEADLINE_MS });

describe('ringleader run: three sidecars, the leader\'s machine dies', () => {
  const processes = new CliProcesses();
  beforeAll(requireBuiltCli);
  afterEach(async () => {
    await processes.cleanUp();
    killRelayProcesses();
  });

  it('another sidecar takes over in a higher term; the shared file never has two writers in a term, nor a term going down', async () => {
    const relay = await RelayProcess.start(['--leader-timeout-ms', String(SIDECAR_TIMING.leaderTimeoutMs)]);
    const folder = processes.folder();
    const writer = writeScript(folder, 'writer.mjs', TERM_WRITER);
    const file = join(folder, 'shared.txt');
    const sidecars = [1, 2, 3].map(() =>
      processes.start(['run', '--relay', relay.url, ...FAST_ARGS, '--', process.execPath, writer, file], { detached: true }),
    );

    const first = await until(() => sidecars.find((sidecar) => sidecar.logs.some(started)), 'a sidecar to run the command');
    const firstRun = first.logs.find(started)!;
    await until(() => readTermLines(file).filter((line) => line.pid === firstRun.commandPid).length >= 5, 'the first command to write');
    // The others are members that follow it, and run nothing.
    for (const sidecar of sidecars.filter((other) => other !== first)) {
      await sidecar.log((line) => line.msg === 'leader changed' && line.term === firstRun.term, 'every sidecar to know the leader');
      expect(sidecar.logs.some(started)).toBe(false);
    }

    // The machine dies: the sidecar and everything in its group, and the command's group.
    killGroup(first.pid);
    killGroup(firstRun.commandPid as number);
    await first.exited;
    await until(() => !alive(firstRun.commandPid as number), 'the first command to be dead');

    const survivors = sidecars.filter((sidecar) => sidecar !== first);
    const next = await until(() => survivors.find((sidecar) => sidecar.logs.some(started)), 'another sidecar to take over');
    const nextRun = next.logs.find(started)!;
    expect(nextRun.term as number).toBeGreaterThan(firstRun.term as number);
    await until(() => readTermLines(file).filter((line) => line.pid === nextRun.commandPid).length >= 5, 'the new command to write');
    // Across all three sidecars, never two runs in one term.
    const runs = sidecars.flatMap((sidecar) => sidecar.logs.filter(started));
    expect(new Set(runs.map((run) => run.term)).size).toBe(runs.length);

    const written = readTermLines(file);
    expect(fencingViolations(written)).toEqual([]);
    expect(written[0]).toEqual({ term: firstRun.term, pid: firstRun.commandPid });
    expect(written.at(-1)!.term).toBeGreaterThanOrEqual(nextRun.term as number);

    // The rest stop cleanly: the command first, then the hand-off, exit 0, nothing left writing.
    for (const sidecar of survivors) sidecar.child.kill('SIGTERM');
    for (const sidecar of survivors) expect((await sidecar.exited).code).toBe(0);
    expect(alive(nextRun.commandPid as number)).toBe(false);
  });
});
