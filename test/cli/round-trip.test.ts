import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import type { RoundTripResult } from '../../src/migrate/index.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { PACKAGE_TAGS, ScratchMigrations } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// `jeex-db migrate round-trip`, spawned for real against an empty database of its own.

describe('jeex-db migrate round-trip', () => {
  let db: TestDatabase;
  let scratch: ScratchMigrations;
  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    scratch = await ScratchMigrations.create();
  });
  afterEach(async () => {
    await db?.drop();
    await scratch?.remove();
  });

  it('needs --yes, passes on the package migrations (exit 0), fails with its exit code naming the migration and object', { timeout: 120_000 }, async () => {
    const target = ['--url', db.migratorUrl, '--migrations-dir', scratch.dir];
    const refused = await runCli(['migrate', 'round-trip', ...target], localEnv());
    expectExit(refused, EXIT.USAGE);
    expect(refused.stderr).toContain('pass --yes');

    const passed = await runCli(['migrate', 'round-trip', ...target, '--yes', '--json'], localEnv());
    expectExit(passed, 0);
    const result = parseJson<RoundTripResult & { exitCode: number }>(passed);
    expect(result).toMatchObject({ ok: true, failures: [], migrations: PACKAGE_TAGS, exitCode: 0 });
    expect(result.steps).toHaveLength(3 * PACKAGE_TAGS.length);

    // Run again, the database is now migrated: refused, nothing changed.
    const again = await runCli(['migrate', 'round-trip', ...target, '--yes'], localEnv());
    expectExit(again, EXIT.INVALID_CONFIG);
    expect(again.stderr).toContain('needs a database without migrations applied');
  });

  it('a down file that forgets a column: exit MIGRATION_ROUND_TRIP_FAILED, the migration and column printed', { timeout: 120_000 }, async () => {
    const tag = await scratch.add('nickname', ['ALTER TABLE "users" ADD COLUMN "nickname" text;', 'CREATE INDEX "users_nickname_idx" ON "users" ("nickname");'], {
      snapshot: true,
      down: ['DROP INDEX "users_nickname_idx";'],
    });
    const failed = await runCli(['migrate', 'round-trip', '--url', db.migratorUrl, '--migrations-dir', scratch.dir, '--yes'], localEnv());
    expectExit(failed, EXIT.MIGRATION_ROUND_TRIP_FAILED);
    expect(failed.stderr).toContain(`${tag}: after rolling it back the schema differs in 1 object(s):`);
    expect(failed.stderr).toContain('+ columns public.users.nickname: public.users.nickname type=text');
    expect(failed.stderr).toContain(`make ${tag}.down.sql undo exactly what ${tag}.sql does`);
  });
});
