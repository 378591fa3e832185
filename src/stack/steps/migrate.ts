import { connect } from '../../db/connect.ts';
import { migrate as runMigrations } from '../../migrate/runner.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { UpMigrations } from '../up-types.ts';
import type { Ready } from './ready.ts';

/**
 * The package's migrations, applied as the migrator role under the migration lock. No undo: the
 * migrations applied stay applied (each in its own transaction; a failing one is rolled back by
 * the runner, which also records a restore point before the first).
 */
export const migrate: UpStep<UpContext & Pick<Ready, 'urls'>, { migrations: UpMigrations }> = {
  name: 'migrate',
  async run({ progress, urls }) {
    progress('applying migrations');
    return { migrations: await migrateUrl(urls.migrator, progress) };
  },
};

/** Apply the package's migrations with the runner, on a client of its own (two connections). */
export async function migrateUrl(url: string, progress: (message: string) => void): Promise<UpMigrations> {
  const sql = connect(url, { max: 2, onnotice: () => {}, connection: { application_name: 'jeex-db up' } });
  try {
    const result = await runMigrations(sql, { onProgress: progress });
    return {
      applied: result.applied.map((step) => step.name),
      adopted: result.adopted,
      total: result.total,
      warnings: result.warnings,
      ...(result.restorePoint ? { restorePoint: result.restorePoint } : {}),
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
