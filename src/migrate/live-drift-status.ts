import type { ReservedSql, Sql } from 'postgres';
import { catalogObjects, type CatalogObject } from './catalog.ts';
import { compareSchemas, hasMigrationObjects, migrationOwned, type SchemaDifference } from './live-drift.ts';
import type { Problem } from './problems.ts';
import { readRecordedSchema } from './schema-state.ts';

type Db = Sql | ReservedSql;

/** Whether the live schema is what the applied migrations make, and what it was compared with. */
export interface DriftReport {
  /**
   * `recorded`: the schema the runner recorded after its last run; `reference`: a scratch
   * database migrated to the same point; `none`: nothing to compare with (see `note`).
   */
  expected: 'recorded' | 'reference' | 'none';
  /** When the compared schema was recorded (`recorded`). */
  recordedAt?: string;
  /** Every object where the database differs; empty when it matches (or nothing was compared). */
  differences: SchemaDifference[];
  /** Why nothing was compared, or what else to know. */
  note?: string;
  /** No migration is recorded, yet the database has objects of the migrations' schemas. */
  unledgered?: boolean;
}

/** The live objects the migrations own (read-only). */
export async function liveObjects(sql: Db): Promise<CatalogObject[]> {
  return migrationOwned(await catalogObjects(sql));
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Compare the live catalog with the schema recorded after the runner's last run, for the
 * migrations `applied` now. Cheap and read-only: the ledger's schema and pg_catalog.
 *
 * @example
 * const report = await recordedDrift(sql, ['0000_init', '0001_updated_at_triggers'], live);
 * for (const d of report.differences) console.log(d.message);
 */
export async function recordedDrift(sql: Db, applied: string[], live: CatalogObject[]): Promise<DriftReport> {
  if (applied.length === 0) {
    if (hasMigrationObjects(live)) return { expected: 'none', differences: [], unledgered: true, note: 'no migration is recorded, but the database has objects of the schemas the migrations own' };
    return { expected: 'none', differences: [], note: 'no migration is applied and the database is empty' };
  }
  const record = await readRecordedSchema(sql);
  if (!record) {
    return {
      expected: 'none',
      differences: [],
      note: 'no schema is recorded yet (the database was migrated before jeex-db recorded one): the next migrate, rollback or baseline records it; `jeex-db status --verify` compares with a reference database now',
    };
  }
  if (!sameList(record.applied, applied)) {
    return {
      expected: 'none',
      differences: [],
      note: `the schema was recorded with ${record.applied.at(-1) ?? 'nothing'} as the newest migration, and ${applied.at(-1) ?? 'nothing'} is now (migrated by another tool): \`jeex-db status --verify\` compares with a reference database`,
    };
  }
  return { expected: 'recorded', recordedAt: record.recordedAt.toISOString(), differences: compareSchemas(record.objects, live) };
}

const LISTED = 20;

/** The differences as lines of a message (the first 20, and how many more). */
export function listDifferences(differences: SchemaDifference[]): string {
  const lines = differences.slice(0, LISTED).map((d) => `  ${d.message}`);
  if (differences.length > LISTED) lines.push(`  (and ${differences.length - LISTED} more)`);
  return lines.join('\n');
}

/** The drift as a problem of `status` (MIGRATION_DRIFT), or none. */
export function driftProblem(report: DriftReport): Problem | undefined {
  if (report.differences.length === 0) return undefined;
  const against = report.expected === 'reference' ? 'a reference database migrated to the same point' : `the schema recorded after the last run (${report.recordedAt ?? '?'})`;
  return {
    code: 'MIGRATION_DRIFT',
    message: `the database differs from what its applied migrations make (compared with ${against}), ${report.differences.length} difference(s):\n${listDifferences(report.differences)}`,
    hint: 'Undo the hand-made changes, or make them a migration (change the Drizzle schema, `npm run db:generate`, review, `jeex-db migrate`). jeex-db never changes the database to match on its own.',
  };
}

/** The database has objects but no recorded migration (MIGRATION_UNLEDGERED), or none. */
export function unledgeredProblem(report: DriftReport, matched?: { tag?: string; differences?: number }): Problem | undefined {
  if (!report.unledgered) return undefined;
  const which = matched?.tag
    ? matched.differences === 0
      ? `its schema is what the migrations make at ${matched.tag}: record that with \`jeex-db baseline --to ${matched.tag}\`, then \`jeex-db migrate\``
      : `its schema is closest to what the migrations make at ${matched.tag} (${matched.differences ?? '?'} difference(s)): compare with \`jeex-db status --verify\`, fix the database, then \`jeex-db baseline --to ${matched.tag}\``
    : 'find the newest migration its schema has (`jeex-db status --verify` names it when a reference database can be built) and record it with `jeex-db baseline --to <name>`, then `jeex-db migrate`';
  return {
    code: 'MIGRATION_UNLEDGERED',
    message: 'the database has tables, types or functions in the schemas the migrations own, but no migration is recorded in jeex_migrations.ledger or drizzle.__drizzle_migrations (its schema was made another way): running the migrations would fail on the first object that exists',
    hint: `Nothing was run. ${which[0]?.toUpperCase() ?? ''}${which.slice(1)}.`,
  };
}
