/**
 * A real etcd for the store's tests: one member (or three, for the member-loss cases) on loopback,
 * on free ports, with its data in a temp folder that stop() deletes. Nothing is mocked: these
 * tests need Debian's etcd-server (`apt-get install etcd-server`); `.ci/run` installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../cli/freePort.js';
import { waitFor } from '../../runtime/waitFor.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  process: ChildProcess | null;
  /** etcd's own output, for the error message when it does not come up. */
  output: string[];
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** `etcd://127.0.0.1:p1,127.0.0.1:p2,...`: what `ringleader relay --store` takes. */
  storeUrl: string;
  /** SIGKILLs one member (its data stays, so start() brings it back as the same member). */
  kill(index: number): Promise<void>;
  /** Starts a member stopped by kill() again and waits until it is healthy. */
  restart(index: number): Promise<void>;
  /** Stops every member and deletes the data folder. */
  stop(): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 30_000;

/** Throws a message that says how to get etcd when it is not installed. */
export function requireEtcd(): void {
  const probe = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error('these tests need a real etcd on PATH: apt-get install etcd-server (Debian), or put etcd 3.4+ on PATH');
  }
}

export async function startEtcd({ members: count = 1 }: { members?: 1 | 3 } = {}): Promise<EtcdCluster> {
  requireEtcd();
  const root = mkdtempSync(join(tmpdir(), 'ringleader-etcd-'));
  const members: EtcdMember[] = [];
  for (let index = 0; index < count; index += 1) {
    const [client, peer] = [await freePort(), await freePort()];
    members.push({
      name: `m${index}`,
      clientUrl: `http://127.0.0.1:${client}`,
      peerUrl: `http://127.0.0.1:${peer}`,
      dataDir: join(root, `m${index}`),
      process: null,
      output: [],
    });
  }
  const initialCluster = members.map((member) => `${member.name}=${member.peerUrl}`).join(',');
  const token = `ringleader-test-${process.pid}-${Date.now()}`;

  const launch = (member: EtcdMember): void => {
    const child = spawn(
      'etcd',
      [
        '--name', member.name,
        '--data-dir', member.dataDir,
        '--listen-client-urls', member.clientUrl,
        '--advertise-client-urls', member.clientUrl,
        '--listen-peer-urls', member.peerUrl,
        '--initial-advertise-peer-urls', member.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', token,
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer): void => {
      member.output.push(chunk.toString());
      if (member.output.length > 200) member.output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    member.process = child;
    child.once('exit', () => {
      if (member.process === child) member.process = null;
    });
  };

  const healthy = async (member: EtcdMember): Promise<boolean> => {
    const response = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { health?: string };
    return body.health === 'true';
  };

  const waitHealthy = async (member: EtcdMember): Promise<void> => {
    try {
      await waitFor(() => healthy(member), `etcd member ${member.name} at ${member.clientUrl} to be healthy`, { timeoutMs: HEALTH_TIMEOUT_MS, intervalMs: 100 });
    } catch (error) {
      throw new Error(`${(error as Error).message}\netcd said:\n${member.output.join('').slice(-4000)}`);
    }
  };

  const stopMember = async (member: EtcdMember, signal: NodeJS.Signals): Promise<void> => {
    const child = member.process;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  };

  for (const member of members) launch(member);
  const cluster: EtcdCluster = {
    members,
    storeUrl: `etcd://${members.map((member) => member.clientUrl.replace('http://', '')).join(',')}`,
    async kill(index) {
      await stopMember(members[index]!, 'SIGKILL');
    },
    async restart(index) {
      const member = members[index]!;
      if (member.process !== null) return;
      launch(member);
      await waitHealthy(member);
    },
    async stop() {
      for (const member of members) {
        // SIGCONT first: a test may have left a member stopped.
        member.process?.kill('SIGCONT');
        await stopMember(member, 'SIGKILL');
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map(waitHealthy));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
