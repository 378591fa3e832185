import { chown, mkdir, readdir, readFile, rm, stat, writeFile, appendFile, chmod } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { connect } from '../../db/connect.ts';
import { JeexDbError } from '../../core/errors.ts';
import { localLayout, type LocalLayout } from '../../local/layout.ts';
import { buildUrl, type UrlTls } from '../../local/state.ts';
import { findBinaries, type PgBinaries } from '../../cluster/binaries.ts';
import type { RunAs } from '../../platform/exec.ts';
import { freePort } from '../../platform/port.ts';
import { readLogSince, logOffset } from '../../platform/log-file.ts';
import { startServer, stopServer } from '../../cluster/pg-ctl.ts';
import { backupDir, type BackupRecord, type BackupRepo } from './repo.ts';
import { findBackup, readBackupCatalog, refuseDamagedCandidates } from './catalog.ts';
import { checkArchiveBeside, explainWithArchive, incompleteRestore, replayedTo } from './restore-complete.ts';
import { restoredTls } from './restore-tls.ts';
import { extractBackupTarball } from './tarball.ts';

import type { RestoreTarget } from './restore-target.ts';
import { sleep } from '../../core/sleep.ts';

export type { RestoreTarget } from './restore-target.ts';

export interface RestoreOptions {
  repo: BackupRepo;
  /** The new cluster directory (a `jeex-db up` layout: `<to>/pgdata`, `<to>/log/server.log`). */
  to: string;
  target?: RestoreTarget;
  /** A backup id; default: the newest backup that ends before the target (see pickBackup). */
  backupId?: string;
  /** Replace a non-empty `to`. */
  force?: boolean;
  /** Leave the restored server running on this port (0: a free one); otherwise stop it once recovered. */
  start?: { port: number };
  /** The OS user the server runs as (when we are root). */
  as?: RunAs;
  /** How long recovery may take before it counts as failed (default 600 s). */
  timeoutSeconds?: number;
  /** The source cluster's directory: its state.json and secrets.json are copied so `jeex-db url --data-dir <to>` works. */
  sourceDataDir?: string;
  onProgress?: (message: string) => void;
  binaries?: PgBinaries;
}

export interface RestoreResult {
  backupId: string;
  dataDir: string;
  pgdata: string;
  target: string;
  /**
   * Where recovery stopped: the first LSN of the new timeline, its number, the last replayed
   * commit's time, and the end of the WAL replayed (the new timeline's switch point).
   */
  reached: { lsn: string; timeline: number; lastCommitAt: string | null; replayedTo?: string };
  state: 'running' | 'stopped';
  port: number;
  /** The superuser URL of the restored server (when the source's secrets were copied and it runs). */
  url?: string;
  durationMs: number;
}

/** Every complete backup of the repository with a sound record, oldest first (see readBackupCatalog). */
export async function completeBackups(repo: BackupRepo): Promise<BackupRecord[]> {
  return (await readBackupCatalog(repo)).backups;
}

const lsnValue = (lsn: string): bigint => {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high ?? '0'}`) << 32n) + BigInt(`0x${low ?? '0'}`);
};

/**
 * The backup a restore to `target` starts from: the newest one that was consistent (stopped)
 * before the target time or LSN. A named restore point or an xid cannot be placed in time
 * without reading the WAL, so for those the oldest backup is used (replay is longer, but it
 * cannot start after the target); pass `backupId` to choose.
 */
export function pickBackup(backups: BackupRecord[], target: RestoreTarget): BackupRecord | undefined {
  if ('time' in target) return backups.filter((b) => Date.parse(b.stoppedAt) <= target.time.getTime()).at(-1);
  if ('lsn' in target) return backups.filter((b) => lsnValue(b.stopLsn) <= lsnValue(target.lsn)).at(-1);
  if ('latest' in target) return backups.at(-1);
  if ('immediate' in target) return backups.at(-1);
  return backups[0];
}

function describeTarget(target: RestoreTarget): string {
  if ('time' in target) return `time ${target.time.toISOString()}`;
  if ('lsn' in target) return `LSN ${target.lsn}`;
  if ('xid' in target) return `xid ${target.xid}`;
  if ('name' in target) return `restore point "${target.name}"`;
  if ('immediate' in target) return "the backup's consistent end";
  return 'the end of the archived WAL';
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** The settings recovery runs with, appended to postgresql.auto.conf (read last, so they win). */
export function recoverySettings(repo: BackupRepo, target: RestoreTarget, port: number): string[] {
  const lines = [
    '# Written by jeex-db restore',
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    // The restored server must not archive into the repository it restores from.
    'archive_mode = off',
    `restore_command = ${quote(`cp ${join(repo.wal, '%f')} "%p"`)}`,
    // Recovery ends at the target and the server becomes a primary on a new timeline.
    "recovery_target_action = 'promote'",
    "recovery_target_timeline = 'latest'",
  ];
  // PostgreSQL refuses ISO 8601's "T" and "Z" here: '2026-11-25 17:55:23.822+00'.
  if ('time' in target) lines.push(`recovery_target_time = ${quote(target.time.toISOString().replace('T', ' ').replace('Z', '+00'))}`);
  if ('lsn' in target) lines.push(`recovery_target_lsn = ${quote(target.lsn)}`);
  if ('xid' in target) lines.push(`recovery_target_xid = ${quote(target.xid)}`);
  if ('name' in target) lines.push(`recovery_target_name = ${quote(target.name)}`);
  if ('immediate' in target) lines.push("recovery_target = 'immediate'");
  return lines;
}

/** `to` must not hold the repository or the source cluster: `--force` would delete them. */
function refuseToOverwrite(to: string, repo: BackupRepo, sourceDataDir: string | undefined): void {
  const target = resolve(to);
  const inside = (path: string) => path === target || path.startsWith(`${target}${sep}`);
  const clash = inside(resolve(repo.root)) ? `the backup repository ${repo.root}` : sourceDataDir && inside(resolve(sourceDataDir)) ? `the cluster ${sourceDataDir}` : undefined;
  if (clash) {
    throw new JeexDbError('RESTORE_TARGET_NOT_EMPTY', `--to ${to} holds ${clash}: restoring there would delete what it restores from`, {
      hint: 'Restore into a directory of its own, e.g. --to .jeex-db-restored.',
    });
  }
}

export async function prepareTarget(to: string, force: boolean): Promise<void> {
  const entries = await readdir(to).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  if (entries.length > 0) {
    if (!force) {
      throw new JeexDbError('RESTORE_TARGET_NOT_EMPTY', `${to} is not empty: a restore would mix two clusters`, {
        hint: 'Restore into a new directory, or pass --force to delete what is there first (stop any server running from it).',
      });
    }
    await rm(to, { recursive: true, force: true });
  }
  await mkdir(to, { recursive: true });
  await chmod(to, 0o755);
}

export async function chownTree(path: string, as: RunAs): Promise<void> {
  await chown(path, as.uid, as.gid);
  const info = await stat(path);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), as);
}

/**
 * Restore a base backup into a new cluster directory and replay the archived WAL up to
 * `target`: extract, write `recovery.signal` and the recovery settings, start the server, wait
 * until it has promoted, and report where it stopped. A target beyond the archived WAL is a
 * RESTORE_TARGET_UNREACHABLE error naming the latest restorable point, not a hang. A restore to
 * the latest point is RESTORE_INCOMPLETE when recovery did not replay the archive to the end of
 * its valid WAL (a damaged or missing segment before the end, read beside the recovery by
 * readArchivedWal); the cluster is left in `to`, stopped.
 *
 * @example
 * const r = await restoreBackup({ repo, to: '/tmp/restored', target: { time: new Date('2026-11-25T10:00:00Z') }, as });
 * r.reached; // { lsn: '0/3000108', timeline: 2, lastCommitAt: '2026-11-25T09:59:58.120Z' }
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const began = performance.now();
  const progress = options.onProgress ?? (() => {});
  const target = options.target ?? { latest: true };
  const catalog = await readBackupCatalog(options.repo);
  const backups = catalog.backups;
  const record = options.backupId ? findBackup(options.repo, catalog, options.backupId) : pickBackup(backups, target);
  // A backup whose record is damaged is never passed over in silence.
  if (!options.backupId) refuseDamagedCandidates(options.repo, catalog, record, target);
  if (!record) {
    throw new JeexDbError(
      'BACKUP_NOT_FOUND',
      options.backupId
        ? `no complete backup ${options.backupId} in ${options.repo.base}`
        : `no backup in ${options.repo.base} ends before ${describeTarget(target)} (${backups.length} backup(s), the oldest ending ${backups[0]?.stoppedAt ?? 'never'})`,
      { hint: 'List them with `jeex-db backups list`; a point before the oldest backup cannot be restored.' },
    );
  }

  refuseToOverwrite(options.to, options.repo, options.sourceDataDir);
  await prepareTarget(options.to, Boolean(options.force));
  const layout: LocalLayout = localLayout(options.to);
  await mkdir(layout.pgdata, { recursive: true });
  await mkdir(layout.logDir, { recursive: true });
  progress(`extracting backup ${record.id}`);
  // Decrypted on the way when the backup is encrypted (keys from the environment).
  await extractBackupTarball(backupDir(options.repo, record.id), record, layout.pgdata);
  await mkdir(join(layout.pgdata, 'pg_wal'), { recursive: true });
  await writeFile(join(layout.pgdata, 'recovery.signal'), '');
  const port = options.start?.port ? options.start.port : await freePort();
  // The source's certificate files, copied beside the new cluster (or a CA of its own).
  const tls = await restoredTls(layout, options.sourceDataDir, options.as);
  const tlsLines = tls ? [`ssl_cert_file = ${quote(tls.certFile)}`, `ssl_key_file = ${quote(tls.keyFile)}`] : [];
  await appendFile(join(layout.pgdata, 'postgresql.auto.conf'), `\n${[...recoverySettings(options.repo, target, port), ...tlsLines].join('\n')}\n`);
  await chmod(layout.pgdata, 0o700);
  if (options.as) {
    await chownTree(layout.pgdata, options.as);
    await chownTree(layout.logDir, options.as);
  }
  const copied = await copyLocalState(options.sourceDataDir, layout, port, tls?.url);

  const bin = options.binaries ?? (await findBinaries());
  const timeoutSeconds = options.timeoutSeconds ?? 600;
  progress(`replaying WAL to ${describeTarget(target)}`);
  const offset = await logOffset(layout.serverLog);
  // The archive is read record by record while the server replays it: a restore is only called
  // complete when it reached the end of the archive's valid WAL.
  const archive = checkArchiveBeside(options.repo, record);
  let superuser: string | undefined;
  let reached: RestoreResult['reached'];
  try {
    try {
      await startServer(bin, layout, { timeoutSeconds, host: '127.0.0.1', port }, options.as);
    } catch (error) {
      throw await explainFailure(error, layout, offset, target, options.repo);
    }
    superuser = await superuserUrl(layout, port, tls?.url);
    reached = await waitForPromotion(superuser, timeoutSeconds, layout, offset, target, options.repo);
  } catch (error) {
    throw await explainWithArchive(error, archive);
  }
  await keepOnlyPort(layout.pgdata);
  const replayed = await replayedTo(layout, reached.timeline);
  if (replayed) reached = { ...reached, replayedTo: replayed };
  const incomplete = await incompleteRestore(archive, { latest: 'latest' in target, to: options.to, layout, logOffset: offset, replayedTo: replayed, lastCommitAt: reached.lastCommitAt });
  if (incomplete) {
    // Not left running: nobody should take it for the complete restore.
    await stopServer(bin, layout, options.as, 'fast').catch(() => undefined);
    throw incomplete;
  }
  let state: RestoreResult['state'] = 'running';
  if (!options.start) {
    await stopServer(bin, layout, options.as, 'fast');
    state = 'stopped';
  }
  return {
    backupId: record.id,
    dataDir: layout.root,
    pgdata: layout.pgdata,
    target: describeTarget(target),
    reached,
    state,
    port,
    ...(superuser && copied && state === 'running' ? { url: superuser } : {}),
    durationMs: performance.now() - began,
  };
}

/**
 * Recovery is over: drop the recovery settings from postgresql.auto.conf (they would apply again
 * only with a new recovery.signal, but archive_mode = off would stay), keeping the port and
 * address so a plain start does not collide with the source cluster, and the TLS files of the new
 * directory. Takes effect at the next start.
 */
async function keepOnlyPort(pgdata: string): Promise<void> {
  const file = join(pgdata, 'postgresql.auto.conf');
  const text = await readFile(file, 'utf8');
  const at = text.indexOf('# Written by jeex-db restore');
  if (at < 0) return;
  const kept = text
    .slice(at)
    .split('\n')
    .filter((line) => /^(port|listen_addresses|ssl_cert_file|ssl_key_file) = /.test(line));
  await writeFile(file, `${text.slice(0, at)}# Written by jeex-db restore\n${kept.join('\n')}\n`);
}

/** The source cluster's state and secrets, with the restored port and TLS files, so `jeex-db url` and `down` work on it. */
export async function copyLocalState(source: string | undefined, layout: LocalLayout, port: number, tls: UrlTls | undefined): Promise<boolean> {
  if (!source) return false;
  const from = localLayout(source);
  try {
    const state = JSON.parse(await readFile(from.stateFile, 'utf8')) as Record<string, unknown>;
    const { pooler: _pooler, tls: _tls, ...rest } = state;
    await writeFile(layout.stateFile, `${JSON.stringify({ ...rest, port, ...(tls ? { tls } : {}) }, null, 2)}\n`);
    await writeFile(layout.secretsFile, await readFile(from.secretsFile), { mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}

async function superuserUrl(layout: LocalLayout, port: number, tls: UrlTls | undefined): Promise<string | undefined> {
  try {
    const secrets = JSON.parse(await readFile(layout.secretsFile, 'utf8')) as { superuser?: { user: string; password: string } };
    if (!secrets.superuser) return undefined;
    return buildUrl({ ...secrets.superuser, host: '127.0.0.1', port, database: 'postgres', ...(tls ? { tls } : {}) });
  } catch {
    return undefined;
  }
}

const UNREACHABLE = /recovery ended before configured recovery target was reached|could not find|requested recovery stop point is before consistent recovery point/i;

async function explainFailure(error: unknown, layout: LocalLayout, offset: number, target: RestoreTarget, repo: BackupRepo): Promise<JeexDbError> {
  const log = await readLogSince(layout.serverLog, offset);
  const excerpt = log.filter((line) => /FATAL|PANIC|ERROR|LOG: +(redo|consistent|recovery|restored)/.test(line)).slice(-12);
  if (log.some((line) => UNREACHABLE.test(line))) {
    const last = [...log].reverse().find((line) => /last completed transaction was at log time/.test(line));
    return new JeexDbError('RESTORE_TARGET_UNREACHABLE', `${describeTarget(target)} cannot be reached: the archive in ${repo.wal} ends before it`, {
      hint: `Pick an earlier target (${last ? last.replace(/^.*last completed transaction was at log time /, 'the last archived commit is at ') : 'see `jeex-db backups list` for the recovery window'}), or --latest.`,
      logExcerpt: excerpt,
      cause: error,
    });
  }
  const failure = error instanceof JeexDbError ? error : undefined;
  return new JeexDbError('RESTORE_FAILED', `the restored server did not recover: ${failure?.message ?? String(error)}`, {
    hint: `Read ${layout.serverLog}; a missing WAL segment shows there as "could not open file".`,
    logExcerpt: excerpt.length > 0 ? excerpt : (failure?.logExcerpt ?? []),
    cause: error,
  });
}

/** "2026-11-25 17:50:01.123456+00" (the server log's time) → ISO 8601. */
export function parseLogTime(text: string): string | null {
  const m = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2})(:?\d{2})?/.exec(text);
  if (!m) return null;
  const fraction = (m[3] ?? '.000').slice(0, 4).padEnd(4, '0');
  const zone = `${m[4]}:${(m[5] ?? '00').replace(':', '')}`;
  const date = new Date(`${m[1]}T${m[2]}${fraction}${zone}`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

const PROMOTED = /archive recovery complete|selected new timeline ID/;
const READY = /database system is ready to accept connections/;

/**
 * Wait until the server has left recovery (promoted at the target), then read where it is: by
 * SQL when we can log in (the source's secrets were copied), else from the server log.
 */
async function waitForPromotion(
  url: string | undefined,
  timeoutSeconds: number,
  layout: LocalLayout,
  offset: number,
  target: RestoreTarget,
  repo: BackupRepo,
): Promise<RestoreResult['reached']> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const lastCommit = (log: string[]) => {
    const line = [...log].reverse().find((l) => /last completed transaction was at log time/.test(l));
    return line ? parseLogTime(line.replace(/^.*last completed transaction was at log time /, '')) : null;
  };
  for (;;) {
    const log = await readLogSince(layout.serverLog, offset);
    if (log.some((line) => UNREACHABLE.test(line)) || log.some((line) => /FATAL|PANIC/.test(line) && !/the database system is (starting up|not yet accepting)/.test(line))) {
      throw await explainFailure(new Error('recovery stopped'), layout, offset, target, repo);
    }
    const promoted = log.findIndex((line) => PROMOTED.test(line));
    if (promoted >= 0 && log.slice(promoted).some((line) => READY.test(line))) {
      const fromLog = { lsn: /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(log.join('\n'))?.[1] ?? '', timeline: Number(/selected new timeline ID: (\d+)/.exec(log.join('\n'))?.[1] ?? 0) };
      if (!url) return { ...fromLog, lastCommitAt: lastCommit(log) };
      const sql = connect(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        const [where] = await sql<{ lsn: string; wal: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS wal`;
        return { lsn: where?.lsn ?? fromLog.lsn, timeline: Number.parseInt((where?.wal ?? '').slice(0, 8), 16) || fromLog.timeline, lastCommitAt: lastCommit(log) };
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
    if (Date.now() > deadline) {
      throw new JeexDbError('RESTORE_FAILED', `recovery did not finish within ${timeoutSeconds} s`, { hint: `Read ${layout.serverLog}; raise --timeout for a long replay.` });
    }
    await sleep(200);
  }
}
