import type postgres from 'postgres';
import { connect } from '../../db/connect.ts';
import { translateDbError } from '../../db/translate-error.ts';

/** Run `work` on one superuser connection that is closed afterwards; a database error becomes a JeexDbError. */
export async function withSuperuser<T>(url: string, work: (admin: postgres.Sql) => Promise<T>): Promise<T> {
  const admin = connect(url, { max: 1, onnotice: () => {} });
  try {
    return await work(admin);
  } catch (error) {
    throw translateDbError(error);
  } finally {
    await admin.end({ timeout: 2 });
  }
}
