import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/test-db.ts';

// REQ-001 acceptance: PostgreSQL 18 is running with UUIDv7, settings applied.
describe('REQ-001: PostgreSQL 18 foundation', () => {
  const t = useTestDatabase();

  it('runs PostgreSQL 18 with a built-in uuidv7() that yields version-7 UUIDs', async () => {
    const [row] = await t.client.sql<{ num: string; version: number }[]>`
      SELECT current_setting('server_version_num') AS num, uuid_extract_version(uuidv7()) AS version`;
    expect(Number(row?.num)).toBeGreaterThanOrEqual(180000);
    expect(row?.version).toBe(7);
  });

  it('runs as UTF-8 with pg_stat_statements loaded', async () => {
    const [row] = await t.admin<{ encoding: string; preload: string; ext: string | null }[]>`
      SELECT current_setting('server_encoding') AS encoding,
             current_setting('shared_preload_libraries') AS preload,
             (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS ext`;
    expect(row?.encoding).toBe('UTF8');
    expect(row?.preload).toContain('pg_stat_statements');
    expect(row?.ext).not.toBeNull();
    const stats = await t.admin`SELECT count(*) FROM pg_stat_statements`;
    expect(stats).toHaveLength(1);
  });
});
