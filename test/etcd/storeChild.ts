/**
 * A relay's store in a process of its own, so a test can freeze it (SIGSTOP) or kill it
 * (SIGKILL) like a real relay. argv[2] is JSON: { store, advertiseUrl, rings, prefix? }.
 * Writes one JSON line per event on stdout, times on the machine-wide clock (absolute()), and
 * reads commands on stdin: `record <ring> <term>` answers `{"type":"recorded"|"recordFailed",...}`.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { EtcdRelayStore } from '../../relay/store/etcdRelayStore.js';
import { absolute } from './ownershipRecorder.js';

const { store: url, advertiseUrl, rings, prefix } = JSON.parse(process.argv[2]!) as { store: string; advertiseUrl: string; rings: string[]; prefix?: string };
const say = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

try {
  const store = await EtcdRelayStore.open({ store: url, advertiseUrl, prefix, nodeLeaseMs: Math.round(5000 / 3), logger: pino({ level: 'warn' }, process.stderr) });
  store.onEvent((event) => {
    if (event.type === 'serving') say({ type: 'serving', ring: event.ring, at: absolute(event.since), floor: event.record.highestTerm });
    if (event.type === 'stopped') say({ type: 'stopped', ring: event.ring, at: absolute(event.servedUntil), reason: event.reason });
    if (event.type === 'activeRelay') say({ type: 'activeRelay', ring: event.ring, activeRelay: event.activeRelay });
  });
  for (const ring of rings) await store.want(ring);
  say({ type: 'ready', serving: store.servedRings() });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, ring, term] = line.trim().split(' ');
    if (command !== 'record' || ring === undefined) return;
    store.record(ring, Number(term), null).then(
      () => say({ type: 'recorded', ring, term: Number(term) }),
      (error: Error) => say({ type: 'recordFailed', ring, term: Number(term), error: error.message }),
    );
  });
} catch (error) {
  say({ type: 'failed', name: (error as Error).name, message: (error as Error).message, exitCode: (error as { exitCode?: number }).exitCode ?? 1 });
  process.exit((error as { exitCode?: number }).exitCode ?? 1);
}
