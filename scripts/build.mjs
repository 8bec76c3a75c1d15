// Transpiles the TypeScript sources to dist/ with esbuild (one file in, one file out, no bundling).
// Type checking is separate (`npm run typecheck`), so a type error in one folder never blocks
// running another; `npm test` runs both.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['index.ts', 'machines', 'runtime', 'relay', 'node', 'sim', 'cli', 'bench', 'inspector/server', 'examples'];

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
