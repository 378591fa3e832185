import type { ReservedSql, Sql } from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { connect } from '../../src/db/connect.ts';
import { localEnv, parseJson, runCli, type RunResult } from '../helpers/cli.ts';
import { ScratchMigrations } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// Issue 17, finding 4, as a user sees it: a migration blocked by an open transaction. Before the
// fix each try waited 5 s (writers with it) and the hint said to raise the wait to 30 s.

function expectCode(result: RunResult, code: number): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

describe('jeex-db migrate against a lock held by another session', () => {
  let db: TestDatabase;
  let migrations: ScratchMigrations;
  let holderClient: Sql;
  let holder: ReservedSql;
  let pid: number;
  let target: string[];

  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    migrations = await ScratchMigrations.create();
    target = ['--url', db.migratorUrl, '--migrations-dir', migrations.dir, '--no-restore-point'];
    expectCode(await runCli(['migrate', ...target], localEnv()), 0);
    holderClient = connect(db.adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'nightly-export' } });
    holder = await holderClient.reserve();
    await holder`BEGIN`;
    await holder`SELECT count(*) FROM projects`;
    pid = (await holder<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]?.pid ?? 0;
    await migrations.add('projects_archived', ['ALTER TABLE projects ADD COLUMN archived_note text;']);
  });

  afterEach(async () => {
    await holder`ROLLBACK`.catch(() => undefined);
    holder.release();
    await holderClient.end({ timeout: 1 });
    await db.drop();
    await migrations.remove();
  });

  it('prints each retry with its try, wait and blocker, then fails (exit 16) with a hint that names the blocker and no long wait', { timeout: 60_000 }, async () => {
    const result = await runCli(['migrate', '--retries', '1', ...target], localEnv());
    expectCode(result, EXIT.MIGRATION_FAILED);
    expect(result.stderr).toMatch(new RegExp(`lock timeout after 1s \\(try 1 of 2\\); blocked by pid ${pid} \\(idle in transaction, nightly-export, in a transaction for \\d+s\\); next try in \\d+\\.\\ds`));
    expect(result.stderr).toContain(`SELECT pg_terminate_backend(${pid});`);
    expect(result.stderr).toMatch(/Writers were protected/);
    expect(result.stderr).not.toMatch(/30s/);

    const json = await runCli(['migrate', '--retries', '0', '--json', ...target], localEnv());
    expectCode(json, EXIT.MIGRATION_FAILED);
    const doc = parseJson<{ ok: boolean; error: { code: string; hint: string; context: { attempts: number; blockers: { pid: number }[] } } }>(json);
    expect(doc.error).toMatchObject({ code: 'MIGRATION_FAILED', context: { attempts: 1, blockers: [expect.objectContaining({ pid })] } });
    expect(doc.error.hint).toMatch(/only for a table nobody writes to/);
  });
});
