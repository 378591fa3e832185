import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../../db/connect.ts';
import { withDatabase } from '../../db/conn-string.ts';
import { JeexDbError } from '../../core/errors.ts';
import { localLayout } from '../../local/layout.ts';
import { findBinaries } from '../../cluster/binaries.ts';
import { stopServer } from '../../cluster/pg-ctl.ts';
import type { RunAs } from '../../platform/exec.ts';
import type { BackupRecord, BackupRepo } from './repo.ts';
import { restoreBackup } from './restore.ts';

export interface RestoreProof {
  ok: boolean;
  /** What was checked, one line each. */
  steps: string[];
  /** Corruption amcheck found, and row counts that differ from the backup's. */
  problems: string[];
  restoreMs: number;
  checkMs: number;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The real proof that a backup restores: into a scratch directory, replayed to the backup's
 * consistent end, started on a free port; amcheck over every table (`verify_heapam`) and every
 * B-tree index (`bt_index_check` with heapallindexed) of every database; the row counts compared
 * with those recorded at backup time (when no other transaction committed in between, so they are
 * exact); then stopped and removed.
 *
 * @example
 * const proof = await proveRestore(repo, record, { sourceDataDir: '.jeex-db', as });
 * proof.ok; // true
 */
export async function proveRestore(
  repo: BackupRepo,
  record: BackupRecord & { rowCountsExact?: boolean },
  options: { sourceDataDir: string; as?: RunAs; timeoutSeconds?: number; onProgress?: (message: string) => void },
): Promise<RestoreProof> {
  const scratch = await mkdtemp(join(tmpdir(), 'jeex-verify-'));
  await chmod(scratch, 0o755);
  const to = join(scratch, 'cluster');
  const steps: string[] = [];
  const problems: string[] = [];
  let restoreMs = 0;
  const checkStarted = { at: 0 };
  try {
    const restored = await restoreBackup({
      repo,
      to,
      backupId: record.id,
      target: { immediate: true },
      start: { port: 0 },
      sourceDataDir: options.sourceDataDir,
      ...(options.as ? { as: options.as } : {}),
      ...(options.timeoutSeconds ? { timeoutSeconds: options.timeoutSeconds } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    restoreMs = restored.durationMs;
    steps.push(`restored into a scratch directory and started on port ${restored.port} in ${(restored.durationMs / 1000).toFixed(1)} s (stopped at ${restored.reached.lsn})`);
    if (!restored.url) {
      throw new JeexDbError('RESTORE_FAILED', 'the restored server cannot be logged into: the source cluster has no secrets.json', {
        hint: 'Verify backups of a local cluster made by `jeex-db up` (its passwords are needed to log in).',
      });
    }
    checkStarted.at = performance.now();
    const admin = connect(restored.url, { max: 1, onnotice: () => {} });
    let databases: string[];
    try {
      databases = (await admin<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname`).map((r) => r.datname);
    } finally {
      await admin.end({ timeout: 1 });
    }
    for (const database of databases) {
      const sql = connect(withDatabase(restored.url, database), { max: 1, onnotice: () => {} });
      try {
        await sql`CREATE EXTENSION IF NOT EXISTS amcheck`;
        const heap = await sql<{ relation: string; msg: string }[]>`
          SELECT c.oid::regclass::text AS relation, v.msg
          FROM pg_class c CROSS JOIN LATERAL verify_heapam(c.oid) v
          WHERE c.relkind IN ('r', 'm', 't') AND c.relpersistence = 'p'`;
        const [{ n: tables } = { n: 0 }] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_class WHERE relkind IN ('r', 'm', 't') AND relpersistence = 'p'`;
        const indexes = await sql<{ index: string }[]>`
          SELECT c.oid::regclass::text AS index
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
          WHERE am.amname = 'btree' AND i.indisvalid AND c.relpersistence = 'p'`;
        for (const { index } of indexes) {
          try {
            await sql`SELECT bt_index_check(index => ${index}::regclass, heapallindexed => true)`;
          } catch (error) {
            problems.push(`${database}: index ${index}: ${(error as Error).message}`);
          }
        }
        for (const row of heap) problems.push(`${database}: table ${row.relation}: ${row.msg}`);
        steps.push(`${database}: amcheck over ${tables} tables and ${indexes.length} B-tree indexes: ${heap.length === 0 ? 'no corruption' : `${heap.length} problem(s)`}`);
        if (Object.keys(record.rowCounts).length > 0 && database === (await currentAppDatabase(sql, record))) {
          for (const [table, expected] of Object.entries(record.rowCounts)) {
            const [row] = await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM ${quoteIdent(table)}`);
            const actual = Number(row?.n ?? -1);
            if (actual !== expected && record.rowCountsExact !== false) problems.push(`${database}: ${table} has ${actual} rows, the backup recorded ${expected}`);
          }
          steps.push(`${database}: row counts of ${Object.keys(record.rowCounts).length} tables ${record.rowCountsExact === false ? 'read (not compared: other transactions committed while they were counted)' : 'compared with the backup'}`);
        }
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  } finally {
    // restoreBackup left it running: stop it before removing the directory.
    await stopServer(await findBinaries(), localLayout(to), options.as, 'immediate').catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
    steps.push('stopped and removed the scratch cluster');
  }
  return { ok: problems.length === 0, steps, problems, restoreMs, checkMs: checkStarted.at ? performance.now() - checkStarted.at : 0 };
}

/** The database whose tables the row counts belong to: the one holding the users table. */
async function currentAppDatabase(sql: postgres.Sql, record: BackupRecord): Promise<string | undefined> {
  const first = Object.keys(record.rowCounts)[0];
  if (!first) return undefined;
  const [row] = await sql<{ db: string; found: boolean }[]>`SELECT current_database() AS db, to_regclass(${first}) IS NOT NULL AS found`;
  return row?.found ? row.db : undefined;
}
