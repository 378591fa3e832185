import type { Sql, TransactionSql } from 'postgres';

/**
 * Run `work` in a transaction that names the application's user, so every row it changes is
 * recorded in the audit trail with `app_user` (`SET LOCAL jeex.app_user`, which ends with the
 * transaction and so works through PgBouncer's transaction pooling).
 *
 * @example
 * await asAppUser(sql, session.userId, (tx) => tx`UPDATE projects SET name = ${name} WHERE id = ${id}`);
 */
export async function asAppUser<T>(sql: Sql, appUser: string, work: (tx: TransactionSql) => Promise<T>): Promise<T> {
  return (await sql.begin(async (tx) => {
    await tx`SELECT set_config('jeex.app_user', ${appUser}, true)`;
    return work(tx);
  })) as T;
}
