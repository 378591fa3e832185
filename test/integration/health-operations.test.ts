import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/create-db.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import { useTestDatabase } from '../helpers/test-db.ts';

// pool:operationP95: the app's own operation times of the last minute against the SLO.
const t = useTestDatabase();

describe('checkHealth: pool:operationP95', () => {
  it("judges the p95 of the app's real operations against the SLO, once there are enough of them", async () => {
    const app = createDb({ url: t.appUrl, max: 4 }, {});
    try {
      for (let i = 0; i < 5; i++) await app.sql`SELECT pg_sleep(0.03)`;
      const few = await checkHealth(t.admin, { operations: app.operations, thresholds: { operationP95WarnMs: 20, operationMinCount: 10 } });
      expect(few.checks['pool:operationP95']?.[0]).toMatchObject({ status: 'pass', observedUnit: 'ms' });
      expect(few.notes?.join(' ')).toMatch(/5 operation\(s\) in the last 60 s, fewer than operationMinCount \(10\)/);

      await Promise.all(Array.from({ length: 10 }, () => app.sql`SELECT pg_sleep(0.03)`));
      const slow = await checkHealth(t.admin, { operations: app.operations, thresholds: { operationP95WarnMs: 20, operationP95FailMs: 10_000, operationMinCount: 10 } });
      const entry = slow.checks['pool:operationP95']?.[0];
      expect(entry?.status).toBe('warn');
      expect(entry?.observedValue).toBeGreaterThanOrEqual(30);
      expect(entry?.thresholds).toEqual({ warn: 20, fail: 10_000 });
      expect(entry?.output).toMatch(/jeex-db diagnose/);
      expect(app.operations().count).toBe(15);

      // The default SLO (100 ms) applies. 30 ms sleeps pass it on a quiet machine; on a loaded one
      // the p95 (queueing for the 4 connections, TLS handshakes) may cross it, and then it warns.
      const fine = (await checkHealth(t.admin, { operations: app.operations, thresholds: { operationMinCount: 10 } })).checks['pool:operationP95']?.[0];
      expect(fine?.thresholds?.warn).toBe(100);
      expect(fine?.status).toBe(Number(fine?.observedValue) < 100 ? 'pass' : 'warn');
    } finally {
      await app.close();
    }
  });
});
