/**
 * A library logs at the level it is given and throws what its caller handles, without also
 * shouting it (issue 25, item 4). Each program runs as a user's process would, from the built
 * package (dist/), so what it writes to stdout and stderr is exactly what the user sees.
 */
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { joinRing, RelayConnectionError } from '../index.js';
import { capturingLogger, FAST, repoRoot } from './nodeKit.js';
import { RelayProcess, killRelayProcesses } from './relayHelpers.js';

const exec = promisify(execFile);

afterEach(() => killRelayProcesses());

/** Runs an ES module program against dist/ and returns what it printed. */
async function program(source: string): Promise<{ stdout: string; stderr: string }> {
  return exec(process.execPath, ['--input-type=module', '-e', source], { cwd: repoRoot, timeout: 30_000, env: { ...process.env, LOG_PRETTY: '0' } });
}

/** An address where nothing listens: a port that was free a moment ago. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `ws://127.0.0.1:${port}`;
}

describe('a quiet library', () => {
  it("startRelay({ logLevel: 'warn' }) prints nothing while all is well; at 'info' it says where it listens", async () => {
    const start = (level: string) => `
      import { startRelay } from './dist/relay/index.js';
      const relay = await startRelay({ port: 0, host: '127.0.0.1', logLevel: '${level}' });
      await relay.close();
    `;
    const quiet = await program(start('warn'));
    expect(quiet).toEqual({ stdout: '', stderr: '' });
    const told = await program(start('info'));
    expect(told.stdout).toContain('"msg":"relay listening"');
  });

  it('`ringleader relay` still writes "relay listening" at LOG_LEVEL=warn: other processes read its port there', async () => {
    const relay = await RelayProcess.start([], { LOG_LEVEL: 'warn' });
    expect(relay.port).toBeGreaterThan(0);
    expect(relay.logs.filter((line) => line.msg === 'relay listening')).toHaveLength(1);
  });

  it('a failed joinRing rejects and logs nothing above debug on the logger it was given', async () => {
    const { logger, lines } = capturingLogger('trace');
    const relay = await closedPort();
    const error = await joinRing({ relay, logger, connectTimeoutMs: 500, timing: FAST }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RelayConnectionError);
    expect((error as RelayConnectionError).code).toBe('unreachable');
    expect(lines.filter((line) => (line.level as number) >= 40)).toEqual([]);
    // Still there for whoever turns debug on.
    expect(lines.find((line) => line.level === 20 && line.code === 'unreachable')?.msg).toMatch(/cannot reach the relay/);
  });

  it('a failed joinRing with the default logger prints nothing: the caller that caught it decides', async () => {
    const relay = await closedPort();
    const { stdout, stderr } = await program(`
      import { joinRing } from './dist/index.js';
      await joinRing({ relay: ${JSON.stringify(relay)}, connectTimeoutMs: 500 }).catch((error) => console.log(error.code));
    `);
    expect(stdout.trim()).toBe('unreachable');
    expect(stderr).toBe('');
  });
});
