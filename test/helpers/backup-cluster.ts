import { join } from 'node:path';
import type postgres from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { defaultRepo, type BackupRepo } from '../../src/ops/backup/repo.ts';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalState } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { up } from '../../src/stack/up.ts';
import { reachableTempDir } from './cli.ts';

export interface BackupCluster {
  /** The temp directory: the cluster is `<root>/db`; restores go beside it. */
  root: string;
  dataDir: string;
  layout: LocalLayout;
  /** Its repository (`<dataDir>/backups`), where `up` archives the WAL. */
  repo: BackupRepo;
  /** The application database's name. */
  database: string;
  /** Superuser on the application database. */
  sql: postgres.Sql;
}

/**
 * A PostgreSQL 18 of a test file's own for backups (started with the project's `up`, small,
 * no PgBouncer, WAL archived into its repository), so backups, WAL switches and restores do not
 * disturb other files. The caller ends `sql` and runs `down` in its afterAll.
 */
export async function startBackupCluster(prefix: string): Promise<BackupCluster> {
  const root = await reachableTempDir(prefix);
  const dataDir = join(root, 'db');
  await up({ dataDir, port: await freePort(), memoryBytes: 512 * 2 ** 20, cpus: 2, pooler: false });
  const layout = localLayout(dataDir);
  const database = readLocalState(layout)?.database ?? 'jeex';
  const url = localUrl(layout, 'superuser', { database });
  if (!url) throw new Error(`no local cluster in ${dataDir}`);
  return { root, dataDir, layout, repo: defaultRepo(layout), database, sql: connect(url, { max: 3, onnotice: () => {} }) };
}
