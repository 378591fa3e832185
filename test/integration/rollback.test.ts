import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMigrationsDir, migrate, rollback, status } from '../../src/migrate/runner.ts';
import { catalogFingerprint, FINGERPRINT_KINDS, publicPart, type CatalogFingerprint } from '../../src/migrate/catalog.ts';
import { PACKAGE_TAGS } from '../helpers/migrations.ts';
import { rejection } from '../helpers/rejections.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.ts';
import { rawUser } from '../helpers/users.ts';

const root = resolve(import.meta.dirname, '..', '..');
const TAGS = PACKAGE_TAGS;
// Some tests are about 0003 in particular (users encrypted, a down file that refuses rows): they
// start with the database rolled back to it, so it is the newest applied migration, and end with
// it migrated.
const BASE = '0003_encrypt_users';
const LATER = TAGS.slice(TAGS.indexOf(BASE) + 1);
const baseStates = (state: string) => Object.fromEntries(TAGS.map((t) => [t, LATER.includes(t) ? 'pending' : state]));

interface Journal {
  entries: { tag: string; when: number }[];
}

describe('rollback: down migrations under the runner', () => {
  let db: TestDatabase;
  let sql: Sql;
  let journal: Journal;
  const temps: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    sql = connect(db.migratorUrl, { max: 2, onnotice: () => {} });
    journal = JSON.parse(await readFile(join(root, 'drizzle', 'meta', '_journal.json'), 'utf8')) as Journal;
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
    for (const dir of temps) await rm(dir, { recursive: true, force: true });
  });

  /** A copy of drizzle/ to break on purpose (the real folder is never written). */
  async function migrationsCopy(change: (dir: string) => Promise<void>): Promise<string> {
    const parent = await mkdtemp(join(tmpdir(), 'jeex-rollback-'));
    const dir = join(parent, 'drizzle');
    temps.push(parent); // the mkdtemp folder, not just drizzle/ inside it
    await cp(defaultMigrationsDir, dir, { recursive: true });
    await change(dir);
    return dir;
  }

  const states = async () => Object.fromEntries((await status(sql)).migrations.map((m) => [m.name, m.state]));
  const drizzleRows = async () => (await sql<{ created_at: string }[]>`SELECT created_at::text FROM drizzle.__drizzle_migrations ORDER BY id`).map((r) => Number(r.created_at));
  const whenOf = (tag: string) => journal.entries.find((e) => e.tag === tag)?.when;
  const newestRow = async (name: string) => {
    const [row] = await sql<{ direction: string; status: string; sha256: string; error: { code?: string } | null }[]>`
      SELECT direction, status, sha256, error FROM jeex_migrations.ledger WHERE name = ${name} ORDER BY id DESC LIMIT 1`;
    return row;
  };
  const ledgerCount = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM jeex_migrations.ledger`)[0]?.n;
  const authorFks = async () =>
    sql<{ conname: string; condeferrable: boolean; condeferred: boolean }[]>`
      SELECT conname, condeferrable, condeferred FROM pg_constraint
      WHERE conname IN ('document_versions_created_by_users_id_fk', 'exports_created_by_users_id_fk') ORDER BY conname`;

  it('up, down (every step), up again leaves an identical catalog', async () => {
    const up = await migrate(sql);
    expect(up.applied.map((s) => s.name)).toEqual(TAGS);
    const before = await catalogFingerprint(sql);
    // The fingerprint sees what the migrations made (or comparing it would prove nothing).
    expect(before.relations.filter((l) => /^public\.\w+ kind=r/.test(l))).toHaveLength(5);
    expect(before.constraints.filter((l) => l.includes('_created_by_users_id_fk') && l.includes('deferrable=true deferred=true'))).toHaveLength(2);
    expect(before.triggers.filter((l) => l.includes('jeex_set_updated_at'))).toHaveLength(5);
    expect(before.functions.filter((l) => l.startsWith('public.jeex_'))).toHaveLength(2);
    expect(before.types.filter((l) => / type=e /.test(l))).toHaveLength(5);
    expect(before.constraints.some((l) => l.includes('users_email_hash_unique') && l.includes('UNIQUE (email_hash)'))).toBe(true);

    const down = await rollback(sql, { steps: TAGS.length });
    expect(down.rolledBack.map((s) => [s.name, s.direction])).toEqual([...TAGS].reverse().map((t) => [t, 'down']));
    // Nothing of the application's schema is left, and every migration is pending again.
    const empty = publicPart(await catalogFingerprint(sql));
    expect(empty.schemas).toHaveLength(1);
    for (const kind of FINGERPRINT_KINDS.filter((k) => k !== 'schemas' && k !== 'extensions')) expect(empty[kind]).toEqual([]);
    expect(await states()).toEqual(Object.fromEntries(TAGS.map((t) => [t, 'pending'])));
    expect(await drizzleRows()).toEqual([]);

    const again = await migrate(sql);
    expect(again.applied.map((s) => s.name)).toEqual(TAGS);
    expect(await catalogFingerprint(sql)).toEqual(before);
  });

  it('each down file restores exactly the schema its migration started from', async () => {
    await rollback(sql, { steps: TAGS.length });
    // The application's part (public): the runners' own tables exist only once a runner ran.
    const stages = [publicPart(await catalogFingerprint(sql))];
    for (const tag of TAGS) {
      expect((await migrate(sql, { to: tag })).applied.map((s) => s.name)).toEqual([tag]);
      stages.push(publicPart(await catalogFingerprint(sql)));
    }
    for (let i = TAGS.length - 1; i >= 0; i--) {
      expect((await rollback(sql)).rolledBack.map((s) => s.name)).toEqual([TAGS[i]]);
      expect(publicPart(await catalogFingerprint(sql))).toEqual(stages[i]);
    }
    await migrate(sql);
  });

  it('the fingerprint sees deferrable flags, index definitions, defaults and function bodies', async () => {
    const before = await catalogFingerprint(sql);
    const undo = new Error('undo the changes');
    const changes: [string, (keyof CatalogFingerprint)[]][] = [
      ['ALTER TABLE "exports" ALTER CONSTRAINT "exports_created_by_users_id_fk" NOT DEFERRABLE', ['constraints', 'triggers']],
      ['DROP INDEX "exports_created_by_idx"; CREATE INDEX "exports_created_by_idx" ON "exports" ("created_by" DESC)', ['indexes']],
      [`ALTER TABLE "users" ALTER COLUMN "name" SET DEFAULT 'x'`, ['columns']],
      [`CREATE OR REPLACE FUNCTION "public"."jeex_set_updated_at"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`, ['functions']],
    ];
    for (const [change, kinds] of changes) {
      const attempt = sql.begin(async (tx) => {
        await tx.unsafe(change);
        const changed = await catalogFingerprint(tx);
        for (const kind of FINGERPRINT_KINDS) {
          if (kinds.includes(kind)) expect(changed[kind], `${kind} after ${change}`).not.toEqual(before[kind]);
          else expect(changed[kind], `${kind} after ${change}`).toEqual(before[kind]);
        }
        throw undo;
      });
      await expect(attempt).rejects.toBe(undo);
    }
    expect(await catalogFingerprint(sql)).toEqual(before);
  });

  it('rollback --steps 1 undoes only the newest migration and records it', async () => {
    const usersShape = async () =>
      sql<{ hash: boolean; lowerIndex: boolean; formatCheck: boolean }[]>`
        SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_hash' AND NOT attisdropped) AS hash,
               EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'users_email_unique' AND indexdef LIKE '%lower(email)%') AS "lowerIndex",
               EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'users_email_format') AS "formatCheck"`;
    await rollback(sql, { to: BASE });
    const result = await rollback(sql, { steps: 1 });
    expect(result.rolledBack.map((s) => s.name)).toEqual(['0003_encrypt_users']);
    // Plaintext columns again: no blind index, the unique index on lower(email) and the format CHECK back.
    expect(await usersShape()).toEqual([{ hash: false, lowerIndex: true, formatCheck: true }]);
    expect((await authorFks()).every((fk) => fk.condeferrable && fk.condeferred)).toBe(true);
    const upFile = await readFile(join(root, 'drizzle', '0003_encrypt_users.sql'), 'utf8');
    // The ledger row names the up file it undid (by its checksum).
    expect(await newestRow('0003_encrypt_users')).toMatchObject({ direction: 'down', status: 'rolled_back', sha256: createHash('sha256').update(upFile).digest('hex') });
    expect(await drizzleRows()).toEqual([whenOf('0000_init'), whenOf('0001_updated_at_triggers'), whenOf('0002_deferred_author_fks')]);
    expect(await states()).toEqual({ ...baseStates('applied'), [BASE]: 'pending' });

    expect((await migrate(sql)).applied.map((s) => s.name)).toEqual([BASE, ...LATER]);
    expect(await usersShape()).toEqual([{ hash: true, lowerIndex: false, formatCheck: false }]);
  });

  it('0003_encrypt_users refuses to run, or to be rolled back, while users has rows: SQL cannot encrypt or decrypt them', async () => {
    // (as the migrator, which owns the table)
    await rollback(sql, { to: BASE });
    const u = rawUser('rows@example.com', 'Rows');
    await sql`INSERT INTO users (id, email, email_hash, name) VALUES (${u.id}, ${u.email}, ${u.email_hash}, ${u.name})`;
    const down = await rejection(rollback(sql, { steps: 1 }));
    expect(down.code).toBe('MIGRATION_FAILED');
    expect(down.message).toContain('which SQL cannot decrypt');
    expect(await states()).toEqual(baseStates('applied'));
    await sql`DELETE FROM users`;

    await rollback(sql, { steps: 1 });
    await sql`INSERT INTO users (email, name) VALUES ('plain@example.com', 'Plain')`;
    const up = await rejection(migrate(sql));
    expect(up.code).toBe('MIGRATION_FAILED');
    expect(up.message).toContain('which SQL cannot encrypt');
    expect(up.message).toContain('0003_encrypt_users.sql');
    expect(await states()).toMatchObject({ '0003_encrypt_users': 'failed' });
    expect(await sql`SELECT 1 FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_hash'`).toHaveLength(0);
    await sql`DELETE FROM users`;
    await migrate(sql);
  });

  it('rollback --to 0000_init rolls back everything after it and keeps it', async () => {
    const result = await rollback(sql, { to: '0000_init' });
    expect(result.rolledBack.map((s) => s.name)).toEqual([...TAGS.slice(1)].reverse());
    const [objects] = await sql<{ tables: number; triggers: number; functions: number }[]>`
      SELECT (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public') AS tables,
             (SELECT count(*)::int FROM pg_trigger WHERE NOT tgisinternal) AS triggers,
             (SELECT count(*)::int FROM pg_proc WHERE proname LIKE 'jeex\\_%') AS functions`;
    expect(objects).toEqual({ tables: 5, triggers: 0, functions: 0 });
    expect(await states()).toEqual({ ...Object.fromEntries(TAGS.map((t) => [t, 'pending'])), '0000_init': 'applied' });
    expect(await drizzleRows()).toEqual([whenOf('0000_init')]);
    expect((await rollback(sql, { to: '0000_init' })).rolledBack).toEqual([]);
    await migrate(sql);
  });

  it('refuses a step count that is not a whole number >= 1, and --steps with --to, before changing anything', async () => {
    const before = await catalogFingerprint(sql);
    const rows = await ledgerCount();
    // steps: -1 used to reach applied.slice(0, -1): every migration but the oldest rolled back.
    for (const options of [{ steps: -1 }, { steps: 0 }, { steps: 1.5 }, { steps: Number.NaN }, { steps: 1, to: '0000_init' }]) {
      const error = await rejection(rollback(sql, options));
      expect(error.code, JSON.stringify(options)).toBe('INVALID_CONFIG');
    }
    expect(await catalogFingerprint(sql)).toEqual(before);
    expect(await ledgerCount()).toBe(rows);
  });

  it('refuses an unreviewed draft and changes nothing', async () => {
    const dir = await migrationsCopy(async (d) => {
      const file = join(d, '0003_encrypt_users.down.sql');
      await writeFile(file, `-- jeex:draft\n${await readFile(file, 'utf8')}`);
    });
    const before = await catalogFingerprint(sql);
    const rows = await ledgerCount();
    // Down to 0002: the newer migrations' down files are fine, but nothing runs unless every step can.
    const error = await rejection(rollback(sql, { migrationsDir: dir, to: '0002_deferred_author_fks' }));
    expect(error.code).toBe('MIGRATION_NO_DOWN');
    expect(error.message).toMatch(/0003_encrypt_users\.down\.sql is an unreviewed draft/);
    expect(error.hint).toMatch(/delete its "-- jeex:draft" line/);
    expect(await catalogFingerprint(sql)).toEqual(before);
    expect(await ledgerCount()).toBe(rows);
    expect(await states()).toEqual(Object.fromEntries(TAGS.map((t) => [t, 'applied'])));
  });

  it('refuses a migration without a down file before rolling back any of the others', async () => {
    const dir = await migrationsCopy((d) => rm(join(d, '0001_updated_at_triggers.down.sql')));
    const before = await catalogFingerprint(sql);
    const rows = await ledgerCount();
    const error = await rejection(rollback(sql, { migrationsDir: dir, to: '0000_init' }));
    expect(error.code).toBe('MIGRATION_NO_DOWN');
    expect(error.message).toMatch(/0001_updated_at_triggers has no down migration .*0001_updated_at_triggers\.down\.sql/);
    expect(error.hint).toMatch(/generate-down 0001_updated_at_triggers/);
    // The newer ones have down files, but nothing runs unless every step can.
    expect(await catalogFingerprint(sql)).toEqual(before);
    expect(await ledgerCount()).toBe(rows);
    expect(await drizzleRows()).toHaveLength(TAGS.length);
  });

  it('a failing down script is rolled back completely and the migration stays applied', async () => {
    await rollback(sql, { to: BASE });
    const dir = await migrationsCopy((d) =>
      writeFile(
        join(d, '0003_encrypt_users.down.sql'),
        'ALTER TABLE "users" DROP CONSTRAINT "users_email_sealed";--> statement-breakpoint\n' +
          'ALTER TABLE "users" DROP CONSTRAINT "no_such_constraint";\n',
      ),
    );
    const before = await catalogFingerprint(sql);
    const error = await rejection(rollback(sql, { migrationsDir: dir }));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).toMatch(/rollback of 0003_encrypt_users failed at .*0003_encrypt_users\.down\.sql:2:\d+ \(statement 2 of 2\)/);
    expect(error.message).toMatch(/no_such_constraint/);
    // The first statement (the envelope CHECK dropped) was undone with the second.
    expect(await catalogFingerprint(sql)).toEqual(before);
    expect(await sql`SELECT 1 FROM pg_constraint WHERE conname = 'users_email_sealed'`).toHaveLength(1);
    const row = await newestRow('0003_encrypt_users');
    expect(row).toMatchObject({ direction: 'down', status: 'failed' });
    expect(row?.error?.code).toBe('MIGRATION_FAILED');
    expect(await states()).toEqual(baseStates('applied'));
    expect(await drizzleRows()).toHaveLength(TAGS.length - LATER.length);

    // The real down file still works afterwards.
    expect((await rollback(sql)).rolledBack.map((s) => s.name)).toEqual(['0003_encrypt_users']);
    await migrate(sql);
  });
});
