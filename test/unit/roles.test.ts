import { describe, expect, it } from 'vitest';
import { roleCatalog } from '../../src/ops/roles/catalog.ts';
import { roleNames } from '../../src/ops/roles/names.ts';
import { checkPassword, generatePassword, MIN_PASSWORD_LENGTH } from '../../src/crypto/password-policy.ts';
import { newPasswordInput, passwordsFromEnvironment } from '../../src/ops/roles/password-input.ts';
import { DEFAULT_ROLE_SETTINGS, resolveRoleSettings } from '../../src/ops/roles/settings.ts';
import { Readable } from 'node:stream';
import { scramVerifier } from '../../src/db/scram.ts';
import { settingsDrift } from '../../src/ops/health/role-checks.ts';
import { parseRecord, recordText, verifierFingerprint } from '../../src/ops/roles/role-record.ts';

describe('the password policy', () => {
  it.each([
    ['short', 'Tr0ub4dor&3', /at least 16 are required/],
    ['common', 'correcthorsebatterystaple', /common password/],
    ['common with digits added', 'Password1234567890!', /common password with characters added/],
    ['one character repeated', 'aaaaaaaaaaaaaaaaaaaa', /repeats one character/],
    ['a control character', 'good-length-password\u0007', /control characters/],
  ])('refuses a %s password', (_, password, problem) => {
    const verdict = checkPassword(password);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.join('; ')).toMatch(problem);
    // The verdict never repeats the password.
    expect(verdict.problems.join('; ')).not.toContain(password);
  });

  it('accepts a long random password, and every generated one', () => {
    expect(checkPassword('k7#Vq2!xLm9$Rt4@Wz').ok).toBe(true);
    for (let i = 0; i < 50; i++) {
      const password = generatePassword();
      expect(password.length).toBeGreaterThanOrEqual(MIN_PASSWORD_LENGTH);
      expect(checkPassword(password)).toEqual({ ok: true, problems: [] });
    }
  });

  it('reads a new password from stdin or the environment (one trailing newline dropped), never from an argument, and checks it', async () => {
    await expect(newPasswordInput({ stdin: true }, {}, Readable.from(['a-very-long-random-pass\n']))).resolves.toEqual({ password: 'a-very-long-random-pass', source: 'standard input' });
    await expect(newPasswordInput({}, { JEEX_NEW_PASSWORD: 'another-long-random-pw' })).resolves.toEqual({ password: 'another-long-random-pw', source: 'JEEX_NEW_PASSWORD' });
    await expect(newPasswordInput({}, {})).resolves.toBeUndefined();
    const refused = await newPasswordInput({}, { JEEX_NEW_PASSWORD: 'password1' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('JEEX_NEW_PASSWORD was refused') as string });
    expect(String((refused as Error).message)).not.toContain('password1');
    await expect(passwordsFromEnvironment({ JEEX_APP_PASSWORD: 'app-password-long-enough', JEEX_MONITOR_PASSWORD: '' })).resolves.toEqual({ app: 'app-password-long-enough' });
  });
});

describe('role settings', () => {
  it('writes the timeouts into the catalog the way PostgreSQL stores them', () => {
    const catalog = roleCatalog(roleNames('jeex'), resolveRoleSettings({ idleTimeout: '900', idleInTransactionTimeout: '1500ms' }, {}), 100);
    const app = catalog.find((spec) => spec.kind === 'app');
    expect(app?.settings).toMatchObject({ idle_session_timeout: '15min', idle_in_transaction_session_timeout: '1500ms' });
  });

  it('takes flags over the environment over the last values over the defaults, and reports every problem at once', () => {
    expect(resolveRoleSettings({}, {})).toEqual(DEFAULT_ROLE_SETTINGS);
    expect(resolveRoleSettings({}, { JEEX_IDLE_TIMEOUT: '10min', JEEX_AUDIT_READS: 'off' }, { idleSessionTimeoutMs: 1000 })).toMatchObject({ idleSessionTimeoutMs: 600_000, auditReads: false });
    expect(resolveRoleSettings({}, { JEEX_AUDIT_READS: 'No' }).auditReads).toBe(false);
    expect(resolveRoleSettings({ idleTimeout: '5min' }, { JEEX_IDLE_TIMEOUT: '10min' }).idleSessionTimeoutMs).toBe(300_000);
    expect(resolveRoleSettings({}, {}, { idleSessionTimeoutMs: 1000, auditReads: false })).toMatchObject({ idleSessionTimeoutMs: 1000, auditReads: false });
    const error = (() => {
      try {
        resolveRoleSettings({ idleTimeout: 'later' }, { JEEX_IDLE_IN_TRANSACTION_TIMEOUT: 'x', JEEX_AUDIT_READS: 'maybe' });
      } catch (e) {
        return e as { code: string; message: string };
      }
      return undefined;
    })();
    expect(error?.code).toBe('INVALID_CONFIG');
    expect(error?.message).toMatch(/--idle-timeout.*JEEX_IDLE_IN_TRANSACTION_TIMEOUT.*JEEX_AUDIT_READS/);
    expect(error?.message).toContain('--idle-timeout must be a duration such as 500ms, 5s, 2min, 1h or 1d (a plain number is seconds), got "later"');
    expect(error?.message).toContain('JEEX_AUDIT_READS must be true or false (or 1/0, yes/no, on/off), got "maybe"');
  });
});

describe('the role catalog', () => {
  const catalog = roleCatalog(roleNames('jeex'), DEFAULT_ROLE_SETTINGS, 100);
  const spec = (kind: string) => catalog.find((r) => r.kind === kind);

  it('has seven roles; only the owner cannot log in, only the backup and replicator roles replicate', () => {
    expect(catalog.map((r) => r.name)).toEqual(['jeex_owner', 'jeex_migrator', 'jeex_app', 'jeex_readonly', 'jeex_backup', 'jeex_monitor', 'jeex_replicator']);
    expect(catalog.filter((r) => !r.login).map((r) => r.kind)).toEqual(['owner']);
    expect(catalog.filter((r) => r.replication).map((r) => r.kind)).toEqual(['backup', 'replicator']);
  });

  it('gives the replicator (what a standby stores) REPLICATION and nothing else: no memberships, no idle timeout ending its walsender', () => {
    expect(spec('replicator')).toMatchObject({ login: true, replication: true, memberOf: [] });
    expect(spec('replicator')?.settings).toMatchObject({ idle_session_timeout: '0', statement_timeout: '0' });
  });

  it('makes the migrator the owner for DDL, through SET ROLE only', () => {
    expect(spec('migrator')?.settings.role).toBe('jeex_owner');
    expect(spec('migrator')?.memberOf).toEqual([{ role: 'jeex_owner', inherit: false }]);
  });

  it('gives every login role the 15 minute idle timeout but the backup role, and logs the statements of the app and read-only roles', () => {
    for (const kind of ['migrator', 'app', 'readonly', 'monitor']) expect(spec(kind)?.settings.idle_session_timeout).toBe('15min');
    expect(spec('backup')?.settings).toMatchObject({ idle_session_timeout: '0', idle_in_transaction_session_timeout: '0', statement_timeout: '0' });
    expect(catalog.filter((r) => r.settings.log_statement === 'all').map((r) => r.kind)).toEqual(['app', 'readonly']);
    const quiet = roleCatalog(roleNames('jeex'), { ...DEFAULT_ROLE_SETTINGS, auditReads: false }, 100);
    expect(quiet.filter((r) => r.settings.log_statement)).toEqual([]);
  });

  it('lets only the monitoring and backup roles into the reserved connection slots', () => {
    expect(catalog.filter((r) => r.memberOf.some((m) => m.role === 'pg_use_reserved_connections' && m.inherit)).map((r) => r.kind)).toEqual(['backup', 'monitor']);
  });

  it("sizes the app role's connection limit from max_connections, above PgBouncer's pool", () => {
    expect(spec('app')?.connectionLimit).toBe(90); // PgBouncer may open 100 - 15 = 85
    expect(roleCatalog(roleNames('jeex'), { ...DEFAULT_ROLE_SETTINGS, connectionLimits: { app: -1 } }, 100).find((r) => r.kind === 'app')?.connectionLimit).toBe(-1);
  });
});

describe("a role's record (its COMMENT, what the health check compares with)", () => {
  const record = { kind: 'app' as const, settings: { statement_timeout: '30s', lock_timeout: '10s' }, verifier: verifierFingerprint(scramVerifier('a-password-of-sixteen-chars')) };

  it('round-trips, and anything else in a comment is no record', () => {
    expect(parseRecord(recordText(record))).toEqual(record);
    expect(recordText(record)).toMatch(/^jeex-db app role, as `jeex-db roles apply` left it/);
    for (const text of [null, '', 'our reporting role', 'jeex-db app role: {not json', 'jeex-db x {"kind":"app","settings":{"a":1},"verifier":null}']) expect(parseRecord(text)).toBeUndefined();
  });

  it('keeps a fingerprint of the verifier, not the verifier, and none without a password', () => {
    const verifier = scramVerifier('a-password-of-sixteen-chars');
    expect(verifierFingerprint(verifier)).toMatch(/^[0-9a-f]{64}$/);
    expect(recordText({ ...record, verifier: verifierFingerprint(verifier) })).not.toContain(verifier.split('$')[2] ?? 'x');
    expect(verifierFingerprint(null)).toBeNull();
  });

  it('names each managed setting that differs, and every per-database one (they override the role)', () => {
    expect(settingsDrift('jeex_app', record, ['statement_timeout=30s', 'lock_timeout=10s', 'work_mem=64MB'], [])).toEqual([]);
    expect(settingsDrift('jeex_app', record, ['statement_timeout=0', 'role=jeex_migrator'], [{ database: 'jeex', config: ['idle_session_timeout=0', 'work_mem=1GB'] }])).toEqual([
      'jeex_app: role is jeex_migrator (roles apply set none)',
      'jeex_app: statement_timeout is 0 (roles apply set 30s)',
      'jeex_app: lock_timeout is not set (roles apply set 10s)',
      "jeex_app in database jeex: idle_session_timeout = 0 overrides the role's default",
    ]);
  });
});
