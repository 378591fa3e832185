import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { diagnose } from '../../src/ops/diagnose/diagnose.ts';
import type { DiagnoseReport } from '../../src/ops/diagnose/types.ts';
import { checkHealth } from '../../src/ops/health/check-health.ts';
import { expectExit, localEnv, parseJson, runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { withDatabase } from '../helpers/urls.ts';

// A check the role cannot run reports itself unavailable, never passes by absence: diagnose as
// the real monitoring role (pg_monitor), whose pg_sequences.last_value and pg_stats are NULL or
// empty for objects it may not read; health as a role without pg_read_all_stats.
const t = useTestDatabase();
const server = inject('testServer');
const monitorUrl = () => withDatabase(server.adminUrl, t.name, server.monitor);
let monitor: Sql;
const bare = { user: `jeex_nostats_${randomBytes(3).toString('hex')}`, password: randomBytes(18).toString('base64url') };

beforeAll(async () => {
  monitor = connect(monitorUrl(), { max: 2, onnotice: () => {} });
  // A sequence near its limit: the superuser sees it, the monitoring role may not read it.
  await t.admin.unsafe(`CREATE SEQUENCE public.priv_probe_seq AS integer MAXVALUE 100`);
  await t.admin.unsafe(`SELECT setval('public.priv_probe_seq', 97)`);
  await t.admin.unsafe(`CREATE ROLE ${bare.user} LOGIN PASSWORD '${bare.password}'`);
  await t.admin.unsafe(`GRANT CONNECT ON DATABASE ${t.name} TO ${bare.user}`);
});
afterAll(async () => {
  await monitor?.end();
  await t.admin?.unsafe(`DROP SEQUENCE IF EXISTS public.priv_probe_seq`);
  await t.admin?.unsafe(`REVOKE ALL ON DATABASE ${t.name} FROM ${bare.user}`);
  await t.admin?.unsafe(`DROP ROLE IF EXISTS ${bare.user}`);
});

describe('diagnose as the monitoring role', () => {
  it('reports the sequence check unavailable, naming the role and the privilege; the superuser sees the sequence', async () => {
    const asSuperuser = await diagnose(t.admin, { explain: false });
    expect(asSuperuser.findings.filter((f) => f.kind === 'check-unavailable')).toEqual([]);
    expect(asSuperuser.findings.find((f) => f.kind === 'sequence-limit' && f.subject === 'public.priv_probe_seq')).toMatchObject({ severity: 'critical' });

    const asMonitor = await diagnose(monitor, { explain: false });
    expect(asMonitor.findings.find((f) => f.kind === 'sequence-limit' && f.subject === 'public.priv_probe_seq')).toBeUndefined();
    const unavailable = asMonitor.findings.find((f) => f.kind === 'check-unavailable' && f.subject === 'sequences');
    expect(unavailable).toMatchObject({ severity: 'warn' });
    expect(unavailable?.detail).toMatch(new RegExp(`^role ${server.monitor.user} cannot see \\d+ of \\d+ sequence\\(s\\) \\(.*\\): pg_sequences\\.last_value is NULL without USAGE or SELECT on a sequence \\(pg_monitor does not grant it\\)`));
    expect(unavailable?.fix).toContain(`GRANT SELECT ON ALL SEQUENCES IN SCHEMA <schema> TO ${server.monitor.user};`);
    // The bloat estimate reads pg_stats, which hides the columns of tables the role may not read.
    const bloat = asMonitor.findings.find((f) => f.kind === 'check-unavailable' && f.subject === 'bloat estimate');
    expect(bloat?.detail).toMatch(new RegExp(`^role ${server.monitor.user} cannot see the statistics of \\d+ of \\d+ table\\(s\\)`));
    expect(asMonitor.counts.warn).toBeGreaterThanOrEqual(2);
  });

  it('`jeex-db diagnose --json` as jeex_monitor prints the finding', async () => {
    const result = await runCli(['diagnose', '--url', monitorUrl(), '--json'], localEnv());
    const report = parseJson<DiagnoseReport & { exitCode: number }>(result);
    // A warn is no failure: the exit code stays that of the critical findings it could see.
    expectExit(result, report.ok ? 0 : 1);
    expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'check-unavailable', subject: 'sequences', severity: 'warn' })]));
  });
});

describe('health as a role without pg_read_all_stats', () => {
  it('the session checks say unavailable instead of passing on rows pg_stat_activity hides', async () => {
    const holder = await t.admin.reserve();
    const sql = connect(withDatabase(server.adminUrl, t.name, bare), { max: 1, onnotice: () => {} });
    try {
      await holder`BEGIN`;
      await holder`SELECT txid_current()`;
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const seen = await checkHealth(monitor, { env: {} });
      expect(Number(seen.checks['postgresql:transactionAge']?.[0]?.observedValue)).toBeGreaterThanOrEqual(1);

      const hidden = await checkHealth(sql, { env: {} });
      for (const key of ['postgresql:transactionAge', 'postgresql:idleInTransaction', 'postgresql:idleInTransactionAge']) {
        expect(hidden.checks[key]?.[0], key).toMatchObject({ observedValue: null, status: 'warn' });
        expect(hidden.checks[key]?.[0]?.output, key).toMatch(/^unavailable: this role is not a member of pg_read_all_stats, so pg_stat_activity hides .*GRANT pg_monitor TO <role>/);
      }
    } finally {
      await holder`ROLLBACK`;
      holder.release();
      await sql.end();
    }
  });
});
