import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { MIGRATION_LOCK_KEY } from '../../src/migrate/lock.ts';
import { CLI, localEnv, parseJson, runCli, type RunResult } from '../helpers/cli.ts';
import { PACKAGE_TAGS, ScratchMigrations } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

// The migration commands, spawned for real against a database of their own.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function expectCode(result: RunResult, code: number): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

describe('jeex-db migrate / status / baseline / mark-applied', () => {
  let db: TestDatabase;
  let migrations: ScratchMigrations;
  let admin: Sql;
  let target: string[];

  beforeEach(async () => {
    db = await createTestDatabase({ empty: true });
    migrations = await ScratchMigrations.create();
    admin = connect(db.adminUrl, { max: 2, onnotice: () => {} });
    target = ['--url', db.migratorUrl, '--migrations-dir', migrations.dir];
  });

  afterEach(async () => {
    await admin.end({ timeout: 1 });
    await db.drop();
    await migrations.remove();
  });

  const cli = (...args: string[]) => runCli([...args, ...target], localEnv());
  const tableExists = async (name: string) => (await admin<{ t: string | null }[]>`SELECT to_regclass(${name})::text AS t`)[0]?.t !== null;

  it('status says pending (exit 20), migrate applies (exit 0), then status is up to date (exit 0)', { timeout: 60_000 }, async () => {
    const before = await cli('status', '--json');
    expectCode(before, EXIT.MIGRATIONS_PENDING);
    expect(parseJson<{ pending: string[] }>(before).pending).toEqual(PACKAGE_TAGS);

    const human = await cli('migrate');
    expectCode(human, 0);
    expect(human.stdout).toMatch(/✔ 0000_init \d+ ms/);
    expect(human.stdout).toContain('restore point before these changes: "jeex-db before 0000_init"');
    expect(human.stdout).not.toContain(db.migratorUrl.split('@')[0]?.split(':')[2] ?? 'no-password');

    const after = await cli('status');
    expectCode(after, 0);
    expect(after.stdout).toContain('✔ up to date');
    const again = await cli('migrate', '--json');
    expectCode(again, 0);
    expect(parseJson<{ upToDate: boolean; applied: unknown[] }>(again)).toMatchObject({ upToDate: true, applied: [] });
  });

  it('a failed migration exits 16 with the file, line and SQL excerpt; the problem codes have their own exits', { timeout: 60_000 }, async () => {
    expectCode(await cli('migrate'), 0);
    const bad = await migrations.add('bad', ['CREATE TABLE t1 (id int);\n', 'SELECT 1/0;\n']);
    const failed = await cli('migrate');
    expectCode(failed, EXIT.MIGRATION_FAILED);
    expect(failed.stderr).toContain('error [MIGRATION_FAILED]');
    expect(failed.stderr).toMatch(new RegExp(`${bad}\\.sql:3:1 \\(statement 2 of 2\\): .*division by zero`));
    expect(await tableExists('public.t1')).toBe(false);

    await writeFile(migrations.file(bad), 'CREATE TABLE t1 (id int);\n');
    await writeFile(migrations.file('0001_updated_at_triggers'), '-- edited\n', { flag: 'a' });
    const changed = await cli('migrate', '--json');
    expectCode(changed, EXIT.MIGRATION_CHECKSUM_MISMATCH);
    expect(parseJson<{ error: { code: string; hint: string } }>(changed).error).toMatchObject({ code: 'MIGRATION_CHECKSUM_MISMATCH' });
    expectCode(await cli('status'), EXIT.MIGRATION_CHECKSUM_MISMATCH);
    expectCode(await cli('mark-applied', '0001_updated_at_triggers'), 0);
    expectCode(await cli('migrate'), 0);
    expect(await tableExists('public.t1')).toBe(true);
  });

  it('fails fast with exit 27 naming the lock holder when --lock-timeout 0', { timeout: 60_000 }, async () => {
    const holder = connect(db.adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'other-deploy' } });
    try {
      await holder`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      const result = await cli('migrate', '--lock-timeout', '0');
      expectCode(result, EXIT.MIGRATION_LOCKED);
      expect(result.stderr).toContain('application_name "other-deploy"');
    } finally {
      await holder.end({ timeout: 1 });
    }
  });

  it('baseline --force records everything as applied without running it', { timeout: 60_000 }, async () => {
    // Without --force, baseline first compares the schema with a reference database (test/cli/live-drift.test.ts).
    const result = await cli('baseline', '--force', '--json');
    expectCode(result, 0);
    expect(parseJson<{ marked: string[] }>(result).marked).toEqual(PACKAGE_TAGS);
    expect(await tableExists('public.users')).toBe(false);
    expectCode(await cli('status'), 0);
  });

  it('SIGKILL in the middle of a migration leaves the database as before it; the next run proceeds', { timeout: 60_000 }, async () => {
    expectCode(await cli('migrate'), 0);
    const slow = await migrations.add('slow', ['CREATE TABLE killed_half (id int);', 'SELECT pg_sleep(60);']);
    const child = spawn(process.execPath, [CLI, 'migrate', ...target], { env: localEnv(), stdio: 'ignore' });
    const pid = await until('the migration to be sleeping', async () => {
      const [row] = await admin<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND application_name = 'jeex-db migrate'`;
      return row?.pid;
    });
    child.kill('SIGKILL');
    // The server notices the dead client (client_connection_check_interval) and rolls back.
    await until('the killed backend to go away', async () => {
      const rows = await admin`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`;
      return rows.length === 0 ? true : undefined;
    }, 10_000);
    expect(await tableExists('public.killed_half')).toBe(false);
    expect(await admin`SELECT 1 FROM jeex_migrations.ledger WHERE name = ${slow}`).toHaveLength(0);
    expect(await admin`SELECT 1 FROM pg_locks WHERE locktype = 'advisory'`).toHaveLength(0);

    await writeFile(migrations.file(slow), 'CREATE TABLE killed_half (id int);');
    expectCode(await cli('migrate'), 0);
    expect(await tableExists('public.killed_half')).toBe(true);
  });

  it('SIGKILL during CREATE INDEX CONCURRENTLY: the next run drops the INVALID index and builds it again', { timeout: 60_000 }, async () => {
    expectCode(await cli('migrate'), 0);
    const index = await migrations.add('name_index', ['CREATE INDEX CONCURRENTLY users_name_idx ON users (name);']);
    // An open transaction makes the build wait for it after creating the (still invalid) index.
    const blocker = connect(db.adminUrl, { max: 1, onnotice: () => {} });
    const reserved = await blocker.reserve();
    await reserved`BEGIN`;
    await reserved`SELECT txid_current()`;
    const child = spawn(process.execPath, [CLI, 'migrate', ...target], { env: localEnv(), stdio: 'ignore' });
    try {
      await until('the build to wait', async () => {
        const [row] = await admin<{ valid: boolean }[]>`
          SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'users_name_idx'`;
        return row && !row.valid ? true : undefined;
      });
      child.kill('SIGKILL');
      await until('the killed build to stop', async () => {
        const rows = await admin`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'jeex-db migrate%'`;
        return rows.length === 0 ? true : undefined;
      }, 10_000);
    } finally {
      await reserved`COMMIT`;
      reserved.release();
      await blocker.end({ timeout: 1 });
    }
    const status = await cli('status', '--json');
    expectCode(status, EXIT.MIGRATIONS_PENDING);
    expect(parseJson<{ migrations: { name: string; state: string }[] }>(status).migrations.find((m) => m.name === index)?.state).toBe('interrupted');

    const resumed = await cli('migrate', '--json');
    expectCode(resumed, 0);
    expect(parseJson<{ applied: { name: string; invalidIndexesDropped: string[] }[] }>(resumed).applied).toEqual([
      expect.objectContaining({ name: index, invalidIndexesDropped: ['public.users_name_idx'] }),
    ]);
    const [row] = await admin<{ valid: boolean }[]>`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'users_name_idx'`;
    expect(row?.valid).toBe(true);
  });

  it('plan shows what would run and changes nothing; rollback undoes with the down files', { timeout: 60_000 }, async () => {
    const planned = await cli('plan', '--json');
    expectCode(planned, 0);
    const doc = parseJson<{ migrations: { name: string; grouping: string; statements: unknown[] }[] }>(planned);
    expect(doc.migrations.map((m) => [m.name, m.grouping])).toEqual(PACKAGE_TAGS.map((tag) => [tag, 'transaction']));
    expect(await tableExists('jeex_migrations.ledger')).toBe(false);

    expectCode(await cli('migrate'), 0);
    const back = await cli('rollback', '--steps', String(PACKAGE_TAGS.length - 1));
    expectCode(back, 0);
    expect(back.stdout).toContain('rolled back 0003_encrypt_users');
    expect(back.stdout).toContain('rolled back 0002_deferred_author_fks');
    expect(back.stdout).toContain('rolled back 0001_updated_at_triggers');
    const status = parseJson<{ pending: string[] }>(await cli('status', '--json'));
    expect(status.pending).toEqual(PACKAGE_TAGS.slice(1));
    expectCode(await cli('rollback', '--steps', '1', '--to', '0000_init'), EXIT.USAGE);
  });

  it('rollback refuses a migration without a reviewed down file (exit 31); generate-down drafts one', { timeout: 60_000 }, async () => {
    const tag = await migrations.add('nickname', ['ALTER TABLE "users" ADD COLUMN "nickname" text;'], { snapshot: true });
    expectCode(await cli('migrate'), 0);
    const refused = await cli('rollback');
    expectCode(refused, EXIT.MIGRATION_NO_DOWN);
    expect(refused.stderr).toContain(`jeex-db migrate generate-down ${tag}`);

    const drafted = await runCli(['migrate', 'generate-down', tag, '--migrations-dir', migrations.dir, '--json'], localEnv());
    expectCode(drafted, 0);
    const draft = parseJson<{ file: string; sql: string; custom: boolean }>(drafted);
    expect(draft.file).toBe(migrations.file(tag, '.down.sql'));
    // A custom migration (its snapshot equals the previous one): Drizzle cannot write the undo.
    expect(draft.custom).toBe(true);
    expect(draft.sql).toMatch(/^-- jeex:draft/);
    expect(draft.sql).toContain('ALTER TABLE "users" ADD COLUMN "nickname" text;');
    expectCode(await cli('rollback'), EXIT.MIGRATION_NO_DOWN); // a draft is refused until reviewed
    await writeFile(migrations.file(tag, '.down.sql'), 'ALTER TABLE "users" DROP COLUMN "nickname";\n');
    expectCode(await cli('rollback'), 0);
    expect(await admin`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'`).toHaveLength(0);
  });
});

describe('jeex-db check', () => {
  it('passes on the committed migrations and fails with the lint exit code on a risky new one', { timeout: 60_000 }, async () => {
    const clean = await runCli(['check', '--json'], localEnv());
    expectCode(clean, 0);
    expect(parseJson<{ ok: boolean; drift: string[] }>(clean)).toMatchObject({ ok: true, drift: [] });

    const scratch = await ScratchMigrations.create();
    try {
      await scratch.add('blocking_index', ['CREATE INDEX "users_name_idx" ON "users" ("name");']);
      const risky = await runCli(['check', '--migrations-dir', scratch.dir], localEnv());
      expectCode(risky, EXIT.MIGRATION_LINT);
      expect(risky.stderr).toContain('require-concurrent-index-creation');
    } finally {
      await scratch.remove();
    }
  });
});

