/**
 * Makes sure the Docker tools the compose test needs are on this machine: the engine (dockerd,
 * containerd, runc, docker-init), the `docker` CLI, the older `docker-compose` 1.29 and the
 * Compose v2 plugin behind `docker compose`. Installs from Debian's packages when one is missing;
 * a fresh machine of this kind has none of them.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canRun, run } from './run.js';

export interface DockerTools {
  /** The `docker` CLI to call. */
  docker: string;
  /** `docker-compose` 1.29 (Python), or undefined when it could not be installed. */
  composeV1: string | undefined;
  /** A DOCKER_CONFIG folder whose cli-plugins/ holds Compose v2, or undefined when unavailable. */
  composeV2Config: string | undefined;
}

// Outside the repository (never inside a build context) and kept between runs: the Compose v2
// package is downloaded once per machine.
const CACHE = '/tmp/ringleader-compose-tools';

type Log = (line: string) => void;

export async function ensureDockerTools(log: Log): Promise<DockerTools> {
  const missing = ['dockerd', 'containerd', 'runc', 'docker-init', 'iptables', 'docker-compose'].filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    log(`installing docker.io and docker-compose (missing: ${missing.join(', ')})`);
    await aptGet(['update', '-qq']);
    await aptGet(['install', '-y', '-q', '--no-install-recommends', 'docker.io', 'docker-compose', 'tini', 'iptables']);
  }
  const docker = onPath('docker') ?? 'docker';
  const composeV1 = (await canRun('docker-compose', ['version'])) ? 'docker-compose' : undefined;
  const composeV2Config = await ensureComposeV2(docker, log);
  return { docker, composeV1, composeV2Config };
}

/**
 * Debian bookworm ships only Compose 1.29; Compose v2 (the `docker compose` plugin) is Debian
 * trixie's docker-compose package, which needs nothing but libc. It is fetched with apt from a
 * private source list (the machine's own apt configuration is left alone) and unpacked into a
 * DOCKER_CONFIG folder, so `docker compose` finds it without installing anything system-wide.
 */
async function ensureComposeV2(docker: string, log: Log): Promise<string | undefined> {
  if (await canRun(docker, ['compose', 'version'])) return process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
  const config = join(CACHE, 'docker-config');
  const plugin = join(config, 'cli-plugins', 'docker-compose');
  if (!existsSync(plugin)) {
    log('fetching the Compose v2 plugin (Debian trixie docker-compose package)');
    try {
      const deb = await downloadFromTrixie('docker-compose');
      mkdirSync(join(config, 'cli-plugins'), { recursive: true });
      await run('sh', ['-c', `dpkg-deb --fsys-tarfile "${deb}" | tar -xO ./usr/libexec/docker/cli-plugins/docker-compose > "${plugin}.part"`], { timeoutMs: 120_000 });
      chmodSync(`${plugin}.part`, 0o755);
      await run('mv', [`${plugin}.part`, plugin]);
    } catch (error) {
      log(`Compose v2 unavailable: ${(error as Error).message}`);
      return undefined;
    }
  }
  const env = { ...process.env, DOCKER_CONFIG: config };
  return (await canRun(docker, ['compose', 'version'], env)) ? config : undefined;
}

async function downloadFromTrixie(pkg: string): Promise<string> {
  const apt = join(CACHE, 'apt');
  for (const dir of ['lists/partial', 'cache/archives/partial', 'etc', 'debs']) mkdirSync(join(apt, dir), { recursive: true });
  writeFileSync(
    join(apt, 'etc', 'sources.list'),
    'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n',
  );
  const options = [
    '-o', `Dir::Etc::SourceList=${join(apt, 'etc', 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`,
    '-o', `Dir::Cache=${join(apt, 'cache')}`,
    // apt drops privileges to _apt for downloads, which cannot write to a root-owned temp folder.
    '-o', 'APT::Sandbox::User=root',
  ];
  await run('apt-get', [...options, 'update', '-qq'], { timeoutMs: 300_000 });
  await run('apt-get', [...options, 'download', pkg], { cwd: join(apt, 'debs'), timeoutMs: 300_000 });
  const deb = readdirSync(join(apt, 'debs')).find((name) => name.startsWith(`${pkg}_`) && name.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb`);
  return join(apt, 'debs', deb);
}

async function aptGet(args: string[]): Promise<void> {
  await run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 600_000 });
}

/** Full path of `tool` on PATH (plus the sbin folders, which a non-login root shell may lack). */
export function onPath(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}
