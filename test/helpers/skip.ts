import type { TestContext } from 'vitest';

/**
 * Skip a test whose tool or service is missing, saying which; with JEEX_TEST_STRICT=1 (set by
 * CI) fail instead, so a missing tool cannot silently turn a check off.
 */
export function skipOrFail(ctx: TestContext, reason: string): never {
  if (process.env.JEEX_TEST_STRICT === '1') throw new Error(`required by JEEX_TEST_STRICT=1: ${reason}`);
  ctx.skip(reason);
  throw new Error('unreachable: ctx.skip() throws');
}

/**
 * The run's PgBouncer, or a skip saying why there is none; with JEEX_REQUIRE_PGBOUNCER=1 (set by
 * CI after installing it) or JEEX_TEST_STRICT=1, a failure instead.
 */
export function requirePooler(ctx: TestContext, server: { pooler?: { port: number }; poolerMissing?: string }): { port: number } {
  if (server.pooler) return server.pooler;
  const reason = `no PgBouncer: ${server.poolerMissing ?? 'unknown reason'}`;
  if (process.env.JEEX_REQUIRE_PGBOUNCER === '1') throw new Error(`required by JEEX_REQUIRE_PGBOUNCER=1: ${reason}`);
  return skipOrFail(ctx, reason);
}
