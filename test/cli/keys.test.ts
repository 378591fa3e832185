import { describe, expect, it } from 'vitest';
import { parseKey } from '../../src/crypto/keys.ts';
import { expectExit, parseJson, runCli } from '../helpers/cli.ts';

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
