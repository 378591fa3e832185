import type { Sql } from 'postgres';
import { JeexDbError } from '../core/errors.ts';
import { compareSchemas } from './live-drift.ts';
import { listDifferences, liveObjects, unledgeredProblem } from './live-drift-status.ts';
import { matchMigration, referenceSchemas, type ReferenceOptions } from './live-drift-reference.ts';
import { defaultMigrationsDir, markApplied, status, type RunnerOptions, type StatusResult } from './runner.ts';
import { loadMigrations } from './source.ts';

/**
 * `status --verify`: `status`, with the live schema compared with a reference database migrated
 * to the same point (instead of the recorded schema), and for a database with objects but no
 * recorded migration, the migration it matches named in the hint.
 *
 * @example
 * const result = await verifiedStatus(sql, { reference: { serverUrls: [superuserUrl] } });
 * result.drift.differences; // every object that differs
 */
export async function verifiedStatus(sql: Sql, options: { migrationsDir?: string; allowOutOfOrder?: boolean; reference: ReferenceOptions }): Promise<StatusResult> {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir;
  const result = await status(sql, { ...options, migrationsDir });
  const live = await liveObjects(sql);
  if (result.drift.unledgered) {
    const matched = await matchMigration(live, options.reference, migrationsDir);
    const problem = unledgeredProblem(result.drift, matched);
    return { ...result, problems: result.problems.map((p) => (p.code === 'MIGRATION_UNLEDGERED' && problem ? problem : p)) };
  }
  const applied = result.migrations.filter((m) => m.state === 'applied' || m.state === 'changed').map((m) => m.name);
  const newest = applied.at(-1);
  if (!newest) return result;
  const [reference] = await referenceSchemas(options.reference, migrationsDir, [newest]);
  const differences = compareSchemas(reference ?? [], live);
  const drift = { expected: 'reference' as const, differences, note: `compared with a reference database migrated to ${newest}` };
  return { ...result, drift, upToDate: result.pending.length === 0 && result.problems.length === 0 && differences.length === 0 };
}

export interface BaselineOptions extends RunnerOptions {
  /** The newest migration the database already has (default: the newest in the folder). */
  to?: string;
  /** Record without comparing with a reference database. */
  force?: boolean;
  reference: ReferenceOptions;
}

/**
 * `baseline`: record migrations up to `to` as applied without running them, for a database whose
 * schema was made another way, after checking that the schema is what the migrations make at
 * `to` (a reference database, see `referenceSchemas`). Refuses with BASELINE_MISMATCH and every
 * difference, naming the migration the schema matches when one does; `force` skips the check.
 *
 * @example
 * await baseline(sql, { to: '0004_audit_trail', reference: { referenceUrl } });
 */
export async function baseline(sql: Sql, options: BaselineOptions): Promise<{ marked: string[]; unchanged: string[]; verified: boolean }> {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir;
  const tags = (await loadMigrations(migrationsDir)).migrations.map((m) => m.tag);
  const to = options.to ?? tags.at(-1);
  if (!to || !tags.includes(to)) {
    throw new JeexDbError('INVALID_CONFIG', `--to ${to ?? ''}: there is no such migration`, { hint: `Known migrations: ${tags.join(', ') || 'none'}.` });
  }
  if (!options.force) {
    const live = await liveObjects(sql);
    const points = tags.slice(0, tags.indexOf(to) + 1);
    // One reference database migrated through every point: the one asked for, and the one that matches when it does not.
    const schemas = await referenceSchemas(options.reference, migrationsDir, tags);
    const differences = compareSchemas(schemas[points.length - 1] ?? [], live);
    if (differences.length > 0) {
      const counts = schemas.map((schema, i) => ({ tag: tags[i] ?? '', count: compareSchemas(schema, live).length }));
      const exact = counts.filter((c) => c.count === 0).at(-1);
      const closest = [...counts].sort((a, b) => a.count - b.count)[0];
      const advice = exact
        ? `The schema is what the migrations make at ${exact.tag}: \`jeex-db baseline --to ${exact.tag}\`.`
        : `No migration matches it (closest: ${closest?.tag ?? '?'}, ${closest?.count ?? '?'} difference(s)): fix the database, or record it anyway with --force (\`jeex-db status\` will then report nothing for these objects).`;
      throw new JeexDbError('BASELINE_MISMATCH', `the database is not what the migrations make at ${to}: ${differences.length} difference(s):\n${listDifferences(differences)}`, {
        hint: `${advice} Nothing was recorded.`,
        context: { differences, ...(exact ? { matches: exact.tag } : {}) },
      });
    }
  }
  const result = await markApplied(sql, { upTo: to }, { ...options, migrationsDir });
  return { ...result, verified: !options.force };
}

