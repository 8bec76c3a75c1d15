/**
 * The ring under fire, run the way a user runs it: a `ringleader relay` process and N
 * `ringleader node` processes under the Supervisor that `ringleader up` uses, plus a
 * `ringleader inspector` process that the relay and every node stream their machines to
 * (INSPECT_URL), all on loopback with free ports. Everything the fuzzer later checks it reads the
 * way an operator would: log lines, /healthz, /status, /metrics, /api/state, /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { track, stopChild } from '../bench/childServer.js';
import { freePort } from '../cli/freePort.js';
import { parseLogLine, type LogRecord } from '../cli/logRecords.js';
import { SUPERVISOR_PID_ENV } from '../cli/orphanGuard.js';
import { DEFAULT_CLI_PATH, Supervisor, type SupervisedChild } from '../cli/supervisor.js';
import type { MemberView } from '../runtime/agreement.js';

const LOOPBACK = '127.0.0.1';

export interface TargetRingOptions {
  nodes: number;
  /** Node ranks, one per node (seeded by the run, so a replay starts the same ring). */
  ranks: readonly number[];
  /** CHECK_INTERVAL_MS, LEADER_TIMEOUT_MS, ELECTION_TIMEOUT_MS... for every process. */
  env: NodeJS.ProcessEnv;
  /** Extra `ringleader relay` flags. */
  relayArgs?: string[];
}

export interface InspectorProcess {
  pid: number;
  process: ChildProcess;
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** ws://127.0.0.1:<port>/inspect */
  ingestUrl: string;
  records: LogRecord[];
  exited: boolean;
}

export interface TargetRing {
  supervisor: Supervisor;
  inspector: InspectorProcess;
  relayUrl: string;
  relayHttpUrl: string;
  stop(): Promise<void>;
}

export async function startTargetRing(options: TargetRingOptions): Promise<TargetRing> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, LOG_PRETTY: '0' };
  // The relay and nodes get their ports and URLs as flags, never from the caller's environment.
  for (const name of ['PORT', 'RELAY_URL', 'RANK', 'INSPECT_URL', 'RING_TOKEN']) delete env[name];
  const supervisor = new Supervisor({ env, relayArgs: ['--host', LOOPBACK, ...(options.relayArgs ?? [])] });
  let inspector: InspectorProcess | undefined;
  try {
    // As `up` does: the relay's port first, so the inspector knows where to poll /status and the
    // relay knows where to stream.
    const port = await freePort();
    supervisor.setRelayPort(port);
    inspector = await startInspectorProcess(`ws://${LOOPBACK}:${port}`, env);
    supervisor.setChildEnv({ INSPECT_URL: inspector.ingestUrl });
    const relay = await supervisor.startRelay();
    await supervisor.startNodes(options.nodes, options.ranks);
    const running = inspector;
    return {
      supervisor,
      inspector: running,
      relayUrl: relay.url,
      relayHttpUrl: supervisor.relayHttpUrl,
      async stop() {
        await supervisor.stop();
        await stopChild(running.process);
      },
    };
  } catch (error) {
    await supervisor.stop();
    if (inspector) await stopChild(inspector.process);
    throw error;
  }
}

/** `ringleader inspector --port 0`: resolves once it logs where it listens. */
async function startInspectorProcess(relayUrl: string, env: NodeJS.ProcessEnv): Promise<InspectorProcess> {
  const child = spawn(process.execPath, [DEFAULT_CLI_PATH, 'inspector', '--port', '0', '--host', LOOPBACK, '--relay', relayUrl], {
    env: { ...env, [SUPERVISOR_PID_ENV]: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const records: LogRecord[] = [];
  const inspector = { pid: child.pid!, process: child, url: '', ingestUrl: '', records, exited: false };
  child.once('exit', () => {
    inspector.exited = true;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the inspector did not say where it listens within 20 s:\n${tail(records)}`)), 20_000);
    const onLine = (line: string) => {
      const record = parseLogLine(line);
      records.push(record);
      if (typeof record.ingestUrl === 'string' && typeof record.url === 'string') {
        inspector.url = record.url;
        inspector.ingestUrl = record.ingestUrl;
        clearTimeout(timer);
        resolve();
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the inspector exited (${signal ?? code}) before listening:\n${tail(records)}`));
    });
  });
  return inspector;
}

function tail(records: readonly LogRecord[]): string {
  return records
    .slice(-10)
    .map((record) => record.raw ?? JSON.stringify(record))
    .join('\n');
}

/** What each live node says, from its log lines: its id, the leader it names, whether it leads. */
export function memberViews(supervisor: Supervisor): MemberView[] {
  return supervisor.nodes.map((node) => ({ id: node.clientId ?? null, leader: node.leader, leading: isLeading(node) }));
}

/** The node's last word on its own leadership: `leadership acquired` not followed by `leadership lost`. */
function isLeading(node: SupervisedChild): boolean {
  for (let index = node.records.length - 1; index >= 0; index -= 1) {
    const message = node.records[index]!.msg;
    if (message === 'leadership acquired') return true;
    if (message === 'leadership lost') return false;
  }
  return false;
}
