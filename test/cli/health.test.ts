import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import type { HealthDocument } from '../../src/ops/health/types.ts';
import { freePort } from '../../src/platform/port.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

/** No URL or health override from the environment of whoever runs the tests. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = localEnv();
  for (const name of Object.keys(base)) if (name.startsWith('JEEX_HEALTH_') || name === 'JEEX_DB_MONITOR_URL') delete base[name];
  return { ...base, ...extra };
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('jeex-db health', () => {
  it('a healthy database: exit 0, a table with every check, status pass', async () => {
    const result = await runCli(['health', '--url', db.adminUrl], env());
    expectExit(result, 0);
    expect(result.stdout).toMatch(/^status\s+key\s+value\s+output/);
    expect(result.stdout).toMatch(/^pass\s+postgresql:reachable\s+true/m);
    expect(result.stdout).toMatch(/^pass\s+postgresql:responseTime\s+\d+(\.\d+)? ms/m);
    expect(result.stdout).toMatch(/^pass\s+migrations:pending\s+0 \{migration\}/m);
    expect(result.stdout).toMatch(/^status: pass$/m);
  });

  it('--json prints exactly the health document', async () => {
    const result = await runCli(['health', '--json', '--url', db.adminUrl], env());
    expectExit(result, 0);
    const doc = parseJson<HealthDocument>(result);
    expect(doc.status).toBe('pass');
    expect(doc.checks['postgresql:reachable']?.[0]).toMatchObject({ observedValue: true, status: 'pass' });
    expect(Object.keys(doc.checks)).toEqual(expect.arrayContaining(['postgresql:connections', 'postgresql:cacheHitRatio', 'postgresql:transactionIdAge', 'migrations:pending']));
    expect(Object.keys(doc).sort()).toEqual(expect.arrayContaining(['checks', 'status']));
    expect(doc).not.toHaveProperty('ok');
  });

  it('a limit crossed (from JEEX_HEALTH_*): exit 1 and the output says what to do', async () => {
    const result = await runCli(['health', '--json', '--url', db.adminUrl], env({ JEEX_HEALTH_DATABASE_SIZE_WARN_BYTES: '1' }));
    expectExit(result, 1);
    const doc = parseJson<HealthDocument>(result);
    expect(doc.status).toBe('warn');
    expect(doc.checks['postgresql:databaseSize']?.[0]).toMatchObject({ status: 'warn', thresholds: { warn: 1 } });
    expect(doc.output).toMatch(/^postgresql:databaseSize: database \S+ takes/m);
  });

  it('a closed port: exit 3 (HEALTH_FAIL) and a fail document, not a crash', async () => {
    const url = `postgres://nobody:hidden-pw@127.0.0.1:${await freePort()}/nothing`;
    const json = await runCli(['health', '--json', '--url', url], env());
    expectExit(json, EXIT.HEALTH_FAIL);
    expect(EXIT.HEALTH_FAIL).toBe(3);
    const doc = parseJson<HealthDocument>(json);
    expect(doc.status).toBe('fail');
    expect(doc.checks['postgresql:reachable']?.[0]).toMatchObject({ observedValue: false, status: 'fail' });
    expect(json.stdout).not.toContain('hidden-pw');
    expect(json.ms).toBeLessThan(10_000);

    const human = await runCli(['health', '--url', url], env());
    expectExit(human, EXIT.HEALTH_FAIL);
    expect(human.stdout).toMatch(/^fail\s+postgresql:reachable\s+false\s+PostgreSQL cannot be queried/m);
    expect(human.stdout).toMatch(/^status: fail$/m);
  });

  it('no database to check: exit 17 (not 3, which means a fail document) naming what to set', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'jeex-health-none-'));
    try {
      const result = await runCli(['health', '--data-dir', empty], env());
      expectExit(result, 17);
      expect(result.stderr).toMatch(/no database to check.*JEEX_DB_MONITOR_URL/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
