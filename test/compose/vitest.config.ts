// The Docker end-to-end tests (Compose, and Swarm with the same file) have their own config so
// `npm test` (test/**/*.test.ts) never picks them up: they need root, install Docker if missing
// and start a private dockerd.
// Run it with `npm run test:compose`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/compose/**/*.e2e.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
    // One engine at a time (each file starts its own): nothing here runs in parallel.
    fileParallelism: false,
  },
});
