import type { Sql, TransactionSql } from 'postgres';

type Db = Sql | TransactionSql;

/**
 * Our record of every migration attempt, in the database it migrates (schema jeex_migrations).
 * A migration's state is its newest row: up/applied (applied), up/running (interrupted while
 * running statements outside a transaction), up/failed (not applied), down/rolled_back (not
 * applied), down/failed (still applied).
 */
export const LEDGER = 'jeex_migrations.ledger';

export interface LedgerRow {
  id: number;
  name: string;
  sha256: string;
  direction: 'up' | 'down';
  status: 'running' | 'applied' | 'failed' | 'rolled_back';
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
  appliedBy: string;
  applicationName: string | null;
  clientHost: string | null;
  restorePoint: string | null;
  note: string | null;
}

export type MigrationState = 'applied' | 'not-applied' | 'interrupted';

export interface LedgerEntry {
  state: MigrationState;
  /** The newest row for the migration. */
  last: LedgerRow;
  /** The hash of the file when it was last applied. */
  appliedSha256?: string;
  appliedAt?: Date;
}

/** Create the ledger (and drizzle-orm's table, so the two stay in step) if they do not exist. */
export async function ensureLedger(sql: Db): Promise<void> {
  await sql.unsafe(`
    CREATE SCHEMA IF NOT EXISTS jeex_migrations;
    CREATE TABLE IF NOT EXISTS ${LEDGER} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL,
      sha256 text NOT NULL,
      direction text NOT NULL CHECK (direction IN ('up', 'down')),
      status text NOT NULL CHECK (status IN ('running', 'applied', 'failed', 'rolled_back')),
      started_at timestamptz NOT NULL,
      finished_at timestamptz,
      duration_ms integer,
      applied_by text NOT NULL DEFAULT session_user,
      application_name text DEFAULT current_setting('application_name'),
      client_host text DEFAULT coalesce(host(inet_client_addr()), 'local socket'),
      restore_point text,
      error jsonb,
      note text,
      script text
    );
    -- The text each migration had when applied (mark-applied compares an edited file with it);
    -- ledgers made before it was kept get the column, checked first so no lock is taken each run.
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '${LEDGER}'::regclass AND attname = 'script' AND NOT attisdropped) THEN
        ALTER TABLE ${LEDGER} ADD COLUMN script text;
      END IF;
    END $$;
    CREATE INDEX IF NOT EXISTS ledger_name_id_idx ON ${LEDGER} (name, id DESC);
    CREATE SCHEMA IF NOT EXISTS drizzle;
    CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);
  `).simple();
}

/** Whether the ledger exists yet (read-only callers must not create it). */
export async function ledgerExists(sql: Db): Promise<{ ledger: boolean; drizzle: boolean }> {
  const [row] = await sql<{ ledger: boolean; drizzle: boolean }[]>`
    SELECT to_regclass('jeex_migrations.ledger') IS NOT NULL AS ledger,
           to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS drizzle`;
  return row ?? { ledger: false, drizzle: false };
}

/** Each migration's state, from its newest ledger row. */
export async function readLedger(sql: Db): Promise<Map<string, LedgerEntry>> {
  // Timestamps are read as epoch milliseconds and written as ISO text: a client that Drizzle
  // has wrapped parses and serialises dates differently, and the runner must work with it.
  const rows = await sql<(Omit<LedgerRow, 'startedAt' | 'finishedAt'> & { startedAtMs: number; finishedAtMs: number | null })[]>`
    SELECT id::int, name, sha256, direction, status,
           (extract(epoch FROM started_at) * 1000)::float8 AS "startedAtMs",
           (extract(epoch FROM finished_at) * 1000)::float8 AS "finishedAtMs",
           duration_ms AS "durationMs", applied_by AS "appliedBy", application_name AS "applicationName",
           client_host AS "clientHost", restore_point AS "restorePoint", note
    FROM jeex_migrations.ledger ORDER BY id`;
  const entries = new Map<string, LedgerEntry>();
  for (const { startedAtMs, finishedAtMs, ...fields } of rows) {
    const row: LedgerRow = { ...fields, startedAt: new Date(startedAtMs), finishedAt: finishedAtMs === null ? null : new Date(finishedAtMs) };
    const previous = entries.get(row.name);
    const state: MigrationState =
      row.direction === 'up'
        ? row.status === 'applied'
          ? 'applied'
          : row.status === 'running'
            ? 'interrupted'
            : 'not-applied'
        : row.status === 'rolled_back'
          ? 'not-applied'
          : (previous?.state ?? 'applied');
    const entry: LedgerEntry = { state, last: row };
    if (row.direction === 'up' && row.status === 'applied') {
      entry.appliedSha256 = row.sha256;
      entry.appliedAt = row.finishedAt ?? row.startedAt;
    } else if (state === 'applied' && previous?.appliedSha256) {
      entry.appliedSha256 = previous.appliedSha256;
      if (previous.appliedAt) entry.appliedAt = previous.appliedAt;
    }
    entries.set(row.name, entry);
  }
  return entries;
}

/** drizzle-orm's own records: hash and the journal `when` of each applied migration. */
export async function readDrizzleTable(sql: Db): Promise<{ hash: string; createdAt: number }[]> {
  const rows = await sql<{ hash: string; created_at: string | null }[]>`SELECT hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id`;
  return rows.map((row) => ({ hash: row.hash, createdAt: Number(row.created_at ?? 0) }));
}

export interface NewLedgerRow {
  name: string;
  sha256: string;
  direction: 'up' | 'down';
  status: LedgerRow['status'];
  startedAt: Date;
  finishedAt?: Date | null;
  restorePoint?: string | null;
  error?: Record<string, unknown> | null;
  note?: string | null;
  /** The up script's text as it ran (or was accepted), for mark-applied to compare an edit with. */
  script?: string | null;
}

export async function insertLedgerRow(sql: Db, row: NewLedgerRow): Promise<number> {
  const finished = row.finishedAt ?? null;
  const [inserted] = await sql<{ id: number }[]>`
    INSERT INTO jeex_migrations.ledger (name, sha256, direction, status, started_at, finished_at, duration_ms, restore_point, error, note, script, applied_by)
    VALUES (${row.name}, ${row.sha256}, ${row.direction}, ${row.status}, ${row.startedAt.toISOString()}::timestamptz, ${finished?.toISOString() ?? null}::timestamptz,
            ${finished ? finished.getTime() - row.startedAt.getTime() : null}, ${row.restorePoint ?? null},
            ${row.error ? sql.json(row.error as never) : null}, ${row.note ?? null}, ${row.script ?? null},
            -- the role that logged in (the migrator), not the owner role its session runs as
            session_user)
    RETURNING id::int`;
  return inserted?.id ?? 0;
}

export async function finishLedgerRow(sql: Db, id: number, status: LedgerRow['status'], startedAt: Date, error?: Record<string, unknown>): Promise<void> {
  const finished = new Date();
  await sql`
    UPDATE jeex_migrations.ledger
    SET status = ${status}, finished_at = ${finished.toISOString()}::timestamptz, duration_ms = ${finished.getTime() - startedAt.getTime()},
        error = ${error ? sql.json(error as never) : null}
    WHERE id = ${id}`;
}

/**
 * The text of `name`'s up script when it was last applied (or its edit accepted); null when that
 * row was written before the ledger kept texts, or was adopted from drizzle-kit without one.
 */
export async function readAppliedScript(sql: Db, name: string): Promise<string | null> {
  const [row] = await sql<{ script: string | null }[]>`
    SELECT script FROM jeex_migrations.ledger WHERE name = ${name} AND direction = 'up' AND status = 'applied' ORDER BY id DESC LIMIT 1`;
  return row?.script ?? null;
}

/**
 * A migration applied under one name and now on disk under another (the same file, moved by
 * `jeex-db rebase`): its rows take the new name, each noting the old one, and drizzle-orm's row
 * of that file takes the new `when`.
 */
export async function renameInLedger(sql: Db, from: string, to: { name: string; sha256: string; when: number }): Promise<void> {
  await sql`
    UPDATE jeex_migrations.ledger
    SET name = ${to.name}, note = concat_ws('; ', note, ${`recorded as ${from} until mark-applied moved it to ${to.name} (the same file)`}::text)
    WHERE name = ${from}`;
  await sql`UPDATE drizzle.__drizzle_migrations SET created_at = ${to.when} WHERE hash = ${to.sha256}`;
}

/** Record in drizzle-orm's table too, so `drizzle-kit migrate` agrees with us. */
export async function recordInDrizzle(sql: Db, hash: string, when: number): Promise<void> {
  await sql`
    INSERT INTO drizzle.__drizzle_migrations (hash, created_at)
    SELECT ${hash}, ${when} WHERE NOT EXISTS (SELECT 1 FROM drizzle.__drizzle_migrations WHERE created_at = ${when})`;
}

export async function forgetInDrizzle(sql: Db, when: number): Promise<void> {
  await sql`DELETE FROM drizzle.__drizzle_migrations WHERE created_at = ${when}`;
}
