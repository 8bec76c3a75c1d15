/**
 * `ringleader run`'s watchdog as a process (dist/cli/run/watchdog.js), driven the way the sidecar
 * drives it: a command in a group of its own, lease ends on the shared clock written to its stdin.
 * What it must do: kill the group when the lease ends unrenewed, at once when the pipe closes or
 * it is told to end, never while renewals come (even those written while it was still starting,
 * slowly), and never let a lease run more than one lease ahead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sharedNow } from '../cli/run/sharedClock.js';
import { repoRoot, type LogLine } from './nodeKit.js';
import { alive, DEADLINE_MS, killGroup, requireBuiltCli } from './sidecarKit.js';
import { waitFor } from '../runtime/waitFor.js';

const WATCHDOG_PATH = join(repoRoot, 'dist', 'cli', 'run', 'watchdog.js');
const until = <T>(check: () => T | undefined | null | false, what: string) => waitFor(check, what, { timeoutMs: DEADLINE_MS });
/** A start-up as slow as a busy machine's: the watchdog's first turn comes 1.5 s late. */
const SLOW_START = ['--import', 'data:text/javascript,const until = Date.now() + 1500; while (Date.now() < until);'];

interface Guarded {
  command: ChildProcess;
  watchdog: ChildProcess;
  logs: LogLine[];
  renew(leaseEndsAt: number): void;
}

describe('ringleader run\'s watchdog', () => {
  const started: Guarded[] = [];
  beforeAll(requireBuiltCli);
  afterEach(() => {
    for (const { command, watchdog } of started.splice(0)) {
      killGroup(command.pid!);
      watchdog.kill('SIGKILL');
    }
  });

  const guard = (leaseEndsAt: number, leaseMs: number, nodeArgs: string[] = []): Guarded => {
    const command = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    const watchdog = spawn(process.execPath, [...nodeArgs, WATCHDOG_PATH, String(command.pid), String(leaseEndsAt), String(leaseMs), 'debug'], {
      detached: true,
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, LOG_PRETTY: '0' },
    });
    const logs: LogLine[] = [];
    createInterface({ input: watchdog.stderr! }).on('line', (line) => logs.push(JSON.parse(line) as LogLine));
    const guarded = { command, watchdog, logs, renew: (end: number) => watchdog.stdin!.write(`lease ${end}\n`) };
    started.push(guarded);
    return guarded;
  };
  const killedWhy = async ({ command, logs }: Guarded) => {
    await until(() => command.signalCode === 'SIGKILL', 'the command to be killed');
    return (await until(() => logs.find((line) => line.msg.startsWith('watchdog: sent SIGKILL')), 'the watchdog\'s line')).reason;
  };

  it('kills the command when the lease ends without a renewal, and exits once it is gone', async () => {
    const guarded = guard(sharedNow() + 300, 1000);
    expect(await killedWhy(guarded)).toBe('the sidecar\'s lease ended without a renewal');
    await until(() => guarded.watchdog.exitCode === 0, 'the watchdog to exit');
  });

  it('keeps the command while renewals come, those written during a slow start included; kills it at once when the pipe closes', async () => {
    const firstEnd = sharedNow() + 500;
    const guarded = guard(firstEnd, 1000, SLOW_START);
    const renewing = setInterval(() => guarded.renew(sharedNow() + 1000), 200);
    try {
      await until(() => sharedNow() > firstEnd + 2500, 'the first lease end to be well past');
    } finally {
      clearInterval(renewing);
    }
    expect(alive(guarded.command.pid!)).toBe(true);
    guarded.watchdog.stdin!.end();
    expect(await killedWhy(guarded)).toBe('the sidecar is gone (its pipe closed)');
  });

  it('takes a lease end more than one lease ahead as one lease from now', async () => {
    const guarded = guard(sharedNow() + 600_000, 300);
    expect(await killedWhy(guarded)).toBe('the sidecar\'s lease ended without a renewal');
  });

  it('told to end, it kills the command first', async () => {
    const guarded = guard(sharedNow() + 600_000, 600_000);
    await until(() => guarded.logs.find((line) => line.msg === 'watchdog: guarding the command'), 'the watchdog to be up');
    guarded.watchdog.kill('SIGTERM');
    expect(await killedWhy(guarded)).toBe('the watchdog got SIGTERM');
  });
});
