/**
 * A private Docker engine for the compose test: dockerd as root with its data, exec state and
 * socket in a temp folder outside the repository (a build context must never contain dockerd's
 * data), reached through DOCKER_HOST, and stopped with everything it changed on the host undone.
 *
 * Host side effects, and how each is kept in check:
 * - `--ip-forward=false`: dockerd would otherwise switch on IP forwarding and, because it was off,
 *   set the iptables FORWARD policy to DROP, which breaks network namespaces that other tests on
 *   this machine use at the same time. Containers on one compose network talk over the bridge
 *   (layer 2) and published ports go through docker-proxy, so neither needs forwarding.
 * - `--bridge=none`: no default docker0 bridge left behind; compose makes its own network.
 * - iptables: dockerd adds DOCKER* chains and jumps to them; `stop()` removes exactly those, and
 *   any docker bridge that was not there before, and puts the FORWARD policy and ip_forward back
 *   as they were.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { run, waitFor } from './run.js';

export interface DockerEngine {
  /** Temp folder holding data/, exec/, docker.sock and dockerd.log. */
  dir: string;
  /** Environment for docker commands: DOCKER_HOST points at the private socket. */
  env: NodeJS.ProcessEnv;
  logFile: string;
  stop(): Promise<void>;
}

export async function startDockerEngine(options: { docker: string; dockerConfig?: string | undefined; log: (line: string) => void }): Promise<DockerEngine> {
  // Short path: unix socket paths are limited to 108 bytes.
  const dir = mkdtempSync('/tmp/rl-docker-');
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const before = await hostNetworkState();
  const logFd = openSync(logFile, 'a');
  const dockerd: ChildProcess = spawn(
    'dockerd',
    [
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${socket}`,
      '--ip-forward=false',
      '--bridge=none',
      // The private engine has no registry to reach; fail fast instead of retrying mirrors.
      '--max-download-attempts=1',
    ],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` } },
  );
  closeSync(logFd);
  let exited = false;
  dockerd.on('exit', () => {
    exited = true;
  });
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}` };
  if (options.dockerConfig) env.DOCKER_CONFIG = options.dockerConfig;

  const stop = async (): Promise<void> => {
    if (!exited && dockerd.pid !== undefined) {
      dockerd.kill('SIGTERM');
      try {
        await waitFor(async () => (exited ? true : undefined), 'dockerd to exit', { timeoutMs: 60_000, intervalMs: 200 });
      } catch {
        dockerd.kill('SIGKILL');
        await waitFor(async () => (exited ? true : undefined), 'dockerd to exit after SIGKILL', { timeoutMs: 10_000, intervalMs: 200 }).catch(() => undefined);
      }
    }
    // containerd is dockerd's child and normally goes with it; make sure nothing it started lingers.
    await killProcessesUnder(dir);
    await unmountUnder(dir);
    await removeDockerIptables();
    await removeDockerLinks(before.dockerLinks);
    await restoreHostNetworkState(before);
    rmSync(dir, { recursive: true, force: true });
    options.log(`docker engine stopped, ${dir} removed`);
  };

  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`dockerd exited; see its log:\n${tail(logFile)}`);
        const result = await run(options.docker, ['version', '--format', '{{.Server.Version}}'], { env, allowFailure: true, timeoutMs: 20_000 });
        return result.code === 0 ? result.stdout.trim() : undefined;
      },
      'dockerd to answer',
      { timeoutMs: 90_000, intervalMs: 500 },
    ).then((version) => options.log(`dockerd ${version} up at ${socket}`));
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, env, logFile, stop };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

interface HostNetworkState {
  forwardPolicy: string | undefined;
  ipForward: string | undefined;
  /** Docker-named network interfaces present before the engine started (left alone). */
  dockerLinks: string[];
}

const DOCKER_LINK = /^(docker0|docker_gwbridge|br-[0-9a-f]{12})$/;

async function dockerLinks(): Promise<string[]> {
  const listed = await run('ip', ['-o', 'link', 'show'], { allowFailure: true }).catch(() => undefined);
  return (listed?.stdout ?? '')
    .split('\n')
    .map((line) => line.match(/^\d+:\s+([^:@\s]+)/)?.[1])
    .filter((name): name is string => name !== undefined && DOCKER_LINK.test(name));
}

/** Deletes bridges the engine made and left (a swarm's docker_gwbridge, say); never older ones. */
async function removeDockerLinks(before: string[]): Promise<void> {
  for (const name of await dockerLinks()) {
    if (!before.includes(name)) await run('ip', ['link', 'delete', name], { allowFailure: true });
  }
}

async function hostNetworkState(): Promise<HostNetworkState> {
  const rules = await run('iptables', ['-S', 'FORWARD'], { allowFailure: true }).catch(() => undefined);
  const policy = rules?.stdout.match(/^-P FORWARD (\w+)/m)?.[1];
  let ipForward: string | undefined;
  try {
    ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  } catch {
    ipForward = undefined;
  }
  return { forwardPolicy: policy, ipForward, dockerLinks: await dockerLinks() };
}

async function restoreHostNetworkState(before: HostNetworkState): Promise<void> {
  const now = await hostNetworkState();
  if (before.forwardPolicy && now.forwardPolicy !== before.forwardPolicy) {
    await run('iptables', ['-P', 'FORWARD', before.forwardPolicy], { allowFailure: true });
  }
  if (before.ipForward !== undefined && now.ipForward !== before.ipForward) {
    try {
      writeFileSync('/proc/sys/net/ipv4/ip_forward', before.ipForward);
    } catch {
      // Not fatal: reported by the next check of the host, nothing else depends on it here.
    }
  }
}

/** Deletes the rules and chains dockerd added (anything naming a DOCKER chain or a docker bridge). */
async function removeDockerIptables(): Promise<void> {
  for (const table of ['filter', 'nat']) {
    const listed = await run('iptables', ['-t', table, '-S'], { allowFailure: true }).catch(() => undefined);
    if (!listed || listed.code !== 0) continue;
    const lines = listed.stdout.split('\n');
    const dockerRule = /DOCKER|docker0|docker_gwbridge|\bbr-[0-9a-f]{12}\b/;
    for (const line of lines) {
      const match = line.match(/^-A (\S+) (.*)$/);
      if (!match || !dockerRule.test(line) || match[1]!.startsWith('DOCKER')) continue;
      await run('sh', ['-c', `iptables -t ${table} -D ${match[1]} ${match[2]}`], { allowFailure: true });
    }
    const chains = lines.map((line) => line.match(/^-N (DOCKER\S*)$/)?.[1]).filter((chain): chain is string => chain !== undefined);
    for (const chain of chains) await run('iptables', ['-t', table, '-F', chain], { allowFailure: true });
    for (const chain of chains) await run('iptables', ['-t', table, '-X', chain], { allowFailure: true });
  }
}

/** Lazily unmounts anything still mounted below `dir` (overlay layers, netns files), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((point): point is string => point !== undefined && point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run('umount', ['-l', point], { allowFailure: true });
}

/** Ends processes whose command line names the engine's folder (containerd, shims) — only ours. */
async function killProcessesUnder(dir: string): Promise<void> {
  const listed = await run('ps', ['-eo', 'pid=,args='], { allowFailure: true });
  for (const line of listed.stdout.split('\n')) {
    const match = line.trim().match(/^(\d+)\s+(.*)$/);
    if (match && match[2]!.includes(dir) && Number(match[1]) !== process.pid) {
      try {
        process.kill(Number(match[1]), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}
