/**
 * PERF-003: a realistic migration set (column with a default, batched backfill, concurrent
 * index, foreign key NOT VALID then VALIDATE) applied by our runner to a document_versions
 * table holding about 1 GB, while a writer keeps appending versions. Reports the total and
 * per-migration time and the writer's latency; the targets are a total under 60 s and no insert
 * waiting longer than the runner's lock_timeout.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Sql } from 'postgres';
import { connect } from '../src/db/connect.ts';
import { migrate } from '../src/migrate/runner.ts';
import { LOCAL_DATABASE } from '../src/local/files.ts';
import { freePort } from '../src/platform/port.ts';
import { startWriter, type WriterFigures } from './concurrent-writer.ts';
import { benchCipher, insertSealedUsers } from './sealed-users.ts';
import { BENCH_MIGRATIONS, writeMigrationSet } from './migration-set.ts';
import { inDatabase, withScratchCluster } from './scratch-cluster.ts';

/** Each seeded version's content: md5 (32 characters) repeated, 100 KiB, incompressible enough. */
const CONTENT_REPEATS = 3200;
export const CONTENT_BYTES = 32 * CONTENT_REPEATS;
const SEED_PROJECTS = 100;
const SEED_BATCH_ROWS = 500;
const DDL_LOCK_TIMEOUT_MS = 2000;
const TOTAL_TARGET_MS = 60_000;
const BASELINE_MS = 2000;

export interface MigrationBenchOptions {
  /** Gigabytes (GiB) of document_versions content to seed. */
  scaleGb: number;
}

export interface Target {
  limitMs: number;
  actualMs: number;
  pass: boolean;
}

export interface MigrationFigures {
  scaleGb: number;
  rows: number;
  contentBytesPerRow: number;
  /** How content is stored: EXTERNAL (out of line, uncompressed), so 1 GB of text is 1 GB on disk. */
  contentStorage: string;
  /** pg_total_relation_size('document_versions') after seeding (heap, TOAST, indexes). */
  tableBytes: number;
  upMs: number;
  /** Insert plus VACUUM (ANALYZE) and CHECKPOINT, so the migrations start on a settled table. */
  seedMs: number;
  ddlLockTimeoutMs: number;
  migrations: { totalMs: number; steps: { name: string; transaction: string; durationMs: number; retries: number }[] };
  writer: WriterFigures;
  /** The migrations did what they say: checked in the database afterwards. */
  outcome: Outcome;
  targets: { totalUnder60s: Target; stallUnderLockTimeout: Target };
}

export interface Outcome {
  /** Seeded versions the backfill left at word_count 0 (expected 0). */
  notBackfilled: number;
  indexValid: boolean;
  foreignKeyValidated: boolean;
}

/** Check the end state; the figures mean nothing if the migrations did not do their work. */
async function checkOutcome(sql: Sql, writerProjectId: string): Promise<Outcome> {
  const [row] = await sql<Outcome[]>`
    SELECT (SELECT count(*)::int FROM document_versions WHERE word_count = 0 AND project_id <> ${writerProjectId}) AS "notBackfilled",
           coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('document_versions_word_count_idx')), false) AS "indexValid",
           coalesce((SELECT convalidated FROM pg_constraint WHERE conname = 'document_versions_reviewed_by_users_id_fk'), false) AS "foreignKeyValidated"`;
  if (!row) throw new Error('could not check the outcome of the migrations');
  return row;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Users and projects for the seeded versions, and one project of the writer's own. */
async function seedOwners(admin: Sql): Promise<{ projectId: string; userId: string }> {
  // Users' email and name are sealed by the application (SEC-001), so they are made here.
  const users = Array.from({ length: SEED_PROJECTS }, (_, i) => ({ email: `bench-${i + 1}@example.com`, name: `Bench user ${i + 1}` }));
  const ids = await insertSealedUsers(admin, benchCipher(), users);
  await admin`
    INSERT INTO projects (name, created_by)
    SELECT format('Bench project %s', u.n), u.id FROM unnest(${ids}::uuid[]) WITH ORDINALITY AS u(id, n)`;
  const [writer] = await admin<{ projectId: string; userId: string }[]>`
    INSERT INTO projects (name, created_by) VALUES ('Bench writer project', ${ids[0] ?? null})
    RETURNING id AS "projectId", created_by AS "userId"`;
  if (!writer) throw new Error('could not create the writer project');
  return writer;
}

/** Rows [from, to) as one set-based INSERT: project, type and version follow from the row number. */
async function seedVersions(admin: Sql, from: number, to: number): Promise<void> {
  await admin`
    INSERT INTO document_versions (project_id, document_type, version, content, created_by)
    SELECT p.ids[1 + g % p.n], (enum_range(NULL::document_type))[1 + (g / p.n) % 4], 1 + g / (p.n * 4),
           repeat(md5(g::text), ${CONTENT_REPEATS}), p.authors[1 + g % p.n]
    FROM (SELECT array_agg(id ORDER BY id) AS ids, array_agg(created_by ORDER BY id) AS authors, count(*)::int AS n
          FROM projects WHERE name LIKE 'Bench project %') p,
         generate_series(${from}::int, ${to - 1}::int) g`;
}

/** About `rows` x 100 KiB of document versions (uncompressed), plus a project for a writer. */
export async function seed(admin: Sql, rows: number, log: (line: string) => void): Promise<{ projectId: string; userId: string }> {
  // No TOAST compression: content is stored out of line as is, so the table really holds the
  // bytes we write (pglz would shrink repeated md5 text to almost nothing).
  await admin`ALTER TABLE document_versions ALTER COLUMN content SET STORAGE EXTERNAL`;
  const writer = await seedOwners(admin);
  const batches: [number, number][] = [];
  for (let from = 0; from < rows; from += SEED_BATCH_ROWS) batches.push([from, Math.min(rows, from + SEED_BATCH_ROWS)]);
  let done = 0;
  let reported = 0;
  // Two connections, one per core here: the server generates and writes, nothing crosses the wire.
  const worker = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) {
      await seedVersions(admin, batch[0], batch[1]);
      done += batch[1] - batch[0];
      if (done - reported >= rows / 4 || done === rows) {
        reported = done;
        log(`  seeded ${done}/${rows} versions`);
      }
    }
  };
  await Promise.all([worker(), worker()]);
  await admin`VACUUM (ANALYZE) document_versions`;
  await admin`CHECKPOINT`;
  return writer;
}

/**
 * Start a fresh cluster in a temporary directory, seed ~`scaleGb` GiB of document versions,
 * apply BENCH_MIGRATIONS with the runner while a writer inserts, then stop the cluster and
 * remove the directory (also on failure or Ctrl-C).
 */
export async function benchMigrations(options: MigrationBenchOptions, log: (line: string) => void): Promise<MigrationFigures> {
  return withScratchCluster('jeex-bench-migrations-', log, async ({ dir, start }) => {
    const rows = Math.round((options.scaleGb * 2 ** 30) / CONTENT_BYTES);
    log(`migrations on ~${options.scaleGb} GiB: ${rows} document versions of ${CONTENT_BYTES / 1024} KiB, content STORAGE EXTERNAL (no TOAST compression)`);
    const upStarted = performance.now();
    const server = await start({ port: await freePort(), memoryBytes: 2 * 2 ** 30 });
    const upMs = performance.now() - upStarted;
    log(`  up (new cluster, 2 GiB memory settings, package migrations applied): ${seconds(upMs)}`);
    const superuser = server.urls.superuser;
    const migrator = server.urls.migrator;
    if (!superuser || !migrator) throw new Error('up() returned no superuser/migrator URL');

    const admin = connect(inDatabase(superuser, LOCAL_DATABASE), { max: 2, onnotice: () => {}, connection: { application_name: 'bench-seed' } });
    let writerTarget: { projectId: string; userId: string };
    let tableBytes: number;
    const seedStarted = performance.now();
    try {
      writerTarget = await seed(admin, rows, log);
      const [size] = await admin<{ bytes: string }[]>`SELECT pg_total_relation_size('document_versions') AS bytes`;
      tableBytes = Number(size?.bytes ?? 0);
    } finally {
      await admin.end({ timeout: 5 });
    }
    const seedMs = performance.now() - seedStarted;
    log(`  seeded ${rows} versions in ${seconds(seedMs)} (insert, VACUUM ANALYZE, CHECKPOINT): document_versions is ${mib(tableBytes)} on disk`);

    const migrationsDir = join(dir, 'migrations');
    await mkdir(migrationsDir);
    const tags = await writeMigrationSet(migrationsDir);
    log(`  applying ${tags.length} migrations (lock_timeout ${DDL_LOCK_TIMEOUT_MS} ms) while bench-writer inserts`);

    const writer = startWriter(server.urls.app, writerTarget);
    const sql = connect(migrator, { max: 2, onnotice: () => {}, connection: { application_name: 'jeex-db bench migrate' } });
    let totalMs: number;
    let steps: MigrationFigures['migrations']['steps'];
    let writerFigures: WriterFigures;
    let outcome: Outcome;
    try {
      await sleep(BASELINE_MS);
      const migrateStarted = performance.now();
      const result = await migrate(sql, {
        migrationsDir,
        ddlLockTimeoutMs: DDL_LOCK_TIMEOUT_MS,
        onProgress: (message) => {
          const applying = /^applying (\S+)/.exec(message);
          if (applying?.[1]) writer.setPhase(applying[1]);
          log(`    ${message}`);
        },
      });
      totalMs = performance.now() - migrateStarted;
      writerFigures = await writer.stop();
      steps = result.applied.map((s) => ({ name: s.name, transaction: s.transaction, durationMs: s.durationMs, retries: s.retries }));
      if (steps.length !== BENCH_MIGRATIONS.length) throw new Error(`expected ${BENCH_MIGRATIONS.length} migrations to apply, the runner applied ${steps.length}`);
      outcome = await checkOutcome(sql, writerTarget.projectId);
    } finally {
      await writer.stop();
      await sql.end({ timeout: 5 });
    }

    const stall = writerFigures.longestStall.ms;
    const figures: MigrationFigures = {
      scaleGb: options.scaleGb,
      rows,
      contentBytesPerRow: CONTENT_BYTES,
      contentStorage: 'EXTERNAL (out of line, no TOAST compression)',
      tableBytes,
      upMs,
      seedMs,
      ddlLockTimeoutMs: DDL_LOCK_TIMEOUT_MS,
      migrations: { totalMs, steps },
      writer: writerFigures,
      outcome,
      targets: {
        totalUnder60s: { limitMs: TOTAL_TARGET_MS, actualMs: totalMs, pass: totalMs < TOTAL_TARGET_MS },
        stallUnderLockTimeout: { limitMs: DDL_LOCK_TIMEOUT_MS, actualMs: stall, pass: stall < DDL_LOCK_TIMEOUT_MS && writerFigures.duringMigrations.errors === 0 },
      },
    };
    return figures;
  });
}

export const outcomeOk = (o: Outcome) => o.notBackfilled === 0 && o.indexValid && o.foreignKeyValidated;

/** Every target met and the migrations did their work. */
export const migrationsPassed = (f: MigrationFigures) => f.targets.totalUnder60s.pass && f.targets.stallUnderLockTimeout.pass && outcomeOk(f.outcome);

/** The figures as lines for people. */
export function describeMigrations(f: MigrationFigures): string[] {
  const w = f.writer;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  return [
    `document_versions: ${f.rows} rows, ${mib(f.tableBytes)} on disk (content STORAGE EXTERNAL, uncompressed), seeded in ${seconds(f.seedMs)}`,
    `migrations total: ${seconds(f.migrations.totalMs)}`,
    ...f.migrations.steps.map((s) => {
      const phase = w.perPhase.find((p) => p.phase === s.name);
      return `  ${s.name.padEnd(36)} ${String(s.durationMs).padStart(7)} ms  ${s.transaction === 'none' ? 'outside a transaction' : 'in a transaction    '}  writer: ${phase?.inserts ?? 0} inserts, slowest ${ms(phase?.maxMs ?? 0)}${s.retries ? `, ${s.retries} lock retries` : ''}`;
    }),
    `writer before migrations: ${w.baseline.inserts} inserts, p50 ${ms(w.baseline.p50Ms)}, p99 ${ms(w.baseline.p99Ms)}, max ${ms(w.baseline.maxMs)}`,
    `writer during migrations: ${w.duringMigrations.inserts} inserts, ${w.duringMigrations.errors} errors, p50 ${ms(w.duringMigrations.p50Ms)}, p99 ${ms(w.duringMigrations.p99Ms)}, longest stall ${ms(w.longestStall.ms)} (during ${w.longestStall.phase || '-'})`,
    ...w.errorSamples.map((e) => `  writer error: ${e}`),
    `${outcomeOk(f.outcome) ? 'PASS' : 'FAIL'} outcome: ${f.outcome.notBackfilled} seeded versions not backfilled, index ${f.outcome.indexValid ? 'valid' : 'INVALID or missing'}, foreign key ${f.outcome.foreignKeyValidated ? 'validated' : 'NOT validated'}`,
    `${f.targets.totalUnder60s.pass ? 'PASS' : 'FAIL'} total migration time ${seconds(f.migrations.totalMs)} < ${seconds(f.targets.totalUnder60s.limitMs)}`,
    `${f.targets.stallUnderLockTimeout.pass ? 'PASS' : 'FAIL'} longest writer stall ${ms(f.targets.stallUnderLockTimeout.actualMs)} < lock_timeout ${f.ddlLockTimeoutMs} ms${w.duringMigrations.errors ? ` (and ${w.duringMigrations.errors} failed inserts)` : ''}`,
  ];
}
