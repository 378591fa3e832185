import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { localEnv, parseJson, runCli, type RunResult } from '../helpers/cli.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// Finding 5 of issue 17, through the built binary: `jeex-db mark-applied` of an applied file whose
// statement was changed (integer -> bigint) printed "recorded ... as applied" and nothing else.

function expectCode(result: RunResult, code: number): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

describe('jeex-db mark-applied of an edited applied file', () => {
  let db: TestDatabase;
  let migrations: ScratchMigrations;
  let tag: string;
  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    migrations = await ScratchMigrations.create();
    tag = await migrations.add('scores', ['ALTER TABLE "projects" ADD COLUMN "score" integer;']);
  });
  afterEach(async () => {
    await db.drop();
    await migrations.remove();
  });

  const cli = (...args: string[]) => runCli([...args, '--url', db.migratorUrl, '--migrations-dir', migrations.dir], localEnv());

  it('refuses a statement change (exit 21, the statements listed), records it with --accept-changes and a warning, and takes a comment quietly', { timeout: 60_000 }, async () => {
    expectCode(await cli('migrate', '--no-restore-point'), 0);
    const file = migrations.file(tag);
    await writeFile(file, (await readFile(file, 'utf8')).replace('integer', 'bigint'));

    const refused = await cli('mark-applied', tag, '--json');
    expectCode(refused, EXIT.MIGRATION_CHECKSUM_MISMATCH);
    const error = parseJson<{ ok: boolean; error: { code: string; message: string; context: { edits: { verdict: string; changes: { before: string; after: string }[] }[] } } }>(refused).error;
    expect(error.code).toBe('MIGRATION_CHECKSUM_MISMATCH');
    expect(error.context.edits[0]?.changes).toEqual([{ before: 'ALTER TABLE "projects" ADD COLUMN "score" integer;', after: 'ALTER TABLE "projects" ADD COLUMN "score" bigint;' }]);
    const human = await cli('mark-applied', tag);
    expectCode(human, EXIT.MIGRATION_CHECKSUM_MISMATCH);
    expect(human.stderr).toContain('is now `ALTER TABLE "projects" ADD COLUMN "score" bigint;`');
    expect(human.stderr).toContain('--accept-changes');
    expectCode(await cli('status'), EXIT.MIGRATION_CHECKSUM_MISMATCH);

    const accepted = await cli('mark-applied', tag, '--accept-changes');
    expectCode(accepted, 0);
    expect(accepted.stdout).toContain(`recorded ${tag} as applied`);
    expect(accepted.stderr).toMatch(/warning: .*statements changed after it was applied .*integer;` is now `.*bigint;`/);
    expectCode(await cli('status'), 0);

    await writeFile(file, `-- widened by hand\n${await readFile(file, 'utf8')}`);
    const quiet = await cli('mark-applied', tag, '--json');
    expectCode(quiet, 0);
    expect(parseJson<{ warnings: string[]; edits: { verdict: string }[] }>(quiet)).toMatchObject({ warnings: [], edits: [{ verdict: 'cosmetic' }] });
  });
});
