/**
 * Helpers for the relay's tests: the relay as a real OS process (through the CLI), raw `ws`
 * clients that queue what they receive, and waiting on conditions with generous deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { waitFor } from '../runtime/waitFor.js';

export const CLI = 'dist/cli/ringleader.js';
/** Deadlines are generous: the machine is shared and slow; a passing test never waits this long. */
export const DEADLINE_MS = 20_000;

export { waitFor };

export type Json = Record<string, any>;

/** A raw WebSocket client that keeps every frame it receives, to await them in order or by shape. */
export class TestClient {
  readonly frames: Json[] = [];
  private cursor = 0;
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.frames.push(JSON.parse(String(data))));
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
    });
    socket.on('error', () => {});
  }

  /** Connects and waits for `welcome`; the id the relay gave is `client.id`. */
  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const client = new TestClient(new WebSocket(url, options));
    const welcome = await client.next((frame) => frame.type === 'welcome', 'welcome');
    client.id = welcome.clientId;
    return client;
  }

  id = '';

  send(frame: Json | string): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame after the last one taken that matches, consuming everything up to it. */
  async next(match: (frame: Json) => boolean = () => true, what = 'a frame', timeoutMs = DEADLINE_MS): Promise<Json> {
    return waitFor(
      () => {
        for (let index = this.cursor; index < this.frames.length; index += 1) {
          if (match(this.frames[index]!)) {
            this.cursor = index + 1;
            return this.frames[index]!;
          }
        }
        if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting for ${what}`);
        return undefined;
      },
      `${what} at ${this.id || 'a new client'}`,
      timeoutMs,
    );
  }

  error(code: string): Promise<Json> {
    return this.next((frame) => frame.type === 'error' && frame.code === code, `error ${code}`);
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, `${this.id} to be closed`);
  }

  close(): void {
    this.socket.terminate();
  }
}

/** A relay started as a real process through the CLI, with its JSON log lines. */
export class RelayProcess {
  readonly logs: Json[] = [];
  readonly stderr: string[] = [];
  url = '';
  port = 0;
  exit: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buffer = '';
    child.stdout!.on('data', (chunk) => {
      buffer += String(chunk);
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ raw: line });
        }
      }
    });
    child.stderr!.on('data', (chunk) => this.stderr.push(String(chunk)));
    this.exit = once(child, 'exit').then(([code]) => code as number | null);
  }

  static async start(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RelayProcess> {
    const child = spawn(process.execPath, [CLI, 'relay', '--port', '0', '--host', '127.0.0.1', ...args], {
      env: { ...process.env, LOG_PRETTY: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const relay = new RelayProcess(child);
    running.add(relay);
    const listening = await relay.log((line) => line.msg === 'relay listening', 'the relay to listen');
    relay.url = listening.url;
    relay.port = listening.port;
    return relay;
  }

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  log(match: (line: Json) => boolean, what: string): Promise<Json> {
    return waitFor(() => {
      const found = this.logs.find(match);
      if (!found && this.child.exitCode !== null) throw new Error(`relay exited (${this.child.exitCode}) before ${what}: ${this.stderr.join('')}`);
      return found;
    }, what);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    running.delete(this);
  }
}

const running = new Set<RelayProcess>();

/** For afterEach/afterAll: kills every relay process a test started, even after a failure. */
export function killRelayProcesses(): void {
  for (const relay of running) relay.kill();
}

export async function getJson(url: string): Promise<Json> {
  const response = await fetch(url);
  return (await response.json()) as Json;
}

export async function getText(url: string): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Reads one sample from Prometheus text, e.g. metric(text, 'ringleader_relay_frames_rejected_total{code="bad_json"}'). */
export function metric(text: string, series: string): number {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

/** A pino logger that keeps its records in memory, for asserting on log lines in process. */
export function memoryLogger(level = 'info'): { logger: Logger; lines: Json[] } {
  const lines: Json[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}
