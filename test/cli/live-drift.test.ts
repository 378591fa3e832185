import { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { connect } from '../../src/db/connect.ts';
import { localEnv, parseJson, runCli, type RunResult } from '../helpers/cli.ts';
import { PACKAGE_MIGRATIONS, PACKAGE_TAGS } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// `status` and `baseline` against a database changed by hand, spawned for real. Before live
// drift, status said "up to date" (exit 0) and baseline --to an older migration was accepted.

function expectCode(result: RunResult, code: number): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

describe('jeex-db status / baseline on a drifted database', () => {
  let db: TestDatabase;
  let reference: TestDatabase;
  let admin: Sql;

  beforeAll(async () => {
    db = await createTestDatabase();
    reference = await createTestDatabase({ empty: true });
    admin = connect(db.adminUrl, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
    await reference?.drop();
  });

  const cli = (...args: string[]) => runCli([...args, '--url', db.migratorUrl, '--migrations-dir', PACKAGE_MIGRATIONS], localEnv());

  it('status exits MIGRATION_DRIFT and lists the objects; --json carries them', { timeout: 60_000 }, async () => {
    expectCode(await cli('status'), 0);
    await admin.unsafe('ALTER TABLE projects ADD COLUMN owner_note text');
    await admin.unsafe('DROP INDEX projects_created_by_status_updated_at_idx');

    const human = await cli('status');
    expectCode(human, EXIT.MIGRATION_DRIFT);
    expect(human.stderr).toContain('[MIGRATION_DRIFT]');
    expect(human.stderr).toContain('column public.projects.owner_note: in the database, not made by the migrations');
    expect(human.stderr).toContain('index public.projects_created_by_status_updated_at_idx: made by the migrations, missing in the database');
    expect(human.stdout).not.toContain('up to date');

    const json = await cli('status', '--json');
    expectCode(json, EXIT.MIGRATION_DRIFT);
    const doc = parseJson<{ ok: boolean; exitCode: number; drift: { expected: string; differences: { name: string; change: string }[] } }>(json);
    expect(doc).toMatchObject({ ok: false, exitCode: EXIT.MIGRATION_DRIFT, drift: { expected: 'recorded' } });
    expect(doc.drift.differences.map((d) => [d.name, d.change])).toEqual([
      ['public.projects.owner_note', 'extra'],
      ['public.projects_created_by_status_updated_at_idx', 'missing'],
    ]);

    const verified = await cli('status', '--verify', '--reference-url', reference.migratorUrl, '--json');
    expectCode(verified, EXIT.MIGRATION_DRIFT);
    expect(parseJson<{ drift: { expected: string; differences: unknown[] } }>(verified).drift).toMatchObject({ expected: 'reference' });
  });

  it('baseline --to an older migration is refused (exit BASELINE_MISMATCH); without a reference it says how', { timeout: 60_000 }, async () => {
    const older = PACKAGE_TAGS[1] ?? '';
    const refused = await cli('baseline', '--to', older, '--reference-url', reference.migratorUrl);
    expectCode(refused, EXIT.BASELINE_MISMATCH);
    expect(refused.stderr).toContain(`not what the migrations make at ${older}`);
    expect(refused.stderr).toContain('Nothing was recorded');

    // The migrator may not CREATE DATABASE and the target is not the local cluster.
    const noReference = await cli('baseline', '--to', older, '--json');
    expectCode(noReference, EXIT.MIGRATION_REFERENCE_UNAVAILABLE);
    const error = parseJson<{ ok: boolean; error: { code: string; hint: string } }>(noReference);
    expect(error).toMatchObject({ ok: false, error: { code: 'MIGRATION_REFERENCE_UNAVAILABLE' } });
    expect(error.error.hint).toMatch(/--reference-url.*--force/);
  });
});
