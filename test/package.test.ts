/**
 * The package as a user gets it: `npm pack`, installed into a fresh project, type-checked under
 * `module: node16` and under `moduleResolution: bundler` (strict, exactOptionalPropertyTypes,
 * skipLibCheck off), and run. The program (test/package/main.ts) starts a relay through
 * `ringleader/relay`, joins three nodes with `joinRing` from `ringleader`, waits for one leader,
 * imports the node statechart from `ringleader/machines`, closes everything and must exit by
 * itself. Every TypeScript example in README.md, node/README.md and docs/GUARANTEES.md is
 * type-checked the same way, as written.
 *
 * Offline: the project's lockfile pins the package's dependencies, which `npm ci` just put in the
 * npm cache, so the install never reaches the network; the TypeScript compiler is the project's
 * own. Needs `npm run build` first (npm test does it).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './nodeKit.js';

const exec = promisify(execFile);
const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageManifest;
const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
/** The documents whose TypeScript examples must compile against the package (and whose .md links must work in it). */
const README_FILES = ['README.md', 'node/README.md', 'docs/GUARANTEES.md'];

interface PackageManifest {
  name: string;
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
}

interface Packed {
  filename: string;
  integrity: string;
  size: number;
  files: Array<{ path: string; size: number }>;
}

let workDir = '';
let consumer = '';
let packed: Packed;
let examples: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'index.d.ts'))) throw new Error('dist/ is not built: run `npm run build` first (npm test does)');
  workDir = mkdtempSync(join(tmpdir(), 'ringleader-package-'));
  // --ignore-scripts: `prepare` would rebuild dist/ while other tests run from it.
  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', workDir], { cwd: repoRoot });
  packed = (JSON.parse(stdout) as Packed[])[0]!;

  consumer = join(workDir, 'consumer');
  mkdirSync(join(consumer, 'src'), { recursive: true });
  const spec = `file:../${packed.filename}`;
  writeJson(join(consumer, 'package.json'), { name: 'consumer', private: true, type: 'module', dependencies: { ringleader: spec } });
  writeJson(join(consumer, 'package-lock.json'), consumerLockfile(spec));
  await exec('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: consumer }).catch((error: Error & { stderr?: string }) => {
    throw new Error(`npm ci --offline of the packed tarball failed (did \`npm ci\` run in the project? it fills the npm cache):\n${error.stderr ?? error.message}`);
  });

  copyFileSync(join(repoRoot, 'test', 'package', 'main.ts'), join(consumer, 'src', 'main.ts'));
  examples = README_FILES.flatMap((file) => typeScriptBlocks(readFileSync(join(repoRoot, file), 'utf8')).map((code, index) => {
    const name = `${file.replace(/\W+/g, '-')}-${index + 1}.ts`;
    // `export {}` makes each a module (top-level await) without changing a line of the example.
    writeFileSync(join(consumer, 'src', name), `// From ${file}, example ${index + 1}\n${code}\nexport {};\n`);
    return name;
  }));
  writeTsconfigs(consumer);
}, 180_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the built library, relay, machines, CLI and inspector page with their types, and nothing else', () => {
    const paths = packed.files.map((file) => file.path);
    for (const target of Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : [entry.types, entry.default]))) {
      expect(paths, `exports target ${target}`).toContain(target.replace(/^\.\//, ''));
    }
    for (const bin of Object.values(manifest.bin)) expect(paths).toContain(bin);
    for (const page of ['index.html', 'app.js', 'app.css']) expect(paths).toContain(`dist/inspector/web/${page}`);
    expect(paths).toContain('README.md');

    const misplaced = paths.filter(
      (path) =>
        /^(test|sim|bench|examples|scripts|\.ci)\//.test(path.replace(/^dist\//, '')) && path !== 'bench/README.md' ||
        (path.endsWith('.ts') && !path.endsWith('.d.ts')) ||
        /\.(map|png)$|Dockerfile|docker-compose|tsconfig|vitest/.test(path),
    );
    expect(misplaced).toEqual([]);
  });

  it('README links to documents in the package, so they work in node_modules too (the screenshot stays out)', () => {
    const paths = new Set(packed.files.map((file) => file.path));
    for (const file of README_FILES) {
      const text = readFileSync(join(repoRoot, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const resolved = join(file, '..', target!).replace(/\\/g, '/');
        expect(paths.has(resolved), `${file} links to ${target}`).toBe(true);
      }
    }
  });

  it('found the TypeScript examples of both READMEs', () => {
    expect(examples.filter((name) => name.startsWith('README'))).not.toEqual([]);
    expect(examples.filter((name) => name.startsWith('node-README'))).not.toEqual([]);
  });

  it.each(['node16', 'bundler'])('type-checks the program and the README examples under %s resolution', async (config) => {
    const { stdout } = await exec(process.execPath, [TSC, '-p', `tsconfig.${config}.json`], { cwd: consumer }).catch(
      (error: Error & { stdout?: string }) => ({ stdout: error.stdout ?? error.message }),
    );
    // skipLibCheck is off, so ringleader's own declarations are checked as strictly as the
    // program. Errors inside another package's declarations are that package's (XState 5's do
    // not pass exactOptionalPropertyTypes; its users set skipLibCheck), not ours.
    const errors = stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    const ours = errors.filter((line) => !/^node_modules\/(?!ringleader\/)/.test(line));
    expect(ours, stdout).toEqual([]);
  }, 120_000);

  it('runs: a relay, three nodes and one leader, then everything closes and the process exits by itself', async () => {
    // Compile as a user would under node16 (the checks above are the strict part), then run it.
    const args = ['-p', 'tsconfig.node16.json', '--noEmit', 'false', '--skipLibCheck', 'true', '--outDir', 'out'];
    await exec(process.execPath, [TSC, ...args], { cwd: consumer }).catch(
      (error: Error & { stdout?: string }) => {
        throw new Error(`tsc failed:\n${error.stdout ?? error.message}`);
      },
    );
    // No process.exit in the program and no kill here: a handle left open would hit the timeout.
    const { stdout, stderr } = await exec(process.execPath, [join('out', 'main.js')], {
      cwd: consumer,
      timeout: 60_000,
      env: { ...process.env, RING_TOKEN: 'shared-secret', LOG_PRETTY: '0' },
    });
    // One line: the relay at logLevel 'warn' printed nothing of its own.
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(stdout.trim()) as { leader: { id: string; rank: number }; leading: string[]; failure: string; machine: string; states: string[] };
    expect(report.leader.rank).toBe(30);
    expect(report.leading).toEqual([report.leader.id]);
    expect(report.failure).toBe('unreachable');
    expect(report.machine).toBe('node');
    expect(report.states).toEqual(['disconnected', 'online', 'left']);
    // The failed join was the program's to handle (it caught the error): the library did not also print it.
    expect(stderr).not.toContain('cannot reach the relay');
  }, 90_000);

  it('installs the ringleader command, which answers --version', async () => {
    const { stdout } = await exec(join(consumer, 'node_modules', '.bin', 'ringleader'), ['--version'], { cwd: consumer });
    expect(stdout.trim()).toBe(manifest.version);
  });
});

/**
 * The consumer's lockfile: the package (the packed tarball) and, pinned exactly as in this
 * project's lockfile with their registry addresses, the production dependencies it brings. With
 * every tarball already in the npm cache (by integrity), `npm ci --offline` needs nothing else.
 */
function consumerLockfile(spec: string): unknown {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { ringleader: spec } },
    'node_modules/ringleader': {
      version: manifest.version,
      resolved: spec,
      integrity: packed.integrity,
      license: manifest.license,
      dependencies: manifest.dependencies,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true || entry.devOptional === true) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${String(entry.version)}.tgz`;
    packages[path] = { ...entry, resolved };
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

/** A user's settings, as strict as they come. @types/node came with the package (through @types/ws). */
function writeTsconfigs(dir: string): void {
  const common = {
    target: 'ES2022',
    lib: ['ES2023'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  };
  writeJson(join(dir, 'tsconfig.node16.json'), { compilerOptions: { ...common, module: 'node16', moduleResolution: 'node16' }, include: ['src'] });
  writeJson(join(dir, 'tsconfig.bundler.json'), { compilerOptions: { ...common, module: 'esnext', moduleResolution: 'bundler' }, include: ['src'] });
}

function typeScriptBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(([, code]) => code!);
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
