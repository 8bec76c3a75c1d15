/**
 * Relays as child processes: the real one (`ringleader relay`) and the raw one (rawRelay.ts),
 * started the same way so that both pay the same process and loopback costs. Every child is
 * killed when the benchmark process exits, however it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseLogLine, relayListening } from '../cli/logRecords.js';

/** dist/cli/ringleader.js and dist/bench/rawRelay.js, next to this module once built. */
export const CLI_PATH = fileURLToPath(new URL('../cli/ringleader.js', import.meta.url));
export const RAW_RELAY_PATH = fileURLToPath(new URL('./rawRelay.js', import.meta.url));

export type RelayKind = 'real' | 'raw';

export interface ChildRelay {
  kind: RelayKind;
  url: string;
  /** http:// on the same port (the real relay's /status and /metrics). */
  httpUrl: string;
  pid: number;
  process: ChildProcess;
  /** The last lines the child wrote, for error messages. */
  tail: string[];
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

/** Remembers a child so it is SIGKILLed if the benchmark exits early. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export async function startRelay(
  kind: RelayKind,
  options: { args?: string[]; env?: NodeJS.ProcessEnv; nodeFlags?: string[]; timeoutMs?: number } = {},
): Promise<ChildRelay> {
  const script = kind === 'real' ? [CLI_PATH, 'relay'] : [RAW_RELAY_PATH];
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ...script, '--port', '0', ...(options.args ?? [])], {
    env: { ...process.env, LOG_PRETTY: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  const listening = new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${kind} relay did not log "relay listening" within ${options.timeoutMs ?? 20_000} ms:\n${tail.join('\n')}`)),
      options.timeoutMs ?? 20_000,
    );
    const onLine = (line: string) => {
      remember(line);
      const info = relayListening(parseLogLine(line));
      if (info) {
        clearTimeout(timer);
        resolve(info);
      }
    };
    // Both streams are always drained: a full pipe would stall the relay mid-benchmark.
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${kind} relay exited (${signal ?? code}) before listening:\n${tail.join('\n')}`));
    });
  });
  const info = await listening;
  const url = info.url.replace('0.0.0.0', '127.0.0.1').replace('localhost', '127.0.0.1').replace('[::]', '127.0.0.1');
  return {
    kind,
    url,
    httpUrl: url.replace(/^ws/, 'http').replace(/\/$/, ''),
    pid: child.pid!,
    process: child,
    tail,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  });
}

/** Resident set size of a process in MB (Linux /proc; falls back to 0 elsewhere). */
export function rssMB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The real relay's frames forwarded so far, by type, from GET /metrics. */
export async function forwardedFrames(relay: Pick<ChildRelay, 'httpUrl'>): Promise<Record<string, number>> {
  const response = await fetch(`${relay.httpUrl}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^ringleader_relay_frames_forwarded_total\{type="([^"]+)"\}\s+(\d+(?:\.\d+)?)/gm)) {
    counts[match[1]!] = Number(match[2]);
  }
  return counts;
}

/** after - before, per type. */
export function framesBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [type, value] of Object.entries(after)) delta[type] = value - (before[type] ?? 0);
  return delta;
}
