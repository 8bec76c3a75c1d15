// The store's tests against a real etcd have their own config so `npm test` (which must pass on
// a machine with only Node) never picks them up: they start etcd themselves (test/etcd/etcdHarness.ts)
// and need Debian's etcd-server installed. Run them with `npm run test:etcd`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/etcd/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Each file starts its own etcd; one at a time keeps a 2-core machine's timing honest.
    fileParallelism: false,
  },
});
