import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PruneResult } from '../../src/ops/backup/prune.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';

// End-to-end: the built binary prunes a repository of fake backups (records and WAL file names
// as the real ones; retention reads nothing else), first as a dry run.

const DAY = 86_400_000;
const id = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const seg = (n: number) => `0000000100000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

describe('jeex-db backups prune', () => {
  let root: string;
  const ids: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'jeex-cli-prune-'));
    await mkdir(join(root, 'wal'), { recursive: true });
    for (const n of [1, 2, 3, 4, 5, 6]) await writeFile(join(root, 'wal', seg(n)), 'x');
    await writeFile(join(root, 'wal', '00000002.history'), '1\t0/9000000\tno recovery target specified\n');
    for (const [days, start] of [[30, 1], [20, 3], [1, 5]] as const) {
      const stoppedAt = new Date(Date.now() - days * DAY);
      const backupId = id(stoppedAt);
      ids.push(backupId);
      await mkdir(join(root, 'base', backupId), { recursive: true });
      await writeFile(join(root, 'base', backupId, 'base.tar.gz'), Buffer.alloc(1000));
      await writeFile(join(root, 'base', backupId, 'backup.json'), JSON.stringify({ id: backupId, format: 'tar.gz', startedAt: stoppedAt.toISOString(), stoppedAt: stoppedAt.toISOString(), startLsn: '0/1000028', stopLsn: '0/1000100', timeline: 1, startWalFile: seg(start), stopWalFile: seg(start), systemIdentifier: '1', serverVersion: '18.1', sizeBytes: 1, storedBytes: 1, files: 1, rowCounts: {} }));
    }
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('--dry-run --json shows what would go and changes nothing; then it goes, and the human output says why', async () => {
    const dry = await runCli(['backups', 'prune', '--repo', root, '--keep-count', '2', '--keep-days', '7', '--dry-run', '--json']);
    expectExit(dry, 0);
    const planned = parseJson<PruneResult & { ok: boolean }>(dry);
    expect(planned).toMatchObject({ ok: true, dryRun: true, deleted: [ids[0]], kept: [ids[1], ids[2]], walDeleted: [seg(1), seg(2)], walKept: 5, walCutoff: seg(3) });
    expect(await readdir(join(root, 'base'))).toHaveLength(3);
    expect(await readdir(join(root, 'wal'))).toHaveLength(7);

    // Without --yes nothing goes, and it says so.
    const unconfirmed = await runCli(['backups', 'prune', '--repo', root, '--keep-count', '2', '--keep-days', '7'], localEnv({ NO_COLOR: '1' }));
    expectExit(unconfirmed, 0);
    expect(unconfirmed.stderr).toContain('dry run: nothing is deleted without --yes');
    expect(await readdir(join(root, 'base'))).toHaveLength(3);

    const human = await runCli(['backups', 'prune', '--repo', root, '--keep-count', '2', '--keep-days', '7', '--yes'], localEnv({ NO_COLOR: '1' }));
    expectExit(human, 0);
    expect(human.stdout).toMatch(new RegExp(`deleted\\s+${ids[0]}\\s+30 d old: older than 7 days and not among the newest 2`));
    expect(human.stdout).toMatch(new RegExp(`keep\\s+${ids[2]}\\s+the newest backup`));
    expect(human.stdout).toContain(`WAL: deleted 2 file(s) before ${seg(3)}`);
    expect((await readdir(join(root, 'base'))).sort()).toEqual([ids[1], ids[2]]);
    expect((await readdir(join(root, 'wal'))).sort()).toEqual([seg(3), seg(4), seg(5), seg(6), '00000002.history']);
  });

  it('exits 2 on a bad --keep-count and on a bad JEEX_BACKUP_KEEP_DAYS, naming it', async () => {
    expectExit(await runCli(['backups', 'prune', '--repo', root, '--keep-count', 'many', '--json']), 2);
    const env = await runCli(['backups', 'prune', '--repo', root, '--json'], localEnv({ JEEX_BACKUP_KEEP_DAYS: 'forever' }));
    expectExit(env, 2);
    const { error } = parseJson<{ error: { code: string; message: string } }>(env);
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain('JEEX_BACKUP_KEEP_DAYS');
    expect(await readdir(join(root, 'base'))).toHaveLength(2);
  });
});
