/**
 * `npx ringleader ...` as the README shows it: npm runs the command through a shell, passes a
 * SIGTERM on to that shell only, and the shell dies without passing it on. The ringleader process
 * must not run on, re-parented: it takes its launcher's end as SIGTERM (cli/orphanGuard.ts).
 * The package is "installed" in a scratch project as npm would (node_modules/.bin/ringleader
 * pointing at the built CLI), so npx finds it locally and never reaches a registry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CLI_PATH } from '../cli/supervisor.js';
import { waitFor } from './nodeKit.js';

const cleanUps: Array<() => void> = [];
afterEach(() => {
  for (const cleanUp of cleanUps.splice(0)) cleanUp();
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A project with the package's bin installed, as `npm install ringleader` leaves it. */
function scratchProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringleader-npx-'));
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "name": "consumer", "private": true }\n');
  symlinkSync(DEFAULT_CLI_PATH, join(dir, 'node_modules', '.bin', 'ringleader'));
  cleanUps.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `npx ringleader relay` in a scratch project; resolves once the relay (a grandchild of npx) listens. */
async function relayThroughNpx(): Promise<{ npx: ChildProcess; relayPid: number; lines: Array<Record<string, unknown>> }> {
  const cwd = scratchProject();
  const npx: ChildProcess = spawn('npx', ['--offline', 'ringleader', 'relay', '--port', '0', '--host', '127.0.0.1'], {
    cwd,
    env: { ...process.env, LOG_PRETTY: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: npx.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // npm's own words, if any.
    }
  });
  let relayPid = 0;
  cleanUps.push(() => {
    if (relayPid > 0 && isAlive(relayPid)) process.kill(relayPid, 'SIGKILL');
    if (npx.exitCode === null && npx.signalCode === null) npx.kill('SIGKILL');
  });
  const listening = await waitFor(() => lines.find((line) => line.msg === 'relay listening'), 'the relay started by npx to listen');
  relayPid = listening.pid as number;
  expect(relayPid).not.toBe(npx.pid);
  return { npx, relayPid, lines };
}

describe('npx ringleader and signals', () => {
  it('SIGTERM to the npx process stops the relay it started (it logs its shutdown and exits), instead of leaving it running', async () => {
    const { npx, relayPid, lines } = await relayThroughNpx();
    npx.kill('SIGTERM');
    await waitFor(() => !isAlive(relayPid), `the relay (pid ${relayPid}) to stop after npx was sent SIGTERM`, 15_000);
    // It stopped as on a SIGTERM of its own: gracefully, saying so.
    expect(lines.find((line) => line.msg === 'relay shutting down')).toMatchObject({ signal: 'SIGTERM' });
  });

  it('a signal that ends npm without it passing anything on (SIGUSR2) stops it too', async () => {
    const { npx, relayPid, lines } = await relayThroughNpx();
    npx.kill('SIGUSR2');
    await waitFor(() => !isAlive(relayPid), `the relay (pid ${relayPid}) to stop after npm died of SIGUSR2`, 15_000);
    expect(lines.find((line) => line.msg === 'relay shutting down')).toMatchObject({ signal: 'SIGTERM' });
  });
});
