// The OpenTelemetry SDK is registered process-wide here; vitest runs each test file in its own
// process (pool: 'forks'), so no other file sees it.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackupSchedule, type BackupRun, type BackupSchedule, type BackupScheduleOptions } from '../../src/ops/backup/scheduler.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { backupScheduleCheck } from '../../src/ops/health/client-checks.ts';
import { resolveHealthThresholds } from '../../src/ops/health/thresholds.ts';
import { useGlobalTestMetrics } from '../helpers/metrics.ts';

const reader = useGlobalTestMetrics();

const started: BackupSchedule[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

/** A schedule whose pino output is kept as parsed JSON lines. */
function scheduleWith(options: Partial<BackupScheduleOptions> & Pick<BackupScheduleOptions, 'run'>) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const schedule = startBackupSchedule({ schedule: '0 3 * * *', logger, retryDelayMs: 5, ...options });
  started.push(schedule);
  return { schedule, lines, events: (event: string) => lines.filter((l) => l.event === event) };
}

const good = (id: string, sizeBytes = 4096): BackupRun => ({ id, sizeBytes, verified: true, problems: [] });
const count = async (outcome: string) => (await reader.snapshot()).points('jeex.backup.runs', { outcome }).reduce((sum, p) => sum + (p.value as number), 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `backup:lastRun` as checkHealth reports it for this state. */
async function lastRun(schedule: BackupSchedule) {
  const { thresholds } = resolveHealthThresholds(undefined, {});
  const [entry] = await backupScheduleCheck(() => schedule.state()).run({ thresholds, timeoutMs: 1000, now: () => new Date(), note: () => {} });
  return entry?.check;
}

describe('startBackupSchedule', () => {
  it('a successful run updates the state, the metrics and logs one line', async () => {
    const before = await count('success');
    const { schedule, events } = scheduleWith({ run: () => Promise.resolve(good('20260101T030000Z', 123_456)) });
    expect(schedule.state()).toMatchObject({ running: false, consecutiveFailures: 0, missedRuns: 0, maxAttempts: 3 });
    expect(schedule.state().nextRunAt?.getHours()).toBe(3);

    const t0 = Date.now();
    await expect(schedule.runNow()).resolves.toMatchObject({ id: '20260101T030000Z' });
    const state = schedule.state();
    expect(state.lastSuccessAt?.getTime()).toBeGreaterThanOrEqual(t0);
    expect(state).toMatchObject({ lastSuccessId: '20260101T030000Z', lastSuccessSizeBytes: 123_456, consecutiveFailures: 0, running: false });
    expect(events('backup.success')).toEqual([expect.objectContaining({ id: '20260101T030000Z', sizeBytes: 123_456, attempt: 1 })]);

    const snapshot = await reader.snapshot();
    expect(snapshot.value('jeex.backup.last_size')).toBe(123_456);
    expect(snapshot.value('jeex.backup.last_success')).toBeCloseTo((state.lastSuccessAt?.getTime() ?? 0) / 1000, 3);
    expect(snapshot.histogram('jeex.backup.duration', { outcome: 'success' }).count).toBeGreaterThanOrEqual(1);
    expect((await count('success')) - before).toBe(1);
    expect(await lastRun(schedule)).toMatchObject({ status: 'pass', observedValue: 0 });
  });

  it('a failing backup is retried up to maxAttempts, then recorded as failed (backup:lastRun fails)', async () => {
    const before = await count('failed');
    let calls = 0;
    const { schedule, events } = scheduleWith({
      maxAttempts: 3,
      run: () => {
        calls += 1;
        return Promise.reject(new JeexDbError('BACKUP_FAILED', `disk full (attempt ${calls})`));
      },
    });
    await expect(schedule.runNow()).rejects.toMatchObject({ code: 'BACKUP_FAILED', message: 'disk full (attempt 3)' });
    expect(calls).toBe(3);
    expect(schedule.state()).toMatchObject({ consecutiveFailures: 3, lastError: 'disk full (attempt 3)', running: false });
    expect(schedule.state().lastSuccessAt).toBeUndefined();
    expect(events('backup.failed').map((l) => [l.attempt, l.code, l.retryInMs])).toEqual([
      [1, 'BACKUP_FAILED', 5],
      [2, 'BACKUP_FAILED', 10],
      [3, 'BACKUP_FAILED', undefined],
    ]);
    expect((await count('failed')) - before).toBe(3);
    expect(await lastRun(schedule)).toMatchObject({ status: 'fail', observedValue: 3, output: expect.stringMatching(/failed 3 time\(s\) in a row.*disk full/) as unknown });
  });

  it('a failed verification is retried with a new backup; success resets the failures', async () => {
    const before = await count('verify_failed');
    const runs = [{ id: 'a', sizeBytes: 1, verified: false, problems: ['base/1/1234: checksum mismatch'] }, good('b')];
    const { schedule, events } = scheduleWith({ run: () => Promise.resolve(runs.shift() ?? good('c')) });
    await expect(schedule.runNow()).resolves.toMatchObject({ id: 'b' });
    expect(events('backup.failed')).toEqual([expect.objectContaining({ code: 'BACKUP_VERIFY_FAILED', error: expect.stringContaining('checksum mismatch') as unknown })]);
    expect(schedule.state()).toMatchObject({ consecutiveFailures: 0, lastSuccessId: 'b' });
    expect((await count('verify_failed')) - before).toBe(1);
  });

  it('runs never overlap: ticks during a slow run are skipped and counted as missed', async () => {
    const beforeMissed = await count('missed');
    let active = 0;
    let most = 0;
    let calls = 0;
    const { schedule, events } = scheduleWith({
      schedule: '*/1 * * * * *',
      run: async () => {
        calls += 1;
        active += 1;
        most = Math.max(most, active);
        // Long enough to be still running at the checks below (2.9 s in) whenever the first tick came.
        await sleep(4500);
        active -= 1;
        return good(`run-${calls}`);
      },
    });
    await sleep(1100);
    expect(schedule.state().running).toBe(true);
    await sleep(1800);
    // The first run is still going: at least one tick was skipped, and the health check warns.
    expect(calls).toBe(1);
    const skipped = events('backup.missed');
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    expect(skipped[0]?.reason).toMatch(/still going/);
    expect(schedule.state().missedRuns).toBe(skipped.length);
    expect(await lastRun(schedule)).toMatchObject({ status: 'warn', output: expect.stringMatching(/missed/) as unknown });
    expect(await schedule.runNow()).toMatchObject({ id: 'run-1' }); // joins the run in progress
    expect(most).toBe(1);
    expect((await count('missed')) - beforeMissed).toBe(schedule.state().missedRuns);
  });

  it('a scheduled time that passes without a run (the process blocked) counts as missed', async () => {
    const { schedule, events } = scheduleWith({ schedule: '*/1 * * * * *', graceMs: 200, run: () => Promise.resolve(good('x')) });
    await sleep(50);
    const until = Date.now() + 2600;
    while (Date.now() < until) {
      // Block the event loop as a suspended process would be: no timer fires.
    }
    await sleep(400);
    const missed = events('backup.missed');
    expect(missed.length).toBeGreaterThanOrEqual(1);
    expect(missed.map((l) => l.reason).join('\n')).toMatch(/no run started within|late/);
    expect(schedule.state().missedRuns).toBe(missed.length);
  });

  it('refuses a bad cron pattern with INVALID_CONFIG naming it', () => {
    const logger = pino({ level: 'silent' });
    const attempt = () => startBackupSchedule({ schedule: 'every night', logger, run: () => Promise.resolve(good('x')) });
    expect(attempt).toThrow(JeexDbError);
    expect(attempt).toThrow(/the backup schedule "every night" is not a valid cron pattern/);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_CONFIG', hint: expect.stringContaining('0 3 * * *') as unknown });
    }
  });
});
