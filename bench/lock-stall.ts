/**
 * Issue 17, finding 4: what a migration waiting for a lock costs the application's writers. A
 * transaction holds a read lock on document_versions for --reader-seconds (default 40, as in the
 * finding), a writer inserts into it as fast as it can, and the runner applies a migration that
 * adds a column (ACCESS EXCLUSIVE), once with the old defaults (lock_timeout 5 s, 4 tries) and
 * once with the new ones. Reports per run the writer's slowest insert, its total stall, the
 * inserts over 500 ms, and whether and when the migration went through. The target: the new
 * defaults keep every insert under 1.5 s and the migration applies after the reader ends.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ReservedSql, type Sql } from 'postgres';
import { isJeexDbError } from '../src/core/errors.ts';
import { connect } from '../src/db/connect.ts';
import { LOCAL_DATABASE } from '../src/local/files.ts';
import { DEFAULT_TIMEOUTS, migrate, rollback } from '../src/migrate/runner.ts';
import { freePort } from '../src/platform/port.ts';
import { startWriter, STALL_MS, type WriterFigures } from './concurrent-writer.ts';
import { benchCipher, insertSealedUsers } from './sealed-users.ts';
import { writeMigrationSet } from './migration-set.ts';
import { inDatabase, withScratchCluster } from './scratch-cluster.ts';

/** What the issue measured against: lock_timeout 5 s, 3 retries (4 tries). */
export const OLD_SETTINGS = { lockTimeoutMs: 5_000, retries: 3 };
const STALL_TARGET_MS = 1_500;
const BASELINE_MS = 1_000;

export interface LockStallOptions {
  /** How long the reader's transaction holds its lock (the finding: 40 s). */
  readerSeconds: number;
}

export interface LockStallRun {
  label: 'old defaults' | 'new defaults';
  lockTimeoutMs: number;
  retries: number;
  /** applied, or failed with the error's code and hint. */
  outcome: { applied: boolean; code?: string; hint?: string; attempts?: number };
  /** When the migration finished (applied or failed), in seconds after the reader took its lock. */
  finishedAfterS: number;
  /** When the reader let go, in seconds after it took its lock. */
  readerEndedAfterS: number;
  /** Progress lines of the run (the retries). */
  progress: string[];
  writer: { inserts: number; errors: number; maxMs: number; stalledMs: number; stallsOver500Ms: number; longStallsMs: number[] };
}

export interface LockStallFigures {
  readerSeconds: number;
  stallThresholdMs: number;
  runs: LockStallRun[];
  targets: { newStallUnder1500ms: { limitMs: number; actualMs: number; pass: boolean }; newApplied: { pass: boolean } };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The migration under test: the package's migrations, then one that adds a column (with its down). */
async function writeMigrations(dir: string): Promise<string> {
  await mkdir(dir);
  const [tag] = await writeMigrationSet(dir, [{ tag: 'bench_lock_stall_column', sql: ['ALTER TABLE "document_versions" ADD COLUMN "lock_bench_note" text;'] }]);
  if (!tag) throw new Error('no migration written');
  await writeFile(join(dir, `${tag}.down.sql`), 'ALTER TABLE "document_versions" DROP COLUMN "lock_bench_note";\n');
  return tag;
}

/** One run: the reader takes its lock, the runner starts 200 ms later; both are waited for. */
async function runOnce(
  migrator: Sql,
  reader: ReservedSql,
  writer: ReturnType<typeof startWriter>,
  settings: { label: LockStallRun['label']; lockTimeoutMs: number; retries: number },
  migrationsDir: string,
  readerMs: number,
  log: (line: string) => void,
): Promise<Omit<LockStallRun, 'writer'>> {
  log(`  ${settings.label}: lock_timeout ${settings.lockTimeoutMs} ms, ${settings.retries + 1} tries, against a ${seconds(readerMs)} reader`);
  await reader`BEGIN`;
  await reader`SELECT count(*) FROM document_versions`;
  const lockedAt = performance.now();
  writer.setPhase(settings.label);
  let readerEndedAt = 0;
  const readerDone = new Promise<void>((resolve, reject) => {
    setTimeout(() => {
      reader`COMMIT`.then(() => {
        readerEndedAt = performance.now();
        resolve();
      }, reject);
    }, readerMs);
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const progress: string[] = [];
  let outcome: LockStallRun['outcome'];
  try {
    await migrate(migrator, {
      migrationsDir,
      ddlLockTimeoutMs: settings.lockTimeoutMs,
      retries: settings.retries,
      restorePoint: false,
      onProgress: (line) => {
        progress.push(line);
        log(`    ${line}`);
      },
    });
    outcome = { applied: true };
  } catch (error) {
    if (!isJeexDbError(error)) throw error;
    outcome = { applied: false, code: error.code, ...(error.hint ? { hint: error.hint } : {}), ...(typeof error.context?.attempts === 'number' ? { attempts: error.context.attempts } : {}) };
  }
  const finishedAt = performance.now();
  await readerDone;
  // A moment after both, so the last inserts of the run count in its phase.
  await new Promise((resolve) => setTimeout(resolve, 500));
  writer.setPhase(`after ${settings.label}`);
  return { ...settings, outcome, finishedAfterS: (finishedAt - lockedAt) / 1000, readerEndedAfterS: (readerEndedAt - lockedAt) / 1000, progress };
}

/**
 * Start a fresh cluster in a temporary directory, then run the scenario with the old and the new
 * defaults (the migration rolled back in between), then stop and remove it (also on Ctrl-C).
 */
export async function benchLockStall(options: LockStallOptions, log: (line: string) => void): Promise<LockStallFigures> {
  return withScratchCluster('jeex-bench-locks-', log, async ({ dir, start }) => {
    log(`locks: a ${options.readerSeconds} s reader on document_versions, an INSERT loop on it, a migration adding a column`);
    const server = await start({ port: await freePort() });
    const superuser = server.urls.superuser;
    const migratorUrl = server.urls.migrator;
    if (!superuser || !migratorUrl) throw new Error('up() returned no superuser/migrator URL');
    const admin = connect(inDatabase(superuser, LOCAL_DATABASE), { max: 2, onnotice: () => {}, connection: { application_name: 'monthly-report' } });
    const migrator = connect(migratorUrl, { max: 2, onnotice: () => {}, connection: { application_name: 'jeex-db bench migrate' } });
    const migrationsDir = join(dir, 'migrations');
    const tag = await writeMigrations(migrationsDir);
    const [userId = ''] = await insertSealedUsers(admin, benchCipher(), [{ email: 'lock-bench@example.com', name: 'Lock bench' }]);
    const [project] = await admin<{ id: string }[]>`INSERT INTO projects (name, created_by) VALUES ('Lock bench project', ${userId}) RETURNING id`;
    const writer = startWriter(server.urls.app, { projectId: project?.id ?? '', userId });
    const reader = await admin.reserve();
    const runs: Omit<LockStallRun, 'writer'>[] = [];
    let figures: WriterFigures;
    try {
      await new Promise((resolve) => setTimeout(resolve, BASELINE_MS));
      const readerMs = options.readerSeconds * 1000;
      runs.push(await runOnce(migrator, reader, writer, { label: 'old defaults', ...OLD_SETTINGS }, migrationsDir, readerMs, log));
      if (runs[0]?.outcome.applied) await rollback(migrator, { migrationsDir, restorePoint: false });
      runs.push(await runOnce(migrator, reader, writer, { label: 'new defaults', lockTimeoutMs: DEFAULT_TIMEOUTS.lockTimeoutMs, retries: DEFAULT_TIMEOUTS.retries }, migrationsDir, readerMs, log));
      figures = await writer.stop();
      const [column] = await admin`SELECT 1 FROM information_schema.columns WHERE table_name = 'document_versions' AND column_name = 'lock_bench_note'`;
      if (runs[1]?.outcome.applied && !column) throw new Error(`${tag} was reported applied but its column is missing`);
    } finally {
      await writer.stop();
      reader.release();
      await migrator.end({ timeout: 5 });
      await admin.end({ timeout: 5 });
    }
    const withWriter: LockStallRun[] = runs.map((run) => {
      const phase = figures.perPhase.find((p) => p.phase === run.label);
      return {
        ...run,
        writer: {
          inserts: phase?.inserts ?? 0,
          errors: phase?.errors ?? 0,
          maxMs: Math.round(phase?.maxMs ?? 0),
          stalledMs: Math.round(phase?.stalledMs ?? 0),
          stallsOver500Ms: phase?.stallsOver500Ms ?? 0,
          longStallsMs: phase?.longStallsMs ?? [],
        },
      };
    });
    const fresh = withWriter[1];
    return {
      readerSeconds: options.readerSeconds,
      stallThresholdMs: STALL_MS,
      runs: withWriter,
      targets: {
        newStallUnder1500ms: { limitMs: STALL_TARGET_MS, actualMs: fresh?.writer.maxMs ?? Number.NaN, pass: (fresh?.writer.maxMs ?? Infinity) < STALL_TARGET_MS && fresh?.writer.errors === 0 },
        newApplied: { pass: Boolean(fresh?.outcome.applied) },
      },
    };
  });
}

export const lockStallPassed = (f: LockStallFigures) => f.targets.newStallUnder1500ms.pass && f.targets.newApplied.pass;

/** The figures as lines for people. */
export function describeLockStall(f: LockStallFigures): string[] {
  const lines = [`locks: reader holds document_versions for ${f.readerSeconds} s; a stall is an insert over ${f.stallThresholdMs} ms`];
  for (const run of f.runs) {
    const w = run.writer;
    const result = run.outcome.applied
      ? `applied ${run.finishedAfterS.toFixed(1)} s after the reader took its lock (reader ended at ${run.readerEndedAfterS.toFixed(1)} s)`
      : `FAILED (${run.outcome.code ?? '?'}, ${run.outcome.attempts ?? '?'} tries) ${run.finishedAfterS.toFixed(1)} s after the reader took its lock (reader ended at ${run.readerEndedAfterS.toFixed(1)} s)`;
    lines.push(`  ${run.label.padEnd(13)} lock_timeout ${run.lockTimeoutMs} ms x ${run.retries + 1} tries: ${result}`);
    lines.push(`  ${''.padEnd(13)} writer: ${w.inserts} inserts${w.errors ? `, ${w.errors} FAILED` : ''}, slowest ${w.maxMs} ms, ${w.stallsOver500Ms} over 500 ms${w.longStallsMs.length ? ` (${w.longStallsMs.join(', ')} ms)` : ''}, ${seconds(w.stalledMs)} stalled in all`);
    if (run.outcome.hint) lines.push(`  ${''.padEnd(13)} hint: ${run.outcome.hint}`);
  }
  const t = f.targets;
  lines.push(`${t.newStallUnder1500ms.pass ? 'PASS' : 'FAIL'} new defaults: slowest insert ${t.newStallUnder1500ms.actualMs} ms < ${t.newStallUnder1500ms.limitMs} ms`);
  lines.push(`${t.newApplied.pass ? 'PASS' : 'FAIL'} new defaults: the migration went through`);
  return lines;
}
