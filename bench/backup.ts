/**
 * Backups on ~1 GiB (REQ-007, REL-003): base backup throughput while a writer keeps inserting
 * (and the writer's p99 with and without the backup running: the impact ratio), verification
 * time (files + scratch restore with amcheck), and the restore time (RTO) to the latest point and
 * to a point in time.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '../src/db/connect.ts';
import { takeBaseBackup } from '../src/ops/backup/base-backup.ts';
import { defaultRepo } from '../src/ops/backup/repo.ts';
import { restoreBackup } from '../src/ops/backup/restore.ts';
import { verifyBackup } from '../src/ops/backup/verify.ts';
import { waitForArchiver } from '../src/ops/backup/wal.ts';
import { localLayout } from '../src/local/layout.ts';
import { localUrl, readLocalState } from '../src/local/state.ts';
import { serverOsUser } from '../src/platform/os-user.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up } from '../src/stack/up.ts';
import { reachableDir } from './dirs.ts';
import { startWriter, type LatencyFigures } from './concurrent-writer.ts';
import { benchCipher, insertSealedUsers } from './sealed-users.ts';
import { CONTENT_BYTES, seed } from './migrations-1gb.ts';

export interface BackupBenchOptions {
  scaleGb: number;
  /** Cap the backup's read rate (MiB/s); default: none. */
  maxRateMb?: number;
}

export interface BackupFigures {
  dataBytes: number;
  backup: { ms: number; dataBytes: number; storedBytes: number; mbPerSecond: number; files: number };
  writer: { without: LatencyFigures; during: LatencyFigures; p99ImpactRatio: number };
  verify: { ms: number; ok: boolean };
  restore: { latestMs: number; pointInTimeMs: number; pointInTimeRowsOk: boolean };
  targets: Record<string, { target: string; value: number; pass: boolean }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchBackup(options: BackupBenchOptions, log: (line: string) => void): Promise<BackupFigures> {
  const root = await reachableDir('jeex-bench-backup-');
  const dataDir = join(root, 'db');
  try {
    await up({ dataDir, port: await freePort(), memoryBytes: 2 * 2 ** 30, pooler: false });
    const layout = localLayout(dataDir);
    const repo = defaultRepo(layout);
    const database = readLocalState(layout)?.database ?? 'jeex';
    const url = localUrl(layout, 'superuser', { database }) ?? '';
    const sql = connect(url, { max: 3, onnotice: () => {} });
    const as = await serverOsUser();
    try {
      const rows = Math.ceil((options.scaleGb * 2 ** 30) / CONTENT_BYTES);
      log(`seeding ${rows} document versions (~${options.scaleGb} GiB)`);
      const writerTarget = await seed(sql, rows, log);
      const [size] = await sql<{ bytes: string }[]>`SELECT sum(pg_database_size(datname))::text AS bytes FROM pg_database`;
      const dataBytes = Number(size?.bytes ?? 0);

      // The archiver is still copying the seed's ~1 GiB of WAL: let it finish, or the baseline
      // measures the archiver rather than the backup.
      await waitForArchiver(sql, 120_000);
      log('writer alone for 10 s (baseline)');
      const writer = startWriter(url, writerTarget);
      await sleep(10_000);
      writer.setPhase('backup');
      // An immediate checkpoint: the default spread one waits checkpoint_completion_target x
      // checkpoint_timeout (13.5 min with the tuned settings) before the copy even starts.
      log(`base backup while the writer inserts (immediate checkpoint, then the copy${options.maxRateMb ? ` at most ${options.maxRateMb} MiB/s` : ''})`);
      const started = performance.now();
      const { record } = await takeBaseBackup(sql, { repo, fast: true, ...(options.maxRateMb ? { maxRate: options.maxRateMb * 2 ** 20 } : {}) });
      const backupMs = performance.now() - started;
      const figures = await writer.stop();
      const [mark] = await sql<{ t: Date }[]>`SELECT clock_timestamp() AS t`;
      await sleep(200);
      const cipher = benchCipher(dataDir);
      await insertSealedUsers(sql, cipher, [{ email: 'bench-after-target@example.com', name: 'After' }]);
      await waitForArchiver(sql);

      log('verifying it (files, then a scratch restore with amcheck)');
      const verifyStarted = performance.now();
      const verified = await verifyBackup(repo, record.id, { sourceDataDir: dataDir, ...(as ? { as } : {}) });
      const verifyMs = performance.now() - verifyStarted;

      log('restoring to the latest point');
      const latest = await restoreBackup({ repo, to: join(root, 'latest'), target: { latest: true }, sourceDataDir: dataDir, ...(as ? { as } : {}) });
      log('restoring to a point in time');
      const pitr = await restoreBackup({ repo, to: join(root, 'pitr'), target: { time: mark?.t ?? new Date() }, start: { port: 0 }, sourceDataDir: dataDir, ...(as ? { as } : {}) });
      let pointInTimeRowsOk = false;
      if (pitr.url) {
        const restored = connect(pitr.url.replace(/\/postgres(\?|$)/, `/${database}$1`), { max: 1, onnotice: () => {} });
        try {
          const [row] = await restored<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE email_hash = ${cipher.blindIndex('bench-after-target@example.com')}`;
          pointInTimeRowsOk = row?.n === 0;
        } finally {
          await restored.end({ timeout: 1 });
        }
      }
      await down({ dataDir: join(root, 'pitr') }).catch(() => undefined);

      const ratio = figures.duringMigrations.p99Ms / figures.baseline.p99Ms;
      const mbPerSecond = record.sizeBytes / 2 ** 20 / (backupMs / 1000);
      return {
        dataBytes,
        backup: { ms: backupMs, dataBytes: record.sizeBytes, storedBytes: record.storedBytes, mbPerSecond, files: record.files },
        writer: { without: figures.baseline, during: figures.duringMigrations, p99ImpactRatio: ratio },
        verify: { ms: verifyMs, ok: verified.ok },
        restore: { latestMs: latest.durationMs, pointInTimeMs: pitr.durationMs, pointInTimeRowsOk },
        targets: {
          verified: { target: 'the backup verifies (files, WAL, amcheck, row counts)', value: verified.ok ? 1 : 0, pass: verified.ok },
          pitr: { target: 'the point-in-time restore leaves out the row committed after the target', value: pointInTimeRowsOk ? 1 : 0, pass: pointInTimeRowsOk },
          writerErrors: { target: 'no insert fails during the backup', value: figures.duringMigrations.errors, pass: figures.duringMigrations.errors === 0 },
        },
      };
    } finally {
      await sql.end({ timeout: 5 });
    }
  } finally {
    for (const dir of ['latest', 'pitr', 'db']) await down({ dataDir: join(root, dir) }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

export const backupPassed = (f: BackupFigures) => Object.values(f.targets).every((t) => t.pass);

export function describeBackup(f: BackupFigures): string[] {
  const w = f.writer;
  return [
    `data: ${(f.dataBytes / 2 ** 30).toFixed(2)} GiB in the cluster`,
    `backup: ${(f.backup.dataBytes / 2 ** 20).toFixed(0)} MiB of files (${f.backup.files}) in ${(f.backup.ms / 1000).toFixed(1)} s = ${f.backup.mbPerSecond.toFixed(0)} MiB/s, stored ${(f.backup.storedBytes / 2 ** 20).toFixed(0)} MiB`,
    `writer p99 without a backup ${w.without.p99Ms.toFixed(2)} ms (${w.without.inserts} inserts), during it ${w.during.p99Ms.toFixed(2)} ms (${w.during.inserts} inserts, max ${w.during.maxMs.toFixed(1)} ms): impact x${w.p99ImpactRatio.toFixed(2)}`,
    `verify (files + scratch restore + amcheck): ${(f.verify.ms / 1000).toFixed(1)} s, ${f.verify.ok ? 'ok' : 'FAILED'}`,
    `restore (RTO): latest ${(f.restore.latestMs / 1000).toFixed(1)} s, point in time ${(f.restore.pointInTimeMs / 1000).toFixed(1)} s (${f.restore.pointInTimeRowsOk ? 'stopped before the later row' : 'WRONG rows'})`,
    ...Object.values(f.targets).map((t) => `${t.pass ? 'PASS' : 'FAIL'} ${t.target}: ${t.value}`),
  ];
}
