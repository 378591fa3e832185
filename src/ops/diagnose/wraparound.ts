import type { Sql } from 'postgres';
import type { DatabaseAge, DiagnoseThresholds, Finding } from './types.ts';

/** Transaction ID and multixact age of every database that accepts connections. */
export async function readDatabaseAges(sql: Sql): Promise<DatabaseAge[]> {
  const rows = await sql<{ database: string; xidAge: number; multixactAge: number }[]>`
    SELECT datname AS database, age(datfrozenxid) AS "xidAge", mxid_age(datminmxid) AS "multixactAge"
      FROM pg_database WHERE datallowconn ORDER BY age(datfrozenxid) DESC`;
  return rows.map((row) => ({ database: row.database, xidAge: Number(row.xidAge), multixactAge: Number(row.multixactAge) }));
}

/**
 * PostgreSQL stops assigning transaction IDs (every write fails) when a database's oldest
 * unfrozen row is about 2^31 transactions old. Autovacuum freezes rows long before, from
 * autovacuum_freeze_max_age (200 million by default); an age far past it means something holds
 * it back (a long transaction, an abandoned replication slot or prepared transaction).
 */
export function wraparoundFindings(ages: readonly DatabaseAge[], thresholds: DiagnoseThresholds): Finding[] {
  const findings: Finding[] = [];
  for (const age of ages) {
    for (const [what, value] of [
      ['transaction ID', age.xidAge],
      ['multixact ID', age.multixactAge],
    ] as const) {
      if (value < thresholds.xidAgeWarn) continue;
      findings.push({
        kind: 'xid-wraparound',
        severity: value >= thresholds.xidAgeCritical ? 'critical' : 'warn',
        subject: age.database,
        detail: `${what} age ${value.toLocaleString('en')} of the ~2,147,000,000 at which PostgreSQL stops accepting writes (${((value / 2 ** 31) * 100).toFixed(0)}%).`,
        fix: `find what holds the horizon back (\`SELECT pid, xact_start FROM pg_stat_activity ORDER BY xact_start LIMIT 5\`, \`SELECT * FROM pg_replication_slots\`, \`SELECT * FROM pg_prepared_xacts\`), end it, then in ${age.database} run \`VACUUM (FREEZE, VERBOSE);\``,
      });
    }
  }
  return findings;
}
