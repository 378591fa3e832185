import { beforeAll, describe, expect, it } from 'vitest';
import { formatKey, generateKey, parseKey } from '../../src/crypto/keys.ts';
import { createUser } from '../../src/db/queries/users.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { testKeyEnv } from '../helpers/users.ts';

describe('jeex-db keys generate', () => {
  it('prints a new base64 key on stdout and its id on stderr', async () => {
    const result = await runCli(['keys', 'generate']);
    expectExit(result, 0);
    const key = parseKey(result.stdout, 'stdout');
    expect(result.stdout.trim()).toHaveLength(44);
    expect(result.stderr).toContain(`key id ${key.id}`);
    expect(result.stderr).toContain('JEEX_BACKUP_KEY');
  });

  it('--json --format hex: one document with the key and its id; two runs differ', async () => {
    const a = parseJson<{ ok: boolean; key: string; keyId: string }>(await runCli(['keys', 'generate', '--format', 'hex', '--json']));
    const b = parseJson<{ ok: boolean; key: string; keyId: string }>(await runCli(['keys', 'generate', '--json']));
    expect(a.key).toMatch(/^[0-9a-f]{64}$/);
    expect(parseKey(a.key, 'json').id).toBe(a.keyId);
    expect(a.keyId).not.toBe(b.keyId);
  });

  it('--format other is a usage error (exit 2)', async () => {
    expectExit(await runCli(['keys', 'generate', '--format', 'base32']), 2);
  });
});

interface StatusDocument {
  ok: boolean;
  columns: { table: string; column: string; kind: string; keys: { keyId: string; rows: number; state?: string }[] }[];
  pending?: { data: number; blindIndex: number };
  unknownKeys?: string[];
}

describe('jeex-db keys rotate and keys status', () => {
  const t = useTestDatabase();
  const next = generateKey();
  const { JEEX_DATA_KEY: old, JEEX_BLIND_INDEX_KEY: blindIndex } = testKeyEnv();
  const oldId = parseKey(old, 'old').id;
  const env = (extra: NodeJS.ProcessEnv) => localEnv({ JEEX_BLIND_INDEX_KEY: blindIndex, ...extra });

  beforeAll(async () => {
    for (let i = 0; i < 30; i++) await createUser(t.client.db, { email: `cli-${i}@example.com`, name: `CLI ${i}` });
  });

  it('status without keys: rows per key id, unmarked', async () => {
    const result = await runCli(['keys', 'status', '--url', t.appUrl, '--json'], localEnv());
    expectExit(result, 0);
    const status = parseJson<StatusDocument>(result);
    expect(status.columns.map((c) => `${c.table}.${c.column}`)).toEqual(['users.email', 'users.name', 'users.email_hash']);
    expect(status.columns[0]?.keys).toEqual([{ keyId: oldId, rows: 30 }]);
    expect(status.pending).toBeUndefined();
  });

  it('rotate --dry-run counts; rotate --json re-seals in batches, progress on stderr; status then shows the new key only', async () => {
    const keys = env({ JEEX_DATA_KEYS: `${formatKey(next)},${old}` });
    const dry = parseJson<{ ok: boolean; dryRun: boolean; changed: number; remaining: number }>(await runCli(['keys', 'rotate', '--dry-run', '--url', t.appUrl, '--json'], keys));
    expect(dry).toMatchObject({ ok: true, dryRun: true, changed: 0, remaining: 30 });

    const human = await runCli(['keys', 'rotate', '--url', t.appUrl, '--batch-size', '7'], keys);
    expectExit(human, 0);
    expect(human.stdout).toContain('users (email, name): 30 row(s) re-sealed in 5 batch(es)');
    expect(human.stdout).toContain(`every row is under key ${next.id}; ${oldId} can now be removed from JEEX_DATA_KEYS`);
    expect(human.stderr).toContain(`values not under data key ${next.id}`);

    const again = await runCli(['keys', 'rotate', '--url', t.appUrl, '--json'], keys);
    expectExit(again, 0);
    expect(parseJson(again)).toMatchObject({ ok: true, kind: 'data', keyId: next.id, changed: 0, remaining: 0 });

    const status = parseJson<StatusDocument>(await runCli(['keys', 'status', '--url', t.appUrl, '--json'], keys));
    expect(status.columns[1]?.keys).toEqual([{ keyId: next.id, rows: 30, state: 'current' }]);
    expect(status.pending).toEqual({ data: 0, blindIndex: 0 });

    // Only the old key left configured: the rows are unreadable, and status says so.
    const stale = await runCli(['keys', 'status', '--url', t.appUrl], env({ JEEX_DATA_KEY: old }));
    expectExit(stale, 0);
    expect(stale.stdout).toContain('unknown: not configured, unreadable');
    expect(stale.stderr).toContain(`rows under key(s) ${next.id}, which are not configured`);
  });

  it('rotate without keys exits 50 (ENCRYPTION_KEY_MISSING) naming the variables', async () => {
    const result = await runCli(['keys', 'rotate', '--url', t.appUrl, '--json'], localEnv());
    expectExit(result, 50);
    const doc = parseJson<{ ok: boolean; error: { code: string; message: string } }>(result);
    expect(doc.error.code).toBe('ENCRYPTION_KEY_MISSING');
    expect(doc.error.message).toContain('JEEX_DATA_KEY');
  });

  it('rotate exits 53 (KEY_ROTATION_INCOMPLETE) with the error in the document while a row stays locked', async () => {
    const third = generateKey();
    const keys = env({ JEEX_DATA_KEYS: `${formatKey(third)},${formatKey(next)},${old}` });
    const [row] = await t.admin<{ id: string }[]>`SELECT id FROM users ORDER BY id LIMIT 1`;
    const blocker = await t.admin.reserve();
    try {
      await blocker`BEGIN`;
      await blocker`SELECT 1 FROM users WHERE id = ${row?.id ?? ''} FOR UPDATE`;
      const result = await runCli(['keys', 'rotate', '--url', t.appUrl, '--json'], keys);
      expectExit(result, EXIT.KEY_ROTATION_INCOMPLETE);
      expect(EXIT.KEY_ROTATION_INCOMPLETE).toBe(53);
      const doc = parseJson<{ ok: boolean; remaining: number; exitCode: number; error: { code: string; hint: string } }>(result);
      expect(doc).toMatchObject({ ok: false, remaining: 1, exitCode: 53, error: { code: 'KEY_ROTATION_INCOMPLETE' } });
      expect(doc.error.hint).toContain('jeex-db keys rotate');
    } finally {
      await blocker`COMMIT`;
      blocker.release();
    }
  });
});
