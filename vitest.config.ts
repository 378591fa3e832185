import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Each file gets its own database (test/helpers/test-db.ts), so files run in parallel.
    fileParallelism: true,
    // Most of a test's time is spent waiting on PostgreSQL, PgBouncer and spawned CLIs, so more
    // files than cores run at once: on the 2-core CI machine 3 workers take the suite from
    // ~870 s (vitest's default there: 1) to ~430 s. JEEX_TEST_WORKERS overrides it.
    maxWorkers: Number(process.env.JEEX_TEST_WORKERS) || 3,
  },
});
