// The compose end-to-end test has its own config so `npm test` (test/**/*.test.ts) never picks
// it up: it needs root, installs Docker if missing and starts a private dockerd.
// Run it with `npm run test:compose`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/compose/**/*.e2e.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
    // One engine, one project: nothing here runs in parallel.
    fileParallelism: false,
  },
});
