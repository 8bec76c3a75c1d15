import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'machines/**/*.test.ts', 'sim/**/*.test.ts'],
    // test/etcd needs a real etcd: `npm run test:etcd` (its own config), never `npm test`.
    exclude: [...configDefaults.exclude, 'test/etcd/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
