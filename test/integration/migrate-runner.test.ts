import { randomUUID } from 'node:crypto';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isJeexDbError, type JeexDbError } from '../../src/core/errors.ts';
import { MIGRATION_LOCK_KEY } from '../../src/migrate/lock.ts';
import { assertUpToDate, markApplied, migrate, status } from '../../src/migrate/runner.ts';
import { PACKAGE_TAGS, ScratchMigrations, snapshotName } from '../helpers/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { insertUser } from '../helpers/users.ts';

/** The JeexDbError a runner call rejects with. */
async function failure(promise: Promise<unknown>): Promise<JeexDbError> {
  try {
    await promise;
  } catch (error) {
    if (isJeexDbError(error)) return error;
    throw error;
  }
  throw new Error('expected the runner to fail, but it succeeded');
}

interface Fixture {
  db: TestDatabase;
  migrations: ScratchMigrations;
  /** A two-connection client as the migrator role (what `jeex-db migrate` uses). */
  sql: Sql;
  /** Superuser on the same database, for inspection. */
  admin: Sql;
}

describe('the migration runner', () => {
  let f: Fixture;
  const extraClients: Sql[] = [];

  beforeEach(async () => {
    const db = await createTestDatabase({ empty: true });
    f = {
      db,
      migrations: await ScratchMigrations.create(),
      sql: connect(db.migratorUrl, { max: 2, onnotice: () => {}, connection: { application_name: 'runner-test' } }),
      admin: connect(db.adminUrl, { max: 2, onnotice: () => {} }),
    };
  });

  afterEach(async () => {
    for (const client of extraClients.splice(0)) await client.end({ timeout: 1 });
    await f.sql.end({ timeout: 1 });
    await f.admin.end({ timeout: 1 });
    await f.db.drop();
    await f.migrations.remove();
  });

  const opts = (extra: Record<string, unknown> = {}) => ({ migrationsDir: f.migrations.dir, ...extra });
  const ledger = () =>
    f.admin<{ name: string; direction: string; status: string; note: string | null }[]>`
      SELECT name, direction, status, note FROM jeex_migrations.ledger ORDER BY id`;
  const drizzleRows = async () => (await f.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)[0]?.n;
  const tableExists = async (name: string) => (await f.admin<{ t: string | null }[]>`SELECT to_regclass(${name})::text AS t`)[0]?.t !== null;

  it('applies every migration once, each in its own transaction, and records both ledgers', async () => {
    const result = await migrate(f.sql, opts());
    expect(result.applied.map((s) => [s.name, s.transaction])).toEqual(PACKAGE_TAGS.map((tag) => [tag, 'own']));
    expect(result.restorePoint).toBe('jeex-db before 0000_init');
    const rows = await f.admin`SELECT name, status, applied_by, application_name, client_host, duration_ms FROM jeex_migrations.ledger ORDER BY id`;
    expect(rows).toHaveLength(PACKAGE_TAGS.length);
    expect(rows[0]).toMatchObject({ name: '0000_init', status: 'applied', applied_by: f.db.migratorUrl.split('//')[1]?.split(':')[0], application_name: 'runner-test' });
    expect(rows[0]?.client_host).toBe('127.0.0.1');
    expect(await drizzleRows()).toBe(PACKAGE_TAGS.length);
    expect((await migrate(f.sql, opts())).upToDate).toBe(true);
    await expect(assertUpToDate(f.sql, opts())).resolves.toBeUndefined();
  });

  it('lets any number of simultaneous runners apply each migration exactly once', async () => {
    const runners = Array.from({ length: 6 }, () => {
      const client = connect(f.db.migratorUrl, { max: 2, onnotice: () => {} });
      extraClients.push(client);
      return migrate(client, opts());
    });
    const results = await Promise.all(runners);
    expect(results.flatMap((r) => r.applied.map((s) => s.name)).sort()).toEqual([...PACKAGE_TAGS]);
    expect(results.filter((r) => r.upToDate)).toHaveLength(5);
    expect((await ledger()).filter((r) => r.status === 'applied')).toHaveLength(PACKAGE_TAGS.length);
    expect(await drizzleRows()).toBe(PACKAGE_TAGS.length);
  });

  it('fails fast, naming the holder, when another session holds the lock and no wait is allowed', async () => {
    const holder = connect(f.db.adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'deploy-replica-2' } });
    extraClients.push(holder);
    const [{ pid } = { pid: 0 }] = await holder<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    const error = await failure(migrate(f.sql, opts({ lockWaitMs: 0 })));
    expect(error.code).toBe('MIGRATION_LOCKED');
    expect(error.message).toContain(`pid ${pid}`);
    expect(error.message).toContain('deploy-replica-2');
    expect(error.hint).toContain(`pg_terminate_backend(${pid})`);
    expect(await tableExists('public.users')).toBe(false);
    // With a wait, it proceeds once the holder lets go.
    const waiting = migrate(f.sql, opts({ lockWaitMs: 10_000 }));
    // postgres.js runs a query when it is awaited or then()-ed.
    setTimeout(() => void holder`SELECT pg_advisory_unlock_all()`.then(() => undefined), 300);
    expect((await waiting).applied).toHaveLength(PACKAGE_TAGS.length);
  });

  it('refuses an applied migration whose file changed, until the change is accepted', async () => {
    await migrate(f.sql, opts());
    await appendFile(f.migrations.file('0001_updated_at_triggers'), '\n-- a harmless comment\n');
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_CHECKSUM_MISMATCH');
    expect(error.message).toMatch(/0001_updated_at_triggers\.sql changed after it was applied/);
    expect(error.hint).toContain('jeex-db mark-applied 0001_updated_at_triggers');
    const report = await status(f.sql, opts());
    expect(report.migrations.find((m) => m.name === '0001_updated_at_triggers')?.state).toBe('changed');
    await expect(assertUpToDate(f.sql, opts())).rejects.toMatchObject({ code: 'MIGRATION_CHECKSUM_MISMATCH' });

    expect(await markApplied(f.sql, { names: ['0001_updated_at_triggers'] }, opts())).toMatchObject({ marked: ['0001_updated_at_triggers'], unchanged: [], warnings: [] });
    expect((await migrate(f.sql, opts())).upToDate).toBe(true);
  });

  it('refuses when an applied migration is missing from disk', async () => {
    await migrate(f.sql, opts());
    const newest = PACKAGE_TAGS.at(-1) ?? '';
    const journal = await f.migrations.journal();
    await f.migrations.writeJournal({ ...journal, entries: journal.entries.filter((e) => e.tag !== newest) });
    await rm(f.migrations.file(newest));
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_MISSING');
    expect(error.message).toContain(`${newest} is applied to this database but is not in`);
  });

  it('refuses a migration merged from another branch (older than the newest applied) unless allowed', async () => {
    await migrate(f.sql, opts());
    const newer = await f.migrations.add('newer', ['CREATE TABLE newer (id int)']);
    await migrate(f.sql, opts());
    const journal = await f.migrations.journal();
    const newest = journal.entries.find((e) => e.tag === newer)?.when ?? 0;
    const older = await f.migrations.add('from_branch', ['CREATE TABLE from_branch (id int)'], { when: newest - 500 });
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_OUT_OF_ORDER');
    expect(error.message).toContain(`${older} is pending but older than ${newer}`);
    expect(error.hint).toContain('--allow-out-of-order');
    expect(await tableExists('public.from_branch')).toBe(false);

    const result = await migrate(f.sql, opts({ allowOutOfOrder: true }));
    expect(result.applied.map((s) => s.name)).toEqual([older]);
    expect(await tableExists('public.from_branch')).toBe(true);
  });

  it('rolls a failing migration back completely, names file, statement, line and column, and runs nothing after it', async () => {
    await migrate(f.sql, opts());
    const bad = await f.migrations.add('bad', [
      'CREATE TABLE half_done (id int PRIMARY KEY);\n',
      "INSERT INTO half_done VALUES (1);\n",
      "INSERT INTO projects (name, created_by)\n  VALUES ('x', '00000000-0000-7000-8000-000000000000');\n",
    ]);
    const after = await f.migrations.add('after_bad', ['CREATE TABLE after_bad (id int)']);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.sqlState).toBe('23503');
    expect(error.constraint).toBe('projects_created_by_users_id_fk');
    expect(error.context).toMatchObject({ migration: bad, statement: 3, statements: 3, line: 5, column: 1, errorCode: 'FOREIGN_KEY_VIOLATION' });
    expect(error.message).toContain(`${bad}.sql:5:1 (statement 3 of 3)`);
    expect(error.message).toContain('rolled back completely; nothing after it ran');
    expect(String(error.context?.excerpt)).toContain('> 5 | INSERT INTO projects (name, created_by)');
    expect(await tableExists('public.half_done')).toBe(false);
    expect(await tableExists('public.after_bad')).toBe(false);
    expect((await ledger()).at(-1)).toMatchObject({ name: bad, direction: 'up', status: 'failed' });
    const report = await status(f.sql, opts());
    expect(report.migrations.find((m) => m.name === bad)?.state).toBe('failed');
    expect(report.pending).toEqual([bad, after]);
  });

  it('points at the column of a syntax error inside a statement', async () => {
    await migrate(f.sql, opts());
    const bad = await f.migrations.add('typo', ['CREATE TABLE ok_table (id int);\n', 'ALTER TABLE ok_table\n  ADD COLUMNN name text;\n']);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.sqlState).toBe('42601');
    // `ADD COLUMNN name text`: COLUMNN is read as the column and `name` as its type, so the
    // parser stops at `text` (line 4 of the file, column 20).
    expect(error.context).toMatchObject({ migration: bad, statement: 2, line: 4, column: 20 });
    expect(error.message).toContain('syntax error at or near "text"');
  });

  it('points at the line inside a DO block where it failed', async () => {
    await migrate(f.sql, opts());
    const block = await f.migrations.add('backfill', [
      'DO $$\nDECLARE n int;\nBEGIN\n  SELECT count(*) INTO n FROM users;\n  PERFORM 1 / (n - n);\nEND\n$$;\n',
    ]);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.sqlState).toBe('22012');
    expect(error.context).toMatchObject({ migration: block, line: 5, column: 3 });
    expect(String(error.context?.excerpt)).toContain('> 5 |   PERFORM 1 / (n - n);');
  });

  it('runs CREATE INDEX CONCURRENTLY outside a transaction and cleans up after a failed build', async () => {
    await migrate(f.sql, opts());
    // (names are encrypted, each with its own nonce: the duplicate is a profile_data field)
    await insertUser(f.admin, { email: 'a@x.io', name: 'A', profileData: { team: 'Same' } });
    const b = await insertUser(f.admin, { email: 'b@x.io', name: 'B', profileData: { team: 'Same' } });
    const unique = await f.migrations.add('unique_teams', ["CREATE UNIQUE INDEX CONCURRENTLY users_team_unique ON users ((profile_data->>'team'));"]);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.sqlState).toBe('23505');
    expect(error.context).toMatchObject({ migration: unique, invalidIndexesDropped: ['public.users_team_unique'] });
    expect(error.message).toContain('outside a transaction');
    const leftovers = await f.admin`SELECT 1 FROM pg_class WHERE relname = 'users_team_unique'`;
    expect(leftovers).toHaveLength(0);

    await f.admin`UPDATE users SET profile_data = '{"team": "Other"}' WHERE id = ${b}`;
    const result = await migrate(f.sql, opts());
    expect(result.applied).toEqual([expect.objectContaining({ name: unique, transaction: 'none' })]);
    const [index] = await f.admin<{ valid: boolean }[]>`SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'users_team_unique'`;
    expect(index?.valid).toBe(true);
    expect((await ledger()).filter((r) => r.name === unique).map((r) => r.status)).toEqual(['failed', 'applied']);
  });

  it('refuses a file that mixes transactional and non-transactional statements, before running anything', async () => {
    const mixed = await f.migrations.add('mixed', ['CREATE TABLE mixed_t (id int);', 'CREATE INDEX CONCURRENTLY mixed_t_id ON mixed_t (id);']);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_MIXED_TRANSACTION');
    expect(error.message).toContain(`${mixed}.sql mixes statements`);
    expect(error.hint).toContain('drizzle-kit generate --custom');
    expect(await tableExists('public.users')).toBe(false);
  });

  it('refuses a file that adds an enum value and uses it in the same transaction', async () => {
    await migrate(f.sql, opts());
    const tag = await f.migrations.add('paused', [
      "ALTER TYPE \"public\".\"project_status\" ADD VALUE 'paused';",
      "ALTER TABLE \"projects\" ALTER COLUMN \"status\" SET DEFAULT 'paused';",
    ]);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_MIXED_TRANSACTION');
    expect(error.message).toContain(`${tag}.sql adds the enum value 'paused'`);
    expect(error.hint).toContain('next migration');
    // Split as the hint says, it applies.
    await writeFile(f.migrations.file(tag), "ALTER TYPE \"public\".\"project_status\" ADD VALUE 'paused';");
    await f.migrations.add('paused_default', ["ALTER TABLE \"projects\" ALTER COLUMN \"status\" SET DEFAULT 'paused';"]);
    expect((await migrate(f.sql, opts())).applied).toHaveLength(2);
  });

  it('refuses to run while two migrations share a parent snapshot (branches generated in parallel)', async () => {
    const meta = `${f.migrations.dir}/meta`;
    const parent = JSON.parse(await readFile(`${meta}/${snapshotName(PACKAGE_TAGS.length - 1)}`, 'utf8')) as { id: string };
    const a = await f.migrations.add('branch_a', ['CREATE TABLE branch_a (id int);']);
    const b = await f.migrations.add('branch_b', ['CREATE TABLE branch_b (id int);']);
    for (const tag of [a, b]) {
      await writeFile(`${meta}/${tag.slice(0, 4)}_snapshot.json`, JSON.stringify({ ...parent, prevId: parent.id, id: randomUUID() }));
    }
    const error = await failure(migrate(f.sql, opts()));
    expect(error.code).toBe('MIGRATION_COLLISION');
    expect(error.message).toContain(`meta/${snapshotName(PACKAGE_TAGS.length)} (${a}) and meta/${snapshotName(PACKAGE_TAGS.length + 1)} (${b}) were generated from the same parent snapshot`);
    expect(await tableExists('public.users')).toBe(false);
  });

  it('retries a lock timeout with backoff, then reports the blocking session', async () => {
    await migrate(f.sql, opts());
    const blocker = connect(f.db.adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'long-report' } });
    extraClients.push(blocker);
    const reserved = await blocker.reserve();
    await reserved`BEGIN`;
    await reserved`SELECT count(*) FROM users`;
    const [{ pid } = { pid: 0 }] = await reserved<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    const alter = await f.migrations.add('add_column', ['ALTER TABLE users ADD COLUMN nickname text;']);
    const started = Date.now();
    const error = await failure(migrate(f.sql, opts({ ddlLockTimeoutMs: 200, retries: 2 })));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.context).toMatchObject({ migration: alter, errorCode: 'LOCK_TIMEOUT', attempts: 3 });
    expect(error.context?.blockers).toEqual([expect.objectContaining({ pid, applicationName: 'long-report', state: 'idle in transaction' })]);
    expect(error.message).toContain(`blocked by pid ${pid}`);
    // Three lock waits of 200 ms (the backoffs between them are full jitter: anywhere from 0).
    expect(Date.now() - started).toBeGreaterThan(3 * 200);

    // Released while the runner backs off: the retry succeeds.
    setTimeout(() => void reserved`COMMIT`.then(() => reserved.release()), 500);
    const result = await migrate(f.sql, opts({ ddlLockTimeoutMs: 200, retries: 5 }));
    expect(result.applied[0]).toMatchObject({ name: alter });
    expect(result.applied[0]?.retries).toBeGreaterThan(0);
  });

  it('applies a file-level statement timeout directive', async () => {
    await migrate(f.sql, opts());
    await f.migrations.add('slow', ['-- jeex:statement-timeout 300ms\nSELECT pg_sleep(2);']);
    const error = await failure(migrate(f.sql, opts()));
    expect(error.context).toMatchObject({ errorCode: 'STATEMENT_TIMEOUT' });
    expect(error.hint).toContain('--statement-timeout');
  });

  it('adopts a database migrated by drizzle-kit without running anything again', async () => {
    const { migrate: drizzleMigrate } = await import('drizzle-orm/postgres-js/migrator');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    await drizzleMigrate(drizzle(f.sql), { migrationsFolder: f.migrations.dir });
    const result = await migrate(f.sql, opts());
    expect(result.adopted).toEqual(PACKAGE_TAGS);
    expect(result.applied).toEqual([]);
    expect((await ledger()).every((r) => r.note === 'adopted: applied by drizzle-kit migrate')).toBe(true);

    // And drizzle-kit after us is a no-op, also for a migration only we applied.
    await f.migrations.add('ours', ['CREATE TABLE ours (id int);']);
    await migrate(f.sql, opts());
    await drizzleMigrate(drizzle(f.sql), { migrationsFolder: f.migrations.dir });
    expect(await drizzleRows()).toBe(PACKAGE_TAGS.length + 1);
  });

  it('records a baseline without running anything, then applies only what is new', async () => {
    const baseline = await markApplied(f.sql, {}, opts());
    expect(baseline.marked).toHaveLength(PACKAGE_TAGS.length);
    expect(await tableExists('public.users')).toBe(false);
    const added = await f.migrations.add('after_baseline', ['CREATE TABLE after_baseline (id int);']);
    const report = await status(f.sql, opts());
    expect(report.pending).toEqual([added]);
    await expect(assertUpToDate(f.sql, opts())).rejects.toMatchObject({ code: 'MIGRATIONS_PENDING' });
    expect((await migrate(f.sql, opts())).applied.map((s) => s.name)).toEqual([added]);
  });

  it('applies all pending migrations in one transaction with --single-transaction, or none', async () => {
    await f.migrations.add('fine', ['CREATE TABLE fine (id int);']);
    await f.migrations.add('broken', ['SELECT 1/0;']);
    const error = await failure(migrate(f.sql, opts({ singleTransaction: true })));
    expect(error.message).toContain('The whole run (--single-transaction) was rolled back');
    expect(await tableExists('public.users')).toBe(false);
    expect(await tableExists('public.fine')).toBe(false);
  });

  it('stops at --to', async () => {
    const result = await migrate(f.sql, opts({ to: '0001_updated_at_triggers' }));
    expect(result.applied.map((s) => s.name)).toEqual(['0000_init', '0001_updated_at_triggers']);
    expect((await status(f.sql, opts())).pending).toEqual(PACKAGE_TAGS.slice(2));
  });
});

afterAll(() => undefined);
