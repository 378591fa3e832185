import { spawn } from 'node:child_process';
import { access, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import type { BackupList } from '../../src/ops/backup/list.ts';
import type { RepairResult } from '../../src/ops/backup/repair.ts';
import type { BackupRecord, BackupRepo } from '../../src/ops/backup/repo.ts';
import { verifyBackup } from '../../src/ops/backup/verify.ts';
import { waitForArchiver } from '../../src/ops/backup/wal.ts';
import { connect } from '../../src/db/connect.ts';
import { localLayout } from '../../src/local/layout.ts';
import { readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';
import { CLI, expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { skipOrFail } from '../helpers/skip.ts';
import { withDatabase } from '../helpers/urls.ts';
import { insertUser } from '../helpers/users.ts';

// The backup record (backup.json) against damage and edits, and the durability of what the
// backup code writes, on a dedicated PostgreSQL 18 started by the project's own `up`.

const CLUSTER_TIMEOUT = 180_000;

describe('backup records: damaged, edited, durable', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let backup: BackupRecord;
  const recordFile = () => join(repo.base, backup.id, 'backup.json');
  const rowsAtBackup = { users: 0 };
  /** backup.json as takeBaseBackup wrote it (each test damages its own copy of it). */
  let original = '';

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-records-'));
    for (let i = 0; i < 5; i++) await insertUser(sql, { email: `rec-${i}@example.com`, name: 'Record' });
    ({ record: backup } = await takeBaseBackup(sql, { repo, fast: true }));
    rowsAtBackup.users = backup.rowCounts.users ?? -1;
    original = await readFile(join(repo.base, backup.id, 'backup.json'), 'utf8');
    // Committed after the backup: a --latest restore must bring these back too.
    for (let i = 0; i < 3; i++) await insertUser(sql, { email: `rec-after-${i}@example.com`, name: 'After' });
    await waitForArchiver(sql);
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    for (const dir of ['db', 'restored']) if (root) await down({ dataDir: join(root, dir) }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('a backup.json with one flipped byte is reported as damaged (list exits 48 naming the file, human and --json); verify and restore say BACKUP_RECORD_DAMAGED naming it', { timeout: CLUSTER_TIMEOUT }, async () => {
    const flipped = Buffer.from(original);
    flipped[0] = 0x5b; // '{' -> '[': the whole record no longer parses
    await writeFile(recordFile(), flipped);

    const human = await runCli(['backups', 'list', '--data-dir', dataDir]);
    expectExit(human, 48);
    expect(human.stdout).not.toContain('no backups');
    expect(human.stdout).toContain('DAMAGED');
    expect(human.stdout).toContain(recordFile());
    expect(human.stdout).toContain(`jeex-db backups repair ${backup.id}`);
    expect(human.stderr).toContain('BACKUP_RECORD_DAMAGED');

    const json = await runCli(['backups', 'list', '--data-dir', dataDir, '--json']);
    expectExit(json, 48);
    const listed = parseJson<BackupList & { ok: boolean; exitCode: number }>(json);
    expect(listed).toMatchObject({ ok: false, backups: [], exitCode: 48 });
    expect(listed.damaged).toEqual([expect.objectContaining({ id: backup.id, recordFile: recordFile(), tarball: 'base.tar.gz', manifest: true })]);
    expect(listed.damaged[0]?.problem).toMatch(/backup\.json is damaged: not valid JSON/);

    for (const args of [['verify', backup.id, '--no-restore'], ['verify', '--no-restore'], ['restore', '--to', join(root, 'restored'), '--latest'], ['restore', '--to', join(root, 'restored'), '--backup', backup.id]]) {
      const result = await runCli([...args, '--data-dir', dataDir, '--json']);
      expectExit(result, 48);
      const { error } = parseJson<{ error: { code: string; message: string; hint: string } }>(result);
      expect(error.code, args.join(' ')).toBe('BACKUP_RECORD_DAMAGED');
      expect(error.message).toContain(recordFile());
      expect(error.hint).toContain(`jeex-db backups repair ${backup.id}`);
    }
  });

  it('backups repair rebuilds the record from the tarball, backup_manifest and the archive; the backup then verifies by restore and a --latest restore has every row', { timeout: CLUSTER_TIMEOUT }, async () => {
    const flipped = Buffer.from(original);
    flipped[0] = 0x5b;
    await writeFile(recordFile(), flipped);
    const result = await runCli(['backups', 'repair', backup.id, '--data-dir', dataDir, '--json']);
    expectExit(result, 0);
    const repaired = parseJson<RepairResult & { ok: boolean }>(result);
    expect(repaired).toMatchObject({ ok: true, repaired: true, id: backup.id });
    expect(repaired.previous).toMatch(/not valid JSON/);
    // Every field restore and verify rely on comes back as the backup wrote it.
    const fields = ['id', 'format', 'startLsn', 'stopLsn', 'timeline', 'startWalFile', 'stopWalFile', 'systemIdentifier', 'sizeBytes', 'storedBytes', 'files', 'label', 'walSegmentBytes', 'manifestChecksum'] as const;
    for (const field of fields) expect(repaired.record[field], field).toEqual(backup[field]);
    expect(repaired.record.serverVersion).toBe(backup.serverVersion.split('.')[0]);
    // The stop time from the archived backup history file (to the second), never before the real stop.
    expect(Math.abs(Date.parse(repaired.record.stoppedAt) - Date.parse(backup.stoppedAt))).toBeLessThan(2000);
    expect(repaired.record.repaired?.sources).toEqual(expect.arrayContaining(['backup_label (in the tarball)', 'backup_manifest']));
    expect(repaired.keptAs && (await readFile(repaired.keptAs, 'utf8')).startsWith('[')).toBe(true);

    const listed = await runCli(['backups', 'list', '--data-dir', dataDir, '--json']);
    expectExit(listed, 0);
    expect(parseJson<BackupList>(listed).backups.map((b) => b.id)).toEqual([backup.id]);

    const as = await serverOsUser();
    const verified = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, ...(as ? { as } : {}) });
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.steps.join('\n')).toMatch(/no corruption/);

    const to = join(root, 'restored');
    const restored = await runCli(['restore', '--data-dir', dataDir, '--to', to, '--latest', '--start', '--json']);
    expectExit(restored, 0);
    const { url } = parseJson<{ url: string }>(restored);
    const copy = connect(withDatabase(url, readLocalState(localLayout(dataDir))?.database ?? 'jeex'), { max: 1, onnotice: () => {} });
    try {
      const [row] = await copy<{ n: number }[]>`SELECT count(*)::int AS n FROM users`;
      expect(row?.n).toBe(rowsAtBackup.users + 3);
    } finally {
      await copy.end({ timeout: 1 });
      await down({ dataDir: to }).catch(() => undefined);
    }
  });

  it('verify fails naming the field when backup.json was edited: stopLsn, startLsn, stoppedAt', { timeout: CLUSTER_TIMEOUT }, async () => {
    const sound = await readFile(recordFile(), 'utf8');
    const record = JSON.parse(original) as BackupRecord;
    await writeFile(recordFile(), original);
    const clean = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, restore: false });
    expect(clean.problems).toEqual([]);

    const later = (lsn: string) => {
      const [high = '0', low = '0'] = lsn.split('/');
      return `${high}/${(Number.parseInt(low, 16) + 0x200).toString(16).toUpperCase()}`;
    };
    const edits: [Partial<BackupRecord>, RegExp][] = [
      [{ stopLsn: later(record.stopLsn) }, new RegExp(`backup\\.json says stopLsn ${later(record.stopLsn)}, but backup_manifest's WAL-Ranges says End-LSN ${record.stopLsn}`)],
      [{ startLsn: later(record.startLsn) }, new RegExp(`backup\\.json says startLsn ${later(record.startLsn)}, but backup_label's START WAL LOCATION says ${record.startLsn}`)],
      [{ stoppedAt: new Date(Date.parse(record.stoppedAt) - 3_600_000).toISOString() }, /backup\.json says stoppedAt .*, but the archive's backup history file .* says STOP TIME/],
    ];
    try {
      for (const [edit, expected] of edits) {
        await writeFile(recordFile(), JSON.stringify({ ...record, ...edit }, null, 2));
        const result = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, restore: false });
        expect(result.ok, JSON.stringify(edit)).toBe(false);
        expect(result.problems.join('\n')).toMatch(expected);
      }
      // Through the CLI: exit 46 with the problem named.
      await writeFile(recordFile(), JSON.stringify({ ...record, stopLsn: later(record.stopLsn) }, null, 2));
      const cli = await runCli(['verify', backup.id, '--no-restore', '--data-dir', dataDir, '--json']);
      expectExit(cli, 46);
      expect(parseJson<{ problems: string[] }>(cli).problems.join('\n')).toContain(`stopLsn ${later(record.stopLsn)}`);
      // The sound record is said to agree, and with what.
      expect(clean.steps.join('\n')).toMatch(/backup\.json agrees with backup_label, backup_manifest's WAL-Ranges and [0-9A-F]{24}\.[0-9A-F]{8}\.backup/);
    } finally {
      await writeFile(recordFile(), sound);
    }
  });

  it('every write-then-rename of backup, verify and repair fsyncs the file before the rename and the directory after (strace)', { timeout: CLUSTER_TIMEOUT }, async (ctx) => {
    const strace = '/usr/bin/strace';
    if (!(await access(strace).then(() => true, () => false))) skipOrFail(ctx, 'strace is not installed (apt-get install strace)');
    const trace = join(root, 'strace.txt');
    const traced = async (args: string[]) => {
      await rm(trace, { force: true });
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(strace, ['-f', '-qq', '-y', '-o', trace, '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', process.execPath, CLI, ...args], { env: localEnv(), stdio: 'ignore' });
        child.on('error', reject);
        child.on('close', resolve);
      });
      expect(code, args.join(' ')).toBe(0);
      return parseTrace(await readFile(trace, 'utf8'));
    };
    /** Each rename in the repository: `from` fsynced before it, the directory of `to` after it. */
    const expectDurable = (events: TraceEvent[]) => {
      events.forEach((event, index) => {
        if (event.kind !== 'rename' || !event.from.startsWith(repo.root)) return;
        const before = events.slice(0, index).flatMap((e) => (e.kind === 'fsync' ? [e.path] : []));
        const after = events.slice(index + 1).flatMap((e) => (e.kind === 'fsync' ? [e.path] : []));
        expect(before, `fsync(${event.from}) before rename to ${event.to}`).toContain(event.from);
        expect(after, `fsync(${dirname(event.to)}) after rename to ${event.to}`).toContain(dirname(event.to));
        if (!event.to.endsWith('.json') && !event.to.includes('.damaged-')) {
          // The backup's directory renamed into place: each of its files was fsynced before.
          for (const file of ['base.tar.gz', 'backup_manifest', 'backup.json']) expect(before, file).toContain(join(event.from, file));
        }
      });
    };
    const renamesIn = (events: TraceEvent[]) => events.flatMap((e) => (e.kind === 'rename' && e.from.startsWith(repo.root) ? [e.to.slice(repo.root.length)] : []));

    const backupTrace = await traced(['backup', '--data-dir', dataDir, '--fast', '--json']);
    const id = (await readdir(repo.base)).filter((n) => /^\d{8}T\d{6}Z$/.test(n)).sort().at(-1) ?? '';
    // The record into the partial directory, then that directory into place.
    expect(renamesIn(backupTrace)).toEqual([`/base/${id}.partial/backup.json`, `/base/${id}`]);
    expectDurable(backupTrace);

    const verifyTrace = await traced(['verify', '--no-restore', '--data-dir', dataDir, '--json']);
    expect(renamesIn(verifyTrace)).toEqual([`/base/${id}/backup.json`]);
    expectDurable(verifyTrace);

    // A damaged record again, repaired under strace: the damaged one kept aside, the rebuilt one.
    await writeFile(join(repo.base, id, 'backup.json'), '{"id": "trunc');
    const repairTrace = await traced(['backups', 'repair', id, '--data-dir', dataDir, '--json']);
    expect(renamesIn(repairTrace)).toEqual([expect.stringMatching(new RegExp(`^/base/${id}/backup\\.json\\.damaged-`)), `/base/${id}/backup.json`]);
    expectDurable(repairTrace);
  });
});

type TraceEvent = { kind: 'fsync'; path: string } | { kind: 'rename'; from: string; to: string };

/** strace -f -y lines: `123 fsync(21</path>) = 0`, `123 rename("/a", "/b") = 0`, `123 renameat2(AT_FDCWD, "/a", AT_FDCWD, "/b", 0) = 0`. */
function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of text.split('\n')) {
    if (!/= 0$/.test(line)) continue;
    const sync = /(?:fsync|fdatasync)\(\d+<([^>]+)>\)/.exec(line);
    if (sync?.[1]) events.push({ kind: 'fsync', path: sync[1] });
    const moved = /rename(?:at2?)?\((?:[^,]+, )?"([^"]+)", (?:[^,]+, )?"([^"]+)"/.exec(line);
    if (moved?.[1] && moved[2]) events.push({ kind: 'rename', from: moved[1], to: moved[2] });
  }
  return events;
}
