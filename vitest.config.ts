import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal workers need real processes: worker_threads run out of WebAssembly memory.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/quiet-logs.ts', 'test/support/no-deadlocks.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
  },
});
