import type { Sql } from 'postgres';
import { bloatFindings, readBloat } from './bloat.ts';
import { duplicateIndexFindings, invalidIndexFindings, readIndexes, unusedIndexFindings } from './indexes.ts';
import { sequenceFindings } from './sequences.ts';
import { sessionFindings } from './sessions.ts';
import { hiddenRowFindings } from './visibility.ts';
import { explainStatement, readSlowStatements, seqScanFilters, slowStatementFindings, toSlowStatement } from './statements.ts';
import { cacheHitFindings, missingIndexFindings, readCacheHitRatios } from './tables.ts';
import { DEFAULT_THRESHOLDS, severityRank, type DiagnoseOptions, type DiagnoseReport, type Finding, type SlowStatement, type StatementPlan } from './types.ts';
import { readDatabaseAges, wraparoundFindings } from './wraparound.ts';

/**
 * A health report of one database in the spirit of PgHero: slowest statements, missing,
 * unused, duplicate and invalid indexes, estimated bloat, long and idle-in-transaction sessions,
 * wraparound age, sequences near their limit and cache hit ratios. Only reads: statistics views
 * and catalogs, plus EXPLAIN (never ANALYZE) of read-only statements in a read-only transaction.
 * Connect as a superuser or a role with pg_monitor, to the database to examine; a check the
 * role may not run becomes a `check-unavailable` finding instead of failing the report.
 *
 * @example
 * const report = await diagnose(sql);
 * for (const f of report.findings) console.log(f.severity, f.subject, f.fix);
 * if (!report.ok) process.exitCode = 1; // a critical finding
 */
export async function diagnose(sql: Sql, options: DiagnoseOptions = {}): Promise<DiagnoseReport> {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const [info] = await sql<{ database: string; version: string; statsReset: Date | null; preload: string; logMinDuration: string | null; logFormat: string | null }[]>`
    SELECT current_database() AS database, current_setting('server_version') AS version,
           (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS "statsReset",
           current_setting('shared_preload_libraries') AS preload,
           current_setting('auto_explain.log_min_duration', true) AS "logMinDuration",
           current_setting('auto_explain.log_format', true) AS "logFormat"`;
  if (!info) throw new Error('the server returned no row for SELECT current_database()');
  const statsReset = info.statsReset ? info.statsReset.toISOString() : null;
  const findings: Finding[] = [];
  const attempt = async <T>(check: string, fix: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (error) {
      // Missing privileges, a missing extension or view: report and go on. Anything else (the
      // connection broke) fails the report rather than passing for a healthy database.
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string' || !/^(42|55|0A)/.test(code)) throw error;
      findings.push({ kind: 'check-unavailable', severity: 'info', subject: check, detail: `could not run: ${(error as Error).message}`, fix });
      return undefined;
    }
  };
  const asMonitor = 'connect as a superuser or a role granted pg_monitor (`GRANT pg_monitor TO <role>`)';

  // Slow statements and their plans; the plans also name the columns sequential scans filter on.
  const slow = await attempt(
    'slow statements',
    "add 'pg_stat_statements' to shared_preload_libraries (ops/postgresql.conf does), restart, and run `CREATE EXTENSION IF NOT EXISTS pg_stat_statements;` in this database",
    () => readSlowStatements(sql, thresholds),
  );
  const plans = new Map<string, StatementPlan>();
  const filters = new Map<string, Set<string>>();
  for (const row of slow ? [...slow.byTotalTime, ...slow.byMeanTime] : []) {
    if (plans.has(row.queryId)) continue;
    const plan = options.explain === false ? { kind: 'not-explained' as const, reason: 'explain: false' } : await explainStatement(sql, row.query);
    plans.set(row.queryId, plan);
    if (plan.kind !== 'not-explained') {
      for (const [table, columns] of seqScanFilters(plan.json)) filters.set(table, new Set([...(filters.get(table) ?? []), ...columns]));
    }
  }
  const withPlan = (rows: NonNullable<typeof slow>['byTotalTime']): SlowStatement[] =>
    rows.map((row) => toSlowStatement(row, plans.get(row.queryId) ?? { kind: 'not-explained', reason: 'not explained' }));
  const byTotalTime = slow ? withPlan(slow.byTotalTime) : [];
  const byMeanTime = slow ? withPlan(slow.byMeanTime) : [];
  findings.push(...slowStatementFindings(byMeanTime, thresholds));

  const missing = await attempt('missing indexes', asMonitor, () => missingIndexFindings(sql, thresholds, filters));
  findings.push(...(missing ?? []));
  const indexes = await attempt('indexes', asMonitor, () => readIndexes(sql));
  if (indexes) findings.push(...invalidIndexFindings(indexes), ...duplicateIndexFindings(indexes), ...unusedIndexFindings(indexes, thresholds, statsReset));
  const bloat = await attempt('bloat estimate', 'grant SELECT on the tables (pg_stats shows only readable columns), or connect as a superuser', () => readBloat(sql, thresholds));
  if (bloat) findings.push(...bloatFindings(bloat, thresholds));
  findings.push(...((await attempt('sessions', asMonitor, () => sessionFindings(sql, thresholds))) ?? []));
  const ages = (await attempt('wraparound', asMonitor, () => readDatabaseAges(sql))) ?? [];
  findings.push(...wraparoundFindings(ages, thresholds));
  findings.push(...((await attempt('sequences', 'grant SELECT on the sequences, or connect as a superuser', () => sequenceFindings(sql, thresholds))) ?? []));
  findings.push(...((await attempt('privileges', 'connect as a superuser', () => hiddenRowFindings(sql))) ?? []));
  const cache = await attempt('cache hit ratio', asMonitor, () => readCacheHitRatios(sql));
  if (cache) findings.push(...cacheHitFindings(cache, thresholds));

  findings.sort((a, b) => severityRank[a.severity] - severityRank[b.severity] || a.kind.localeCompare(b.kind) || a.subject.localeCompare(b.subject));
  const counts = { critical: 0, warn: 0, info: 0 };
  for (const finding of findings) counts[finding.severity] += 1;
  return {
    ok: counts.critical === 0,
    database: info.database,
    serverVersion: info.version,
    statsReset,
    findings,
    counts,
    slowStatements: {
      available: slow !== undefined,
      ...(slow ? {} : { reason: findings.find((f) => f.subject === 'slow statements')?.detail ?? 'pg_stat_statements is not readable' }),
      byTotalTime,
      byMeanTime,
    },
    cacheHitRatio: { table: cache?.table ?? null, index: cache?.index ?? null },
    databaseAges: ages,
    autoExplain: {
      loaded: info.preload.split(',').some((lib) => lib.trim() === 'auto_explain'),
      logMinDuration: info.logMinDuration,
      logFormat: info.logFormat,
    },
  };
}
