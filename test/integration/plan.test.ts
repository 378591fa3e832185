import { readFile } from 'node:fs/promises';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/migrate/plan.ts';
import { DEFAULT_TIMEOUTS, migrate } from '../../src/migrate/runner.ts';
import { stripComments } from '../../src/migrate/sql-split.ts';
import { BREAKPOINT } from '../../src/migrate/statements.ts';
import { PACKAGE_MIGRATIONS, PACKAGE_TAGS, ScratchMigrations } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';

const TAGS = PACKAGE_TAGS;

describe('plan: what migrate would run, changing nothing', () => {
  let db: TestDatabase;
  let sql: Sql;
  let admin: Sql;
  let scratch: ScratchMigrations;
  /** What the empty database holds before anything (the extensions the harness installs). */
  let pristine: { kind: string; name: string }[];

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    admin = connect(db.adminUrl, { max: 1, onnotice: () => {} });
    scratch = await ScratchMigrations.create();
    pristine = await catalog();
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await admin?.end({ timeout: 1 });
    await db?.drop();
    await scratch?.remove();
  });

  /** Schemas and relations that exist in the test database, apart from the system's. */
  const catalog = async () =>
    admin<{ kind: string; name: string }[]>`
      SELECT 'schema' AS kind, nspname AS name FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
      UNION ALL
      SELECT 'relation', n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      ORDER BY 1, 2`;

  it('on an empty database lists every migration, in order, with its statements, grouping and timeouts, and creates nothing', async () => {
    // `roles apply` creates the ledgers' schemas (empty) with the database, so that their default
    // privileges are in place before any runner creates a ledger, and jeex_roles (a function the
    // health check calls, no relation).
    expect(pristine.filter((o) => o.kind === 'schema').map((o) => o.name)).toEqual(['drizzle', 'jeex_migrations', 'jeex_roles', 'public']);
    expect(pristine.filter((o) => o.kind === 'relation' && !o.name.startsWith('public.pg_stat_statements'))).toEqual([]);

    const result = await plan(sql, { migrationsDir: PACKAGE_MIGRATIONS });
    expect(result.migrations.map((m) => m.name)).toEqual(TAGS);
    expect(result.problems).toEqual([]);
    expect(result.upToDate).toBe(false);
    expect(result.total).toBe(TAGS.length);
    for (const migration of result.migrations) {
      const text = await readFile(`${PACKAGE_MIGRATIONS}/${migration.name}.sql`, 'utf8');
      const chunks = text.split(BREAKPOINT).filter((c) => stripComments(c).trim() !== '');
      // Each statement starts at its SQL: blank lines and leading `--` comment lines are left out.
      expect(migration.statements.map((s) => s.sql)).toEqual(chunks.map((c) => c.replace(/^(?:\s*--[^\n]*(?:\n|$))*\s*/, '')));
      expect(migration.statements.map((s) => s.index)).toEqual(chunks.map((_, i) => i));
      expect(migration).toMatchObject({ state: 'pending', outOfOrder: false, grouping: 'transaction', timeouts: { lockTimeoutMs: DEFAULT_TIMEOUTS.lockTimeoutMs, statementTimeoutMs: DEFAULT_TIMEOUTS.statementTimeoutMs } });
      expect(migration.statements.every((s) => s.outsideTransaction === undefined)).toBe(true);
    }
    // Statement positions are the file's: the first CREATE TABLE of 0000_init.
    const init = await readFile(`${PACKAGE_MIGRATIONS}/0000_init.sql`, 'utf8');
    const firstTable = result.migrations[0]?.statements.find((s) => s.sql.startsWith('CREATE TABLE'));
    expect(init.split('\n')[(firstTable?.line ?? 0) - 1]).toMatch(/^CREATE TABLE "agent_executions"/);
    // squawk's findings ride along: 0000's int columns, accepted in the file.
    expect(result.migrations[0]?.lint.map((f) => [f.rule, f.suppressed])).toEqual(Array(4).fill(['prefer-bigint-over-int', true]));
    expect(result.lint.unsuppressed).toBe(0);

    expect(await catalog()).toEqual(pristine);
  });

  it('--single-transaction groups them as one, and timeouts come from the options', async () => {
    const result = await plan(sql, { migrationsDir: PACKAGE_MIGRATIONS, singleTransaction: true, ddlLockTimeoutMs: 1_500, statementTimeoutMs: 60_000, lint: false });
    expect(result.migrations.map((m) => [m.name, m.grouping, m.timeouts])).toEqual(TAGS.map((tag) => [tag, 'single', { lockTimeoutMs: 1_500, statementTimeoutMs: 60_000 }]));
    expect(result.lint.findings).toEqual([]);
    expect(await catalog()).toEqual(pristine);
  });

  it('shows statements run outside a transaction, a file\'s own timeouts, and the problems migrate would refuse with', async () => {
    const concurrent = await scratch.add('name_index', ['-- jeex:lock-timeout 10s\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "projects_name_idx" ON "projects" ("name");']);
    const mixed = await scratch.add('mixed', ['ALTER TABLE "projects" ADD COLUMN "slug" text;', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "projects_slug_idx" ON "projects" ("slug");']);
    const result = await plan(sql, { migrationsDir: scratch.dir });
    expect(result.migrations.map((m) => m.name)).toEqual([...TAGS, concurrent, mixed]);

    const none = result.migrations[TAGS.length];
    expect(none).toMatchObject({ grouping: 'none', timeouts: { lockTimeoutMs: 10_000, statementTimeoutMs: 900_000 } });
    expect(none?.statements).toEqual([
      expect.objectContaining({ index: 0, line: 2, column: 1, outsideTransaction: 'CREATE INDEX CONCURRENTLY cannot run in a transaction' }),
    ]);
    expect(result.migrations[TAGS.length + 1]?.grouping).toBe('mixed');
    expect(result.problems.map((p) => [p.code, p.migration])).toEqual([['MIGRATION_MIXED_TRANSACTION', mixed]]);
    expect(result.upToDate).toBe(false);

    const single = await plan(sql, { migrationsDir: scratch.dir, singleTransaction: true, to: concurrent, lint: false });
    expect(single.migrations.map((m) => m.name)).toEqual([...TAGS, concurrent]);
    expect(single.problems.map((p) => [p.code, p.migration])).toEqual([['MIGRATION_MIXED_TRANSACTION', concurrent]]);

    expect((await rejection(plan(sql, { migrationsDir: scratch.dir, to: '0009_nope' }))).code).toBe('INVALID_CONFIG');
    expect(await catalog()).toEqual(pristine);
  });

  it('after migrate it lists nothing; a migration added later is all it lists', async () => {
    await migrate(sql, { migrationsDir: PACKAGE_MIGRATIONS, restorePoint: false });
    const upToDate = await plan(sql, { migrationsDir: PACKAGE_MIGRATIONS });
    expect(upToDate).toMatchObject({ migrations: [], problems: [], adopt: [], upToDate: true, total: TAGS.length });
    expect(upToDate.lint.findings).toEqual([]);

    const later = await ScratchMigrations.create();
    try {
      const tag = await later.add('slug', ['ALTER TABLE "projects" ADD COLUMN "slug" text;', 'CREATE INDEX "projects_slug_idx" ON "projects" ("slug");']);
      const ledgerBefore = await admin`SELECT * FROM jeex_migrations.ledger ORDER BY id`;
      const result = await plan(sql, { migrationsDir: later.dir });
      expect(result.migrations.map((m) => [m.name, m.grouping, m.statements.length])).toEqual([[tag, 'transaction', 2]]);
      expect(result.migrations[0]?.lint).toEqual([expect.objectContaining({ rule: 'require-concurrent-index-creation', line: 2, suppressed: false })]);
      // Nothing ran: no column, no new ledger row.
      const [column] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'projects' AND column_name = 'slug'`;
      expect(column?.n).toBe(0);
      expect(await admin`SELECT * FROM jeex_migrations.ledger ORDER BY id`).toEqual(ledgerBefore);
    } finally {
      await later.remove();
    }
  });

  it('a database migrated by drizzle-kit alone: nothing to run, the migrations to adopt named', async () => {
    await admin.unsafe('DROP SCHEMA jeex_migrations CASCADE');
    const result = await plan(sql, { migrationsDir: PACKAGE_MIGRATIONS });
    expect(result.migrations).toEqual([]);
    expect(result.adopt).toEqual(TAGS);
    expect(result.problems).toEqual([]);
  });
});
