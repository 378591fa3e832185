import { connect } from '../db/connect.ts';
import { JeexDbError } from '../core/errors.ts';
import { translateDbError } from '../db/translate-error.ts';
import { sleep } from '../core/sleep.ts';

/**
 * Wait until the server answers a query, or the deadline passes. pg_ctl's "ready" only means
 * the postmaster accepts connections; this proves a session can log in and run SQL.
 */
export async function waitUntilReady(url: string, deadline: number): Promise<{ version: string; versionNum: number }> {
  let last: unknown;
  while (Date.now() < deadline) {
    const remaining = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const sql = connect(url, { max: 1, connect_timeout: Math.min(remaining, 5), onnotice: () => {}, prepare: false });
    try {
      const [row] = await sql<{ version: string; num: string }[]>`
        SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`;
      if (row) return { version: row.version, versionNum: Number(row.num) };
    } catch (error) {
      last = error;
      const translated = translateDbError(error);
      // A wrong password will not fix itself by waiting.
      if (translated.code === 'AUTHENTICATION_FAILED') throw translated;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => undefined);
    }
    await sleep(200);
  }
  throw new JeexDbError('SERVER_START_TIMEOUT', 'the server did not answer a query before the deadline', {
    ...(last === undefined ? {} : { cause: last }),
  });
}
