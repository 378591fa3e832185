import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultMigrationsDir } from '../src/migrate/runner.ts';

const BREAKPOINT = '\n--> statement-breakpoint\n';

/**
 * The realistic change the benchmark applies to a full document_versions table, one concern per
 * migration, in the order a careful author would ship it: the column first (a constant default
 * is a catalog-only change since PostgreSQL 11), the backfill next (in committed batches, so no
 * long transaction holds row locks or stops vacuum), the index after the backfill (so the
 * backfill's updates stay HOT), and the foreign key in two steps (NOT VALID takes its lock for
 * a moment; VALIDATE scans under a lock that lets writes through).
 */
export const BENCH_MIGRATIONS: { tag: string; sql: string[] }[] = [
  {
    tag: 'bench_word_count_column',
    sql: ['ALTER TABLE "document_versions" ADD COLUMN "word_count" integer DEFAULT 0 NOT NULL;'],
  },
  {
    tag: 'bench_word_count_backfill',
    // Keyset batches of 500 up to the newest row that existed when it started: rows the
    // application writes meanwhile are not chased. Only word_count changes, which the
    // append-only trigger allows; updated_at is set by its trigger.
    // (uuid has no max() aggregate: ORDER BY id DESC LIMIT 1.)
    sql: [
      `DO $$
DECLARE
  last_id uuid := '00000000-0000-0000-0000-000000000000';
  stop_at uuid;
  batch_last uuid;
BEGIN
  SELECT id INTO stop_at FROM "document_versions" ORDER BY id DESC LIMIT 1;
  LOOP
    WITH batch AS (
      SELECT id FROM "document_versions" WHERE id > last_id AND id <= stop_at ORDER BY id LIMIT 500
    ), updated AS (
      UPDATE "document_versions" AS d SET "word_count" = char_length(d."content") / 6
      WHERE d.id IN (SELECT id FROM batch)
      RETURNING d.id
    )
    SELECT id INTO batch_last FROM updated ORDER BY id DESC LIMIT 1;
    EXIT WHEN batch_last IS NULL;
    last_id := batch_last;
    COMMIT;
  END LOOP;
END
$$;`,
    ],
  },
  {
    tag: 'bench_word_count_index',
    sql: ['CREATE INDEX CONCURRENTLY "document_versions_word_count_idx" ON "document_versions" USING btree ("word_count");'],
  },
  {
    tag: 'bench_reviewed_by_fk',
    sql: [
      'ALTER TABLE "document_versions" ADD COLUMN "reviewed_by" uuid;',
      'ALTER TABLE "document_versions" ADD CONSTRAINT "document_versions_reviewed_by_users_id_fk" FOREIGN KEY ("reviewed_by") REFERENCES "public"."users"("id") ON DELETE set null NOT VALID;',
    ],
  },
  {
    tag: 'bench_reviewed_by_fk_validate',
    sql: ['ALTER TABLE "document_versions" VALIDATE CONSTRAINT "document_versions_reviewed_by_users_id_fk";'],
  },
];

interface JournalEntry {
  idx: number;
  version: string;
  when: number;
  tag: string;
  breakpoints: boolean;
}

/**
 * Fill `dir` with the package's own migrations (journal, files, snapshots) followed by
 * `migrations` (default BENCH_MIGRATIONS) with later `when` values, as drizzle-kit would have written them. Returns
 * the new tags in order.
 */
export async function writeMigrationSet(dir: string, migrations: { tag: string; sql: string[] }[] = BENCH_MIGRATIONS): Promise<string[]> {
  await cp(defaultMigrationsDir, dir, { recursive: true });
  const journalFile = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalFile, 'utf8')) as { entries: JournalEntry[] };
  let idx = journal.entries.length;
  let when = Math.max(0, ...journal.entries.map((e) => e.when));
  const tags: string[] = [];
  for (const migration of migrations) {
    const tag = `${String(idx).padStart(4, '0')}_${migration.tag}`;
    when += 1000;
    journal.entries.push({ idx, version: '7', when, tag, breakpoints: true });
    await writeFile(join(dir, `${tag}.sql`), `${migration.sql.join(BREAKPOINT)}\n`);
    tags.push(tag);
    idx++;
  }
  await writeFile(journalFile, `${JSON.stringify(journal, null, 2)}\n`);
  return tags;
}
