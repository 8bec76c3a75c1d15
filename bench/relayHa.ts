/**
 * Three relays on one etcd (`ringleader relay --store`, issue 23), 10 in-process nodes given all
 * three: the relay that serves the ring is SIGKILLed, and the figure is the time from the kill
 * until every node names one leader of a higher term (the leader's own relay lease ends long
 * before a standby may serve, so the ring always elects again; `kept` counts the trials where the
 * same node came out leading). The killed relay is started again before the next trial, so every
 * trial starts with three. Needs `etcd` on PATH (Debian: etcd-server); started here on loopback
 * in a temp folder and removed afterwards.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../cli/freePort.js';
import { startRelay, track, type ChildRelay } from './childServer.js';
import { InProcessRing } from './inProcessRing.js';

export interface RelayHaResult {
  /** SIGKILL of the serving relay until all nodes agree on a leader of a higher term. */
  agreedMs: number[];
  /** SIGKILL until a standby's /status says it serves the ring. */
  takeoverMs: number[];
  /** Trials in which the same node led again. */
  kept: number;
}

const TIMING = { leaderTimeoutMs: 2000, checkIntervalMs: 500, electionTimeoutMs: 1000 };

/** Whether `etcd` is on PATH (the row is skipped without it). */
export function etcdAvailable(): boolean {
  const probe = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return probe.error === undefined && probe.status === 0;
}

async function startEtcd(dir: string): Promise<{ url: string; process: ChildProcess }> {
  const [client, peer] = [await freePort(), await freePort()];
  const child = spawn(
    'etcd',
    ['--data-dir', join(dir, 'etcd'), '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--log-level', 'warn'],
    { stdio: 'ignore' },
  );
  track(child);
  let healthy = false;
  const deadline = Date.now() + 30_000;
  while (!healthy && Date.now() < deadline) {
    healthy = await fetch(`http://127.0.0.1:${client}/health`, { signal: AbortSignal.timeout(1000) })
      .then(async (response) => ((await response.json()) as { health?: string }).health === 'true')
      .catch(() => false);
    if (!healthy) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!healthy) throw new Error('etcd did not become healthy within 30 s');
  return { url: `etcd://127.0.0.1:${client}`, process: child };
}

async function serves(relay: ChildRelay): Promise<boolean> {
  const status = await fetch(`${relay.httpUrl}/status`, { signal: AbortSignal.timeout(1000) })
    .then((response) => response.json() as Promise<{ serving?: boolean }>)
    .catch(() => null);
  return status?.serving === true;
}

export async function measureRelayHa(options: { nodes: number; trials: number; progress: (line: string) => void }): Promise<RelayHaResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ringleader-bench-ha-'));
  const etcd = await startEtcd(dir);
  const ports = [await freePort(), await freePort(), await freePort()];
  const launch = (port: number) =>
    startRelay('real', {
      args: ['--port', String(port), '--host', '127.0.0.1', '--store', etcd.url, '--advertise-url', `ws://127.0.0.1:${port}`],
      env: { LEADER_TIMEOUT_MS: String(TIMING.leaderTimeoutMs), LOG_LEVEL: 'warn' },
      // A relay started again on its URL waits for its dead predecessor's lease (TTL + 1 s).
      timeoutMs: 30_000,
    });
  const relays: ChildRelay[] = [];
  for (const port of ports) relays.push(await launch(port));
  const ring = new InProcessRing(relays.map((relay) => relay.url), TIMING);
  const result: RelayHaResult = { agreedMs: [], takeoverMs: [], kept: 0 };
  try {
    await ring.grow(options.nodes);
    for (let trial = 0; trial < options.trials; trial += 1) {
      const before = await ring.waitForAgreement(60_000);
      let active = -1;
      for (const [index, relay] of relays.entries()) if (active === -1 && (await serves(relay))) active = index;
      if (active === -1) throw new Error('no relay serves the ring');
      const victim = relays[active]!;
      const killedAt = performance.now();
      let takeoverAt: number | null = null;
      const standbys = relays.filter((relay) => relay !== victim);
      const watchTakeover = (async () => {
        while (takeoverAt === null && performance.now() - killedAt < 60_000) {
          for (const relay of standbys) if (takeoverAt === null && (await serves(relay))) takeoverAt = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const { ms, leader } = await ring.timeAgreementAfter(() => {
        victim.process.kill('SIGKILL');
      }, before.term, 60_000);
      await watchTakeover;
      const takeoverMs = (takeoverAt ?? Number.NaN) - killedAt;
      result.agreedMs.push(ms);
      result.takeoverMs.push(takeoverMs);
      if (leader.id === before.id) result.kept += 1;
      options.progress(
        `relay HA ${trial + 1}/${options.trials}: standby serving after ${takeoverMs.toFixed(0)} ms, all ${options.nodes} agreeing after ${ms.toFixed(0)} ms (${before.id}@${before.term} -> ${leader.id}@${leader.term})`,
      );
      relays[active] = await launch(ports[active]!);
    }
  } finally {
    await ring.close();
    await Promise.all(relays.map((relay) => relay.stop()));
    etcd.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
