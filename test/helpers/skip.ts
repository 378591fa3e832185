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
