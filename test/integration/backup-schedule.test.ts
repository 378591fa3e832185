import { rm } from 'node:fs/promises';
import pino from 'pino';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertEngine } from '../../src/ops/alerts/engine.ts';
import { defaultAlertRules } from '../../src/ops/alerts/rules.ts';
import { listBackups } from '../../src/ops/backup/list.ts';
import { type BackupRepo } from '../../src/ops/backup/repo.ts';
import { backupRunner, startBackupSchedule, type BackupSchedule } from '../../src/ops/backup/scheduler.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import type { RunAs } from '../../src/platform/exec.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';

// Scheduled backups on a dedicated PostgreSQL 18 (started by the project's own `up`, WAL archived
// into its repository): a run takes a real backup, proves it by a scratch restore and prunes; a
// run whose verification fails is retried, then `backup-failing` fires.

const CLUSTER_TIMEOUT = 180_000;

describe('scheduled backups', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let as: RunAs | undefined;
  const schedules: BackupSchedule[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-schedule-'));
    as = await serverOsUser();
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await Promise.all(schedules.map((s) => s.stop()));
    await sql?.end({ timeout: 1 });
    await down({ dataDir }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('runNow takes a backup, proves it by a restore, prunes, and health shows it', async () => {
    const schedule = startBackupSchedule({ schedule: '0 3 * * *', logger, run: backupRunner({ sql, repo, dataDir, fast: true, keepCount: 5, ...(as ? { as } : {}) }) });
    schedules.push(schedule);
    const run = await schedule.runNow();
    expect(run).toMatchObject({ verified: true, problems: [] });
    expect(run.pruned).toMatchObject({ deleted: [], kept: [run.id] });

    const { backups } = await listBackups(repo);
    expect(backups).toEqual([expect.objectContaining({ id: run.id, verified: 'ok', storedBytes: run.sizeBytes })]);
    const state = schedule.state();
    expect(state.lastSuccessAt).toBeInstanceOf(Date);
    expect(state).toMatchObject({ lastSuccessId: run.id, lastSuccessSizeBytes: run.sizeBytes, consecutiveFailures: 0 });
    expect(lines.filter((l) => l.event === 'backup.success')).toEqual([expect.objectContaining({ id: run.id, attempt: 1 })]);

    const doc = await checkHealth(sql, { lastBackup: () => Promise.resolve(schedule.state().lastSuccessAt), backupSchedule: () => schedule.state() });
    expect(doc.checks['backup:age']?.[0]).toMatchObject({ status: 'pass' });
    expect(doc.checks['backup:lastRun']?.[0]).toMatchObject({ status: 'pass', observedValue: 0 });
  }, CLUSTER_TIMEOUT);

  it('a run whose verification fails is retried with new backups, then backup-failing fires', async () => {
    const before = (await listBackups(repo)).backups.length;
    let verifications = 0;
    const schedule = startBackupSchedule({
      schedule: '0 3 * * *',
      logger,
      maxAttempts: 2,
      retryDelayMs: 10,
      run: backupRunner({
        sql,
        repo,
        dataDir,
        fast: true,
        verify: (_repo, id) => {
          verifications += 1;
          return Promise.resolve({ ok: false, problems: [`${id}: base/5/16384 checksum mismatch (injected)`] });
        },
      }),
    });
    schedules.push(schedule);
    const engine = new AlertEngine({ logger, webhook: null, rules: defaultAlertRules.filter((r) => r.name.startsWith('backup-')) });
    const health = () => checkHealth(sql, { backupSchedule: () => schedule.state() });
    expect(engine.evaluate(await health())).toEqual([]);

    await expect(schedule.runNow()).rejects.toMatchObject({ code: 'BACKUP_VERIFY_FAILED', message: expect.stringContaining('checksum mismatch (injected)') as unknown });
    expect(verifications).toBe(2);
    // Each attempt took a new backup (none was pruned: pruning follows a verified backup only).
    expect((await listBackups(repo)).backups.length).toBe(before + 2);
    expect(schedule.state()).toMatchObject({ consecutiveFailures: 2, maxAttempts: 2, lastError: expect.stringContaining('checksum mismatch') as unknown });
    expect(lines.filter((l) => l.event === 'backup.failed' && l.code === 'BACKUP_VERIFY_FAILED').map((l) => l.attempt)).toEqual([1, 2]);

    const doc = await health();
    expect(doc.checks['backup:lastRun']?.[0]).toMatchObject({ status: 'fail', observedValue: 2 });
    const transitions = engine.evaluate(doc);
    expect(transitions).toEqual([expect.objectContaining({ alert: 'backup-failing', state: 'firing', severity: 'critical' })]);
    expect(engine.active()).toEqual([expect.objectContaining({ alert: 'backup-failing', state: 'firing' })]);
    expect(lines.some((l) => l.alert === 'backup-failing' && l.state === 'firing')).toBe(true);
  }, CLUSTER_TIMEOUT);
});
