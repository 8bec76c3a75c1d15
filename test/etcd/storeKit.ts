/** Store instances and store child processes for the tests, each reporting to one OwnershipRecorder. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { EtcdRelayStore, type EtcdRelayStoreOptions } from '../../relay/store/etcdRelayStore.js';
import { waitFor } from '../../runtime/waitFor.js';
import { absolute, type OwnershipRecorder } from './ownershipRecorder.js';

export const NODE_LEASE_MS = Math.round(5000 / 3);

export function quietLogger(): Logger {
  return pino({ level: process.env.STORE_TEST_LOG ?? 'silent' });
}

/** Opens a store as relay `name` (advertising ws://<name>.test:8080) and records its serving intervals. */
export async function openStore(storeUrl: string, name: string, recorder: OwnershipRecorder, extra: Partial<EtcdRelayStoreOptions> = {}): Promise<EtcdRelayStore> {
  const store = await EtcdRelayStore.open({ store: storeUrl, advertiseUrl: `ws://${name}.test:8080`, nodeLeaseMs: NODE_LEASE_MS, logger: quietLogger(), ...extra });
  store.onEvent((event) => {
    if (event.type === 'serving') recorder.serving(name, event.ring, absolute(event.since));
    if (event.type === 'stopped') recorder.stopped(name, event.ring, absolute(event.servedUntil));
  });
  return store;
}

export interface ChildEvent {
  type: string;
  ring?: string;
  at?: number;
  [field: string]: unknown;
}

export interface StoreChild {
  process: ChildProcess;
  events: ChildEvent[];
  send(line: string): void;
  exited: Promise<number | null>;
  waitForEvent(what: string, match: (event: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
}

const CHILD = fileURLToPath(new URL('./storeChild.ts', import.meta.url));

/** A store in its own process (test/etcd/storeChild.ts), as relay `name`, wanting `rings`. */
export function startStoreChild(storeUrl: string, name: string, rings: string[], recorder: OwnershipRecorder): StoreChild {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ store: storeUrl, advertiseUrl: `ws://${name}.test:8080`, rings })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: ChildEvent[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let event: ChildEvent;
    try {
      event = JSON.parse(line) as ChildEvent;
    } catch {
      return;
    }
    events.push(event);
    if (event.type === 'serving') recorder.serving(name, event.ring!, event.at!);
    if (event.type === 'stopped') recorder.stopped(name, event.ring!, event.at!);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    events,
    exited,
    send: (line) => child.stdin!.write(`${line}\n`),
    waitForEvent: (what, match, timeoutMs = 30_000) => waitFor(() => events.find(match), `${name}: ${what}`, { timeoutMs }),
  };
}
