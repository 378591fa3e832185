import { describe, expect, it } from 'vitest';
import { parseLsn } from '../../src/ops/backup/wal.ts';
import { primaryConninfo, renderStandbyConf } from '../../src/ops/ha/standby-config.ts';
import { quorumStandbyNames } from '../../src/ops/ha/sync.ts';
import { judgeRejoin } from '../../src/ops/ha/timeline.ts';

const at = (timeline: number, lsn: string) => ({ timeline, lsn: parseLsn(lsn) });

describe('judgeRejoin: may a stopped cluster follow the primary without a re-seed', () => {
  const history = [{ timeline: 1, switchLsn: '0/5000100', reason: 'no recovery target specified' }];

  it('accepts a standby on the primary timeline, however far behind', () => {
    expect(judgeRejoin(at(2, '0/3000000'), 2, history).ok).toBe(true);
  });

  it('accepts an old primary whose WAL ends exactly at, or before, the switch point (nothing of its own)', () => {
    expect(judgeRejoin(at(1, '0/5000100'), 2, history).ok).toBe(true);
    expect(judgeRejoin(at(1, '0/4FFFFF8'), 2, history).ok).toBe(true);
  });

  it('refuses an old primary that wrote past the switch point, naming both positions', () => {
    const verdict = judgeRejoin(at(1, '0/5000108'), 2, history);
    expect(verdict).toMatchObject({ ok: false, switchLsn: '0/5000100' });
    expect(verdict.reason).toBe('it wrote WAL on timeline 1 up to 0/5000108, past 0/5000100 where the primary left timeline 1 for 2: those transactions are not on the primary');
  });

  it('follows a history of several switches: the one that left our timeline counts', () => {
    const long = [
      { timeline: 1, switchLsn: '0/3000000', reason: '' },
      { timeline: 2, switchLsn: '0/7000000', reason: '' },
    ];
    expect(judgeRejoin(at(2, '0/6000000'), 3, long).ok).toBe(true);
    const refused = judgeRejoin(at(2, '0/7000028'), 3, long);
    expect(refused.ok).toBe(false);
    expect(refused.reason).toContain('left timeline 2 for 3');
    expect(judgeRejoin(at(1, '0/3000028'), 3, long).reason).toContain('left timeline 1 for 2');
  });

  it('refuses a newer timeline than the primary, and a timeline not in its history', () => {
    expect(judgeRejoin(at(3, '0/1000000'), 2, history).ok).toBe(false);
    expect(judgeRejoin(at(4, '0/1000000'), 5, history).reason).toContain('not in the primary');
  });
});

describe('standby configuration', () => {
  const settings = { primary: { host: '127.0.0.1', port: 5418 }, user: 'jeex_replicator', passFile: "/srv/it's here/replication.pgpass", rootCert: '/srv/db/tls/ca.crt', name: 'standby_5419', slot: 'standby_5419', archiveDir: '/srv/db/backups/wal' };

  it('connects over TLS 1.3 with the certificate checked against the host, the password in a file', () => {
    const conninfo = primaryConninfo(settings);
    expect(conninfo).toContain('sslmode=verify-full sslrootcert=/srv/db/tls/ca.crt ssl_min_protocol_version=TLSv1.3');
    expect(conninfo).toContain("passfile='/srv/it\\'s here/replication.pgpass'");
    expect(conninfo).toContain('application_name=standby_5419');
    expect(conninfo).not.toMatch(/password=/);
  });

  it('writes the slot, the archive as restore_command, a 1 s retry and the latest timeline; the conninfo quoted once more for postgresql.conf', () => {
    const conf = renderStandbyConf(settings);
    expect(conf).toContain("primary_slot_name = 'standby_5419'");
    expect(conf).toContain(`restore_command = 'cp /srv/db/backups/wal/%f "%p"'`);
    expect(conf).toContain("wal_retrieve_retry_interval = '1s'");
    expect(conf).toContain("recovery_target_timeline = 'latest'");
    expect(conf).toContain("passfile=''/srv/it\\''s here/replication.pgpass''");
  });

  it('without TLS on the primary says so (sslmode=disable), never silently prefer', () => {
    const { rootCert: _drop, ...plain } = settings;
    expect(primaryConninfo(plain)).toContain('sslmode=disable');
  });

  it('quorum commit: ANY 1 of the standbys named, quoted; none is asynchronous', () => {
    expect(quorumStandbyNames(['standby_5419'])).toBe('ANY 1 ("standby_5419")');
    expect(quorumStandbyNames(['a', 'b'])).toBe('ANY 1 ("a", "b")');
    expect(quorumStandbyNames([])).toBe('');
    // A rule the operator chose keeps its method and count when a standby is added.
    expect(quorumStandbyNames(['a', 'b', 'c'], 2, 'first')).toBe('FIRST 2 ("a", "b", "c")');
  });
});
