/**
 * `ringleader up` as a user runs it: it starts, prints where to look and when all nodes agree,
 * and on Ctrl-C (SIGINT) stops every child it started and exits 0, nodes before the relay and
 * without a warning, even when the terminal signals its whole process group; killed outright,
 * its children still end. Bad options fail fast.
 * (`npm run build` first: this runs dist/cli/ringleader.js.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CLI_PATH } from '../cli/supervisor.js';
import { DEADLINE_MS, FAST_TIMING } from './e2eHarness.js';

const started: ChildProcess[] = [];
const childPids: number[] = [];

afterEach(() => {
  // Whatever a failed test left behind: `up` runs in its own process group, so killing the group
  // ends it without signalling a reported pid that may since have died and been reused by an
  // unrelated process. Its children (each in a group of its own) notice and leave by themselves.
  childPids.splice(0);
  for (const child of started.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // The group is empty: everything already ended.
    }
  }
});

function startUp(args: string[]) {
  const child = spawn(process.execPath, [DEFAULT_CLI_PATH, 'up', ...args], {
    env: { ...process.env, ...FAST_TIMING },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, as a shell gives a command it runs
  });
  started.push(child);
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const pid of line.matchAll(/\(.*pid (\d+)\)/g)) childPids.push(Number(pid[1]));
    for (const waiter of waiters) waiter();
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );

  /** Resolves with the first stdout line matching `pattern` (lines already printed count). */
  function waitForLine(pattern: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = lines.find((candidate) => pattern.test(candidate));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(line);
        }
      };
      const timer = setTimeout(
        () => reject(new Error(`no line matching ${pattern} within ${DEADLINE_MS} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`)),
        DEADLINE_MS,
      );
      waiters.push(check);
      void exited.then(() => setTimeout(check, 0));
      check();
    });
  }
  return { child, lines, exited, waitForLine, stderr: () => stderr };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ringleader up', () => {
  it('starts a ring, prints where to look and the agreement, and stops everything on SIGINT', async () => {
    const up = startUp(['--nodes', '3', '--port', '0', '--inspector-port', '0']);

    const relayLine = await up.waitForLine(/^relay\s+ws:\/\//);
    const statusLine = await up.waitForLine(/^status\s+http:\/\//);
    await up.waitForLine(/^metrics\s+http:\/\/.*\/metrics$/);
    await up.waitForLine(/^inspector\s+/);
    const agreement = await up.waitForLine(/all 3 nodes agree: leader \S+ \(rank -?\d+, term \d+\)/);
    // Leader changes are shown per node, in the compact form.
    expect(up.lines.some((line) => /^\S+ → leader \S+ \(rank -?\d+, term \d+\)$/.test(line))).toBe(true);

    // The printed status URL answers, and names the leader the agreement line names.
    const statusUrl = statusLine.split(/\s+/)[1]!;
    const leaderId = /leader (\S+)/.exec(agreement)![1];
    const status = (await (await fetch(statusUrl)).json()) as { members: string[]; leader: { id: string } | null };
    expect(status.members).toHaveLength(3);
    expect(status.members).toContain(leaderId);

    const children = [...new Set(childPids)];
    expect(children).toHaveLength(4); // relay + 3 nodes
    expect(relayLine).toMatch(/pid \d+/);
    for (const pid of children) expect(isAlive(pid)).toBe(true);

    up.child.kill('SIGINT');
    const exit = await up.exited;
    expect(exit, up.stderr()).toEqual({ code: 0, signal: null });
    for (const pid of children) expect(isAlive(pid), `child ${pid} outlived up`).toBe(false);
  });

  it('Ctrl-C in a terminal (SIGINT to its whole process group): nodes leave, then the relay stops, no warnings, exit 0', async () => {
    const up = startUp(['--nodes', '3', '--port', '0', '--inspector-port', '0', '--child-logs']);
    await up.waitForLine(/all 3 nodes agree/);
    const children = [...new Set(childPids)];
    expect(children).toHaveLength(4);

    // What the terminal does on Ctrl-C: the signal goes to every process of the foreground group.
    process.kill(-up.child.pid!, 'SIGINT');
    const exit = await up.exited;
    expect(exit, up.stderr()).toEqual({ code: 0, signal: null });
    expect(up.stderr()).toBe('');

    // With --child-logs, every line a child writes is printed as `<name> <level>: <msg> <fields>`.
    const shutdown = up.lines.slice(up.lines.findIndex((line) => /^SIGINT: stopping/.test(line)));
    const relayStops = shutdown.findIndex((line) => /^relay info: relay shutting down/.test(line));
    expect(relayStops, shutdown.join('\n')).toBeGreaterThan(0);
    expect(shutdown.some((line) => /^relay info: relay stopped/.test(line))).toBe(true);
    const left = shutdown.flatMap((line, index) => (/^\S+ info: node left/.test(line) ? [{ node: line.split(' ')[0], index }] : []));
    expect(new Set(left.map(({ node }) => node)).size, shutdown.join('\n')).toBe(3);
    for (const { node, index } of left) expect(index, `${node} left after the relay began to stop`).toBeLessThan(relayStops);
    // They left because `up` asked them to (SIGTERM), not because the terminal's SIGINT reached them.
    const asked = shutdown.filter((line) => /^\S+ info: leaving the ring/.test(line));
    expect(asked).toHaveLength(3);
    for (const line of asked) expect(line).toContain('"signal":"SIGTERM"');
    // No child and not `up` itself (its inspector logs JSON) said anything was wrong.
    const complaints = shutdown.filter((line) => /^\S+ (warn|error|fatal):|"level":(40|50|60)/.test(line));
    expect(complaints, shutdown.join('\n')).toEqual([]);
    expect(shutdown.at(-1)).toBe('stopped.');
    for (const pid of children) expect(isAlive(pid), `child ${pid} outlived up`).toBe(false);
  });

  it('leaves no child behind even when it is killed outright (SIGKILL)', async () => {
    const up = startUp(['--nodes', '2', '--port', '0', '--no-inspector']);
    await up.waitForLine(/all 2 nodes agree/);
    const children = [...new Set(childPids)];
    expect(children).toHaveLength(3);

    up.child.kill('SIGKILL');
    await up.exited;
    // Each child notices it lost its parent and leaves by itself.
    const deadline = Date.now() + DEADLINE_MS;
    while (children.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(children.filter(isAlive), 'children still running after up was killed').toEqual([]);
  });

  it('fails fast with a clear message on a bad option', async () => {
    const up = startUp(['--nodes', 'lots', '--port', '0']);
    const exit = await up.exited;
    expect(exit.code).toBe(2);
    expect(up.stderr()).toMatch(/--nodes.*must be an integer, got "lots"/);
  });

  it('a port already in use (the relay\'s or the inspector\'s): one line naming it, its flag and 0, exit 2, nothing started', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      for (const [args, flag, variable] of [
        [['--port', String(port), '--no-inspector'], 'port', 'PORT'],
        [['--port', '0', '--inspector-port', String(port)], 'inspector-port', 'INSPECTOR_PORT'],
      ] as const) {
        const up = startUp([...args, '--nodes', '1']);
        const exit = await up.exited;
        expect(exit.code, args.join(' ')).toBe(2);
        expect(up.stderr()).toBe(
          `ringleader up: port ${port} is already in use on 127.0.0.1: choose another with --${flag} (env ${variable}), or --${flag} 0 for any free port\n`,
        );
        // Nothing was started, so nothing is reported but the stop.
        expect(up.lines.filter((line) => /relay|node|pid/.test(line))).toEqual([]);
      }
    } finally {
      busy.close();
    }
  });
});
