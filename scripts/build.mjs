// Transpiles the TypeScript sources to dist/ with esbuild (one file in, one file out, no bundling),
// and writes the type declarations of the package's entry points (tsconfig.build.json) next to
// them with tsc, in parallel. Type checking is separate (`npm run typecheck`), so a type error in
// one folder never blocks running another; `npm test` runs both.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// From scratch: a module deleted from the sources must not live on in dist/ (and in the package).
rmSync('dist', { recursive: true, force: true });
const declarations = emitDeclarations();

const roots = ['index.ts', 'machines', 'runtime', 'relay', 'node', 'sim', 'check', 'cli', 'bench', 'inspector/server', 'examples', 'fuzz'];

function sources(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return [];
  }
  if (stat.isFile()) return path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts') ? [path] : [];
  return readdirSync(path).flatMap((entry) => sources(join(path, entry)));
}

const entryPoints = roots.flatMap(sources);
await build({
  entryPoints,
  outdir: 'dist',
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
console.log(`build: ${entryPoints.length} files -> dist/`);

// The inspector's page: one browser bundle (machines/ included, for the statechart panel) plus its
// static files, into dist/inspector/web. No CDN: everything the page needs is served by the inspector.
const webOut = 'dist/inspector/web';
mkdirSync(webOut, { recursive: true });
await build({
  entryPoints: { app: 'inspector/web/main.ts' },
  outdir: webOut,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(join('inspector/web', file), join(webOut, file));
console.log(`build: inspector page -> ${webOut}/`);

await declarations;
console.log('build: type declarations of the entry points -> dist/');

/**
 * `tsc -p tsconfig.build.json` (declarations only). A type error does not fail the build (tsc
 * still writes the files and exits 2; `npm run typecheck` is where type errors stop you), anything
 * else that stops tsc does.
 */
function emitDeclarations() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 2) console.warn(`build: type errors (declarations written anyway):\n${output}`);
      if (code === 0 || code === 2) resolve();
      else reject(new Error(`tsc -p tsconfig.build.json failed (exit ${code}):\n${output}`));
    });
  });
}
