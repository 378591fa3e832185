import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBaseBackup } from '../../src/ops/backup/base-backup.ts';
import type { BackupRecord, BackupRepo } from '../../src/ops/backup/repo.ts';
import { restoreBackup, type RestoreTarget } from '../../src/ops/backup/restore.ts';
import { verifyBackup } from '../../src/ops/backup/verify.ts';
import { formatLsn, listWalArchive, waitForArchiver } from '../../src/ops/backup/wal.ts';
import { connect } from '../../src/db/connect.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { localLayout } from '../../src/local/layout.ts';
import { readLocalState } from '../../src/local/state.ts';
import { serverOsUser } from '../../src/platform/os-user.ts';
import { down } from '../../src/stack/up.ts';
import { startBackupCluster } from '../helpers/backup-cluster.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { withDatabase } from '../helpers/urls.ts';
import { insertUser, readUsers } from '../helpers/users.ts';

// Issue 18, finding 1: one flipped byte in an archived WAL segment that is not the newest. Before
// the fix `verify` passed (it only checked that segments exist at full size) and `restore
// --latest` said ok, exit 0, having stopped at the damage: the rows committed after it were
// missing without a word. Now verify reads every record and names the damage; restore --latest
// compares where recovery stopped with the archive's end and fails as RESTORE_INCOMPLETE.
// Targets before the damage still restore; targets after it fail.

const CLUSTER_TIMEOUT = 240_000;
const segmentBytes = 16 * 2 ** 20;

describe('a flipped byte in an archived WAL segment', () => {
  let root: string;
  let dataDir: string;
  let repo: BackupRepo;
  let sql: postgres.Sql;
  let backup: BackupRecord;
  const rows = { kept: '', fence: '', lost: [] as string[], next: '' };
  /** Between `kept` and `fence`: a time and an LSN before the damage. */
  const before = { time: new Date(0), lsn: '' };
  /** The record start the byte is flipped in, its segment and the byte's offset there. */
  const damage = { lsn: '', segment: '', offset: 0, validTo: '' };
  let after = new Date(0);
  let newest = '';
  let original: Buffer;

  const emails = async (url: string) => {
    const restored = connect(withDatabase(url, readLocalState(localLayout(dataDir))?.database ?? 'jeex'), { max: 1, onnotice: () => {} });
    try {
      return (await readUsers(restored)).map((r) => r.email).filter((email) => email.startsWith('wal-')).sort();
    } finally {
      await restored.end({ timeout: 1 });
    }
  };
  const restoreTo = async (name: string, target: RestoreTarget) => {
    const as = await serverOsUser();
    return restoreBackup({ repo, to: join(root, name), target, start: { port: 0 }, sourceDataDir: dataDir, timeoutSeconds: 120, ...(as ? { as } : {}) });
  };
  const stop = (name: string) => down({ dataDir: join(root, name) }).catch(() => undefined);
  const lsnOf = async () => (await sql<{ lsn: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS lsn`)[0]?.lsn ?? '';
  const lsnValue = (lsn: string) => {
    const [high, low] = lsn.split('/');
    return Number.parseInt(high ?? '0', 16) * 2 ** 32 + Number.parseInt(low ?? '0', 16);
  };

  beforeAll(async () => {
    ({ root, dataDir, repo, sql } = await startBackupCluster('jeex-wal-damage-'));
    ({ record: backup } = await takeBaseBackup(sql, { repo, fast: true }));
    const stamp = Date.now();
    rows.kept = `wal-a-kept-${stamp}@example.com`;
    rows.fence = `wal-b-fence-${stamp}@example.com`;
    rows.lost = [`wal-c-lost-${stamp}@example.com`, `wal-d-lost-${stamp}@example.com`];
    rows.next = `wal-e-next-${stamp}@example.com`;
    await insertUser(sql, { email: rows.kept, name: 'Kept' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [now] = await sql<{ t: Date }[]>`SELECT clock_timestamp() AS t`;
    before.time = now?.t ?? new Date();
    before.lsn = await lsnOf();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A commit after the time target and before the damage: recovery to a time stops at the
    // first commit after it, so it needs one it can read.
    await insertUser(sql, { email: rows.fence, name: 'Fence' });
    damage.lsn = await lsnOf();
    for (const email of rows.lost) await insertUser(sql, { email, name: 'Lost' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    after = new Date();
    // The damaged segment is finished and archived; the archive then holds WAL to the next one.
    const [segment] = await sql<{ file: string }[]>`SELECT pg_walfile_name(${damage.lsn}::pg_lsn) AS file`;
    damage.segment = segment?.file ?? '';
    await waitForArchiver(sql);
    await insertUser(sql, { email: rows.next, name: 'Next' });
    await waitForArchiver(sql);
    newest = (await listWalArchive(repo)).segments.at(-1) ?? '';
    const inPage = lsnValue(damage.lsn) % 8192;
    // A byte of the record's data (after its 24-byte header), on the same page.
    damage.offset = (lsnValue(damage.lsn) % segmentBytes) + (inPage + 28 < 8192 ? 28 : 4);
    // Where the valid WAL ends: the previous record's aligned end, which is the damaged record's
    // start unless that one is the first on its page (then the page boundary before the header).
    const headerBytes = lsnValue(damage.lsn) % segmentBytes === 40 ? 40 : 24;
    damage.validTo = inPage === headerBytes ? formatLsn(BigInt(lsnValue(damage.lsn) - headerBytes)) : damage.lsn;
    original = await readFile(join(repo.wal, damage.segment));
  }, CLUSTER_TIMEOUT);

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    if (dataDir) await down({ dataDir }).catch(() => undefined);
    if (root) await rm(root, { recursive: true, force: true });
  }, CLUSTER_TIMEOUT);

  it('the damaged segment is archived and is not the newest one', () => {
    expect(damage.segment).toMatch(/^00000001[0-9A-F]{16}$/);
    expect(newest > damage.segment).toBe(true);
    expect(original.length).toBe(segmentBytes);
  });

  it('undamaged: verify reads the WAL to the newest segment and passes; restore --latest (CLI) has every row and exits 0', { timeout: CLUSTER_TIMEOUT }, async () => {
    const verified = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, restore: false });
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.steps.join('\n')).toMatch(new RegExp(`WAL records in \\d+ segment\\(s\\) read from ${backup.startLsn} .* valid to the end of ${newest}`));
    const cli = await runCli(['verify', backup.id, '--data-dir', dataDir, '--no-restore', '--json']);
    expectExit(cli, 0);

    const to = join(root, 'latest-cli');
    const restored = await runCli(['restore', '--to', to, '--data-dir', dataDir, '--latest', '--start', '--json'], localEnv());
    try {
      expectExit(restored, 0);
      const result = parseJson<{ ok: boolean; url: string; reached: { replayedTo: string } }>(restored);
      expect(result.ok).toBe(true);
      expect(await emails(result.url)).toEqual([rows.kept, rows.fence, ...rows.lost, rows.next].sort());
      // The newest segment ended with pg_switch_wal: recovery replayed to its end.
      const newestSegno = Number.parseInt(newest.slice(8, 16), 16) * 256 + Number.parseInt(newest.slice(16), 16);
      expect(lsnValue(result.reached.replayedTo)).toBe((newestSegno + 1) * segmentBytes);
    } finally {
      await down({ dataDir: to }).catch(() => undefined);
    }
  });

  describe('with one byte flipped inside a record', () => {
    beforeAll(async () => {
      const file = await open(join(repo.wal, damage.segment), 'r+');
      try {
        const byte = Buffer.alloc(1);
        await file.read(byte, 0, 1, damage.offset);
        byte[0] = (byte[0] ?? 0) ^ 0x01;
        await file.write(byte, 0, 1, damage.offset);
      } finally {
        await file.close();
      }
    });
    afterAll(async () => {
      await writeFile(join(repo.wal, damage.segment), original);
    });

    it('verify fails naming the segment, the offset and LSN and what to do (library, with the restore proof)', { timeout: CLUSTER_TIMEOUT }, async () => {
      const as = await serverOsUser();
      const result = await verifyBackup(repo, backup.id, { sourceDataDir: dataDir, ...(as ? { as } : {}) });
      expect(result.ok).toBe(false);
      const problems = result.problems.join('\n');
      // The record's start is named (a CRC covers the whole record: which byte changed is unknown).
      expect(problems).toContain(`WAL segment ${damage.segment} is damaged at offset ${lsnValue(damage.lsn) % segmentBytes} (LSN ${damage.lsn})`);
      expect(problems).toMatch(/CRC-32C/);
      expect(problems).toContain('cannot be recovered from this archive');
      expect(problems).toContain('Take a new base backup now');
      expect(problems).toContain(`keep ${damage.segment} for forensics`);
      expect(result.walDamage).toMatchObject({ segment: damage.segment, lsn: damage.lsn, kind: 'record-crc' });
    });

    it('verify (CLI) exits 49 BACKUP_WAL_DAMAGED', { timeout: CLUSTER_TIMEOUT }, async () => {
      const cli = await runCli(['verify', backup.id, '--data-dir', dataDir, '--no-restore', '--json']);
      expectExit(cli, 49);
      const out = parseJson<{ ok: boolean; code: string; walDamage: { segment: string; lsn: string } }>(cli);
      expect(out).toMatchObject({ ok: false, code: 'BACKUP_WAL_DAMAGED', walDamage: { segment: damage.segment, lsn: damage.lsn } });
      const human = await runCli(['verify', backup.id, '--data-dir', dataDir, '--no-restore']);
      expectExit(human, 49);
      expect(human.stderr).toContain('[BACKUP_WAL_DAMAGED]');
      expect(human.stderr).toContain(damage.segment);
    });

    it('restore --latest fails as RESTORE_INCOMPLETE naming reached vs expected and the segment (library)', { timeout: CLUSTER_TIMEOUT }, async () => {
      const error = await restoreTo('latest-damaged', { latest: true }).catch((e: unknown) => e);
      await stop('latest-damaged');
      expect(error).toBeInstanceOf(JeexDbError);
      const failure = error as JeexDbError;
      expect(failure.code).toBe('RESTORE_INCOMPLETE');
      expect(failure.message).toContain(`recovery stopped at ${damage.validTo}`);
      expect(failure.message).toContain(damage.segment);
      expect(failure.message).toContain(newest);
      expect(failure.context).toMatchObject({ replayedTo: damage.validTo, validTo: damage.validTo, damage: { segment: damage.segment, lsn: damage.lsn } });
      expect(failure.hint).toMatch(/--target-lsn [0-9A-F]+\/[0-9A-F]+/);
      // PostgreSQL saw the same damage.
      expect(failure.logExcerpt?.join('\n')).toMatch(new RegExp(`incorrect resource manager data checksum in record at ${damage.lsn}`));
    });

    it('restore --latest (CLI) exits 39 and prints no "restored"', { timeout: CLUSTER_TIMEOUT }, async () => {
      const to = join(root, 'latest-damaged-cli');
      const cli = await runCli(['restore', '--to', to, '--data-dir', dataDir, '--latest']);
      await down({ dataDir: to }).catch(() => undefined);
      expectExit(cli, 39);
      expect(cli.stdout).not.toContain('restored backup');
      expect(cli.stderr).toContain('[RESTORE_INCOMPLETE]');
      expect(cli.stderr).toContain(`WAL segment ${damage.segment} is damaged`);
    });

    it('a target before the damage still restores: a time, and the LSN the hint names', { timeout: CLUSTER_TIMEOUT }, async () => {
      const byTime = await restoreTo('before-time', { time: before.time });
      try {
        expect(await emails(byTime.url ?? '')).toEqual([rows.kept]);
      } finally {
        await stop('before-time');
      }
      const byLsn = await restoreTo('before-lsn', { lsn: before.lsn });
      try {
        expect(await emails(byLsn.url ?? '')).toEqual([rows.kept]);
      } finally {
        await stop('before-lsn');
      }
      const incomplete = (await restoreTo('hinted', { latest: true }).catch((e: unknown) => e)) as JeexDbError;
      await stop('hinted');
      const hinted = /--target-lsn ([0-9A-F]+\/[0-9A-F]+)/.exec(incomplete.hint ?? '')?.[1] ?? '';
      const exact = await restoreTo('hinted-lsn', { lsn: hinted });
      try {
        // Everything committed before the damage.
        expect(await emails(exact.url ?? '')).toEqual([rows.kept, rows.fence]);
      } finally {
        await stop('hinted-lsn');
      }
    });

    it('a target after the damage fails naming the damaged segment', { timeout: CLUSTER_TIMEOUT }, async () => {
      const error = await restoreTo('after-time', { time: after }).catch((e: unknown) => e);
      await stop('after-time');
      expect(error).toBeInstanceOf(JeexDbError);
      expect((error as JeexDbError).code).toBe('RESTORE_TARGET_UNREACHABLE');
      expect((error as JeexDbError).message).toContain(`WAL segment ${damage.segment} is damaged`);
    });
  });
});
