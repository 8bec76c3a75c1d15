/**
 * No image registry is reachable from this machine, so the Dockerfile's base image
 * (node:20-bookworm-slim) is made locally under that exact name: a small root filesystem holding
 * this machine's own Node 20 binary, npm, the shared libraries `ldd` lists, a /bin/sh (the host's
 * dash), CA certificates and npm's global config, and a `node` user (uid 1000) as in the official
 * image; then `tar -C rootfs -c . | docker import - node:20-bookworm-slim`.
 *
 * It stands in for the official image only on this machine; the Dockerfile is unchanged.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from './run.js';

/** The image names the Dockerfile's FROM lines use, other than earlier stages. */
export function baseImagesOf(dockerfile: string): string[] {
  const stages = new Set<string>();
  const images: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const match = line.trim().match(/^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i);
    if (!match) continue;
    const [, image, stage] = match;
    if (image && !stages.has(image.toLowerCase()) && !images.includes(image)) images.push(image);
    if (stage) stages.add(stage.toLowerCase());
  }
  return images;
}

export async function ensureBaseImage(options: { docker: string; env: NodeJS.ProcessEnv; name: string; log: (line: string) => void }): Promise<void> {
  const { docker, env, name, log } = options;
  const present = await run(docker, ['image', 'inspect', name], { env, allowFailure: true });
  if (present.code === 0) return;
  const node = realpathSync(process.execPath);
  const version = (await run(node, ['--version'])).stdout.trim();
  if (!version.startsWith('v20.')) log(`warning: ${name} is standing in with this machine's Node ${version}`);
  const rootfs = mkdtempSync('/tmp/rl-rootfs-');
  try {
    await buildRootfs(rootfs, node);
    log(`importing ${name} from a ${version} root filesystem`);
    const tar = `tar -C ${rootfs} -c . | ${docker} import ${[
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `ENV NODE_VERSION=${version.slice(1)}`,
      'CMD ["node"]',
    ]
      .map((change) => `--change '${change}'`)
      .join(' ')} - ${name}`;
    await run('sh', ['-c', tar], { env, timeoutMs: 300_000 });
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

async function buildRootfs(rootfs: string, node: string): Promise<void> {
  // Merged /usr as in Debian: /bin, /lib, /lib64 and /sbin are links into /usr.
  for (const dir of ['bin', 'lib', 'lib64', 'sbin']) {
    mkdirSync(join(rootfs, 'usr', dir), { recursive: true });
    symlinkSync(`usr/${dir}`, join(rootfs, dir));
  }
  for (const dir of ['usr/bin', 'usr/local/bin', 'usr/lib', 'etc/ssl/certs', 'usr/etc', 'tmp', 'root', 'home/node', 'proc', 'sys', 'dev', 'var/tmp']) {
    mkdirSync(join(rootfs, dir), { recursive: true });
  }
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  chmodSync(join(rootfs, 'var/tmp'), 0o1777);

  // Node and npm where the host has them, plus the /usr/local/bin names of the official image.
  copyFileSync(node, join(rootfs, 'usr/bin/node'));
  chmodSync(join(rootfs, 'usr/bin/node'), 0o755);
  const npmRoot = join(dirname(dirname(node)), 'lib', 'node_modules', 'npm');
  if (!existsSync(npmRoot)) throw new Error(`npm not found at ${npmRoot}`);
  cpSync(npmRoot, join(rootfs, 'usr/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/bin/npx'));
  for (const tool of ['node', 'npm', 'npx']) symlinkSync(`/usr/bin/${tool}`, join(rootfs, 'usr/local/bin', tool));

  // A POSIX shell for RUN lines and npm scripts, and env for the `#!/usr/bin/env node` scripts.
  copyFileSync('/usr/bin/dash', join(rootfs, 'usr/bin/sh'));
  copyFileSync('/usr/bin/env', join(rootfs, 'usr/bin/env'));
  chmodSync(join(rootfs, 'usr/bin/sh'), 0o755);
  chmodSync(join(rootfs, 'usr/bin/env'), 0o755);

  for (const binary of [node, '/usr/bin/dash', '/usr/bin/env']) {
    for (const library of await sharedLibraries(binary)) copyPreservingPath(library, rootfs);
  }

  // npm reaches the registry through this machine's CA bundle and global npm config (cafile).
  for (const file of ['/etc/ssl/certs/ca-certificates.crt', '/usr/etc/npmrc', '/etc/nsswitch.conf']) {
    if (existsSync(file)) copyPreservingPath(file, rootfs);
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
  await run('chown', ['1000:1000', join(rootfs, 'home/node')]);
}

async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const libraries: string[] = [];
  for (const line of stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const path = line.match(/=>\s+(\/\S+)/)?.[1] ?? line.trim().match(/^(\/\S+)\s+\(/)?.[1];
    if (path) libraries.push(path);
  }
  return libraries;
}

/** Copies `file` (its contents, following symlinks) to the same path inside rootfs. */
function copyPreservingPath(file: string, rootfs: string): void {
  const target = join(rootfs, file);
  mkdirSync(dirname(target), { recursive: true });
  if (!existsSync(target)) copyFileSync(realpathSync(file), target);
}
