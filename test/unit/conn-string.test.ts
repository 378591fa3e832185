import { describe, expect, it } from 'vitest';
import { clientTarget, postgresJsArgs, tlsFor } from '../../src/db/client-tls.ts';
import { resolveDbConfig } from '../../src/db/config.ts';
import { ConnStringError, formatConnString, maskConnString, parseConnString, withDatabase, withDefaultParams } from '../../src/db/conn-string.ts';
import { FailoverWindow } from '../../src/db/failover-window.ts';
import { RECONNECT_DELAYS_MS } from '../../src/db/gated-sql.ts';
import { HostList } from '../../src/db/host-list.ts';
import { fits, postgresJsSessionAttrs, sessionAttrs } from '../../src/db/session-attrs.ts';
import { maskUrl } from '../../src/db/url.ts';
import type { JeexDbError } from '../../src/core/errors.ts';

const reason = (text: string): string => {
  try {
    parseConnString(text);
  } catch (error) {
    if (error instanceof ConnStringError) return error.reason;
    throw error;
  }
  throw new Error(`${text} was read without complaint`);
};

describe('parseConnString', () => {
  it('reads a multi-host URL: every host and port in order, the login, the database, the parameters', () => {
    expect(parseConnString('postgres://u:p%40ss@h1:5432,h2:5433/jeex?target_session_attrs=primary&sslmode=verify-full')).toEqual({
      form: 'url',
      hosts: [
        { host: 'h1', port: 5432 },
        { host: 'h2', port: 5433 },
      ],
      user: 'u',
      password: 'p@ss',
      database: 'jeex',
      params: [
        ['target_session_attrs', 'primary'],
        ['sslmode', 'verify-full'],
      ],
    });
  });

  it('reads IPv6 addresses in brackets, default ports, Unix socket directories and postgresql://', () => {
    expect(parseConnString('postgresql://u@[::1]:5433,[fe80::1%25eth0],db.example.com/x').hosts).toEqual([
      { host: '::1', port: 5433 },
      { host: 'fe80::1%eth0', port: 5432 },
      { host: 'db.example.com', port: 5432 },
    ]);
    expect(parseConnString('postgres://u@%2Fvar%2Frun%2Fpostgresql:5433/x').hosts).toEqual([{ host: '/var/run/postgresql', port: 5433 }]);
  });

  it("lets the query give host, port and dbname, as libpq does", () => {
    const parsed = parseConnString('postgres://u@/x?host=a,b&port=1,2&dbname=y&application_name=app');
    expect(parsed.hosts).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ]);
    expect(parsed.database).toBe('y');
    expect(parsed.params).toEqual([['application_name', 'app']]);
  });

  it("reads libpq's key=value form with host lists, one port for all or one each, and quoted values", () => {
    expect(parseConnString("host=h1,h2 port=5432,5433 dbname=jeex user=u password='it\\'s x'")).toMatchObject({
      form: 'keywords',
      hosts: [
        { host: 'h1', port: 5432 },
        { host: 'h2', port: 5433 },
      ],
      user: 'u',
      database: 'jeex',
    });
    expect(parseConnString("host=h1,h2 port=6000 password='a b'").hosts).toEqual([
      { host: 'h1', port: 6000 },
      { host: 'h2', port: 6000 },
    ]);
    expect(parseConnString("host=h1 password='a b'").password).toBe('a b');
  });

  it('refuses bad input with a reason that names the part to fix and never the password', () => {
    expect(reason('mysql://u:pw@h/d')).toBe('must start with postgres:// or postgresql://, not mysql://');
    expect(reason('postgres://u:pw@h1:5432,[::1:5433/d')).toMatch(/IPv6 address without its closing "\]" \(\[::1:5433\)/);
    expect(reason('postgres://u:pw@::1/d')).toMatch(/IPv6 address .* without brackets: write \[/);
    expect(reason('postgres://u:pw@h1:99999/d')).toMatch(/port "99999" for host h1: a port is a whole number from 1 to 65535/);
    expect(reason('postgres://u:pw@h1:abc/d')).toMatch(/port "abc"/);
    expect(reason('postgres://u:pw@h1,,h2/d')).toMatch(/empty host in its list/);
    expect(reason('postgres://u:p%zz@h/d')).toMatch(/bad percent-encoding in its password/);
    expect(reason('host=a,b,c port=1,2')).toMatch(/2 ports for 3 hosts: give one port for all of them, or one for each/);
    expect(reason("host=a password='open")).toMatch(/unterminated quoted value for password/);
    expect(reason('just text with secret')).toMatch(/is not a URL .* nor a key=value string/);
    for (const text of ['postgres://u:topsecret@h1,,h2/d', 'postgres://u:topsecret@h1:abc/d', 'nonsense:topsecret@']) expect(reason(text)).not.toContain('topsecret');
  });

  it('formats a URL back that it reads the same (IPv6, several hosts, encoded values)', () => {
    const parsed = parseConnString("host=::1,h2 port=5432,5433 user=u password='p w/:@' dbname=my/db sslrootcert=/srv/ca.crt");
    const url = formatConnString(parsed);
    expect(url).toBe('postgres://u:p%20w%2F%3A%40@[::1]:5432,h2:5433/my%2Fdb?sslrootcert=/srv/ca.crt');
    expect({ ...parseConnString(url), form: 'keywords' }).toEqual(parsed);
  });
});

describe('maskUrl', () => {
  it('masks the password of a multi-host URL, a key=value string and an unreadable one, keeping the rest as written', () => {
    expect(maskUrl('postgres://app:s3cret@h1:5432,h2:5433/jeex?target_session_attrs=primary')).toBe('postgres://app:***@h1:5432,h2:5433/jeex?target_session_attrs=primary');
    expect(maskUrl('postgres://app:s3cret@[::1]:5432,[::2]:5433/jeex')).toBe('postgres://app:***@[::1]:5432,[::2]:5433/jeex');
    expect(maskConnString("host=h1,h2 password='s3 cret' user=app")).toBe('host=h1,h2 password=*** user=app');
    expect(maskConnString('postgres://app@h1/jeex?password=s3cret&sslmode=require')).toBe('postgres://app@h1/jeex?password=***&sslmode=require');
    expect(maskUrl('postgres://app:s3cret@h1,,h2/jeex')).toBe('postgres://app:***@h1,,h2/jeex');
    expect(maskUrl('postgres://app@h1,h2/jeex')).toBe('postgres://app@h1,h2/jeex');
  });
});

describe('edits that keep the string as written', () => {
  it('adds libpq default parameters and changes the database of a multi-host URL', () => {
    expect(withDefaultParams('postgres://u:p@h1,h2/d', { sslmode: 'verify-full', sslrootcert: '/x/ca.crt' })).toBe('postgres://u:p@h1,h2/d?sslmode=verify-full&sslrootcert=/x/ca.crt');
    expect(withDefaultParams('postgres://u:p@h1,h2/d?sslmode=disable', { sslmode: 'verify-full' })).toBe('postgres://u:p@h1,h2/d?sslmode=disable');
    expect(withDatabase('postgres://u:p@h1:5432,[::1]:5433/jeex?sslmode=require', 'postgres')).toBe('postgres://u:p@h1:5432,[::1]:5433/postgres?sslmode=require');
    expect(withDatabase('postgres://u:p@h1,h2', 'postgres')).toBe('postgres://u:p@h1,h2/postgres');
  });
});

describe('resolveDbConfig with several hosts', () => {
  const bare = { JEEX_DB_DATA_DIR: '/nonexistent/jeex-db-test' };

  it('accepts a multi-host DATABASE_URL, PGHOST/PGPORT lists and a key=value string', () => {
    expect(resolveDbConfig({}, { ...bare, DATABASE_URL: 'postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=primary' }).url).toBe('postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=primary');
    expect(resolveDbConfig({}, { ...bare, PGHOST: 'h1,::1', PGPORT: '5432,5433', PGUSER: 'u', PGPASSWORD: 'p w' }).url).toBe('postgres://u:p%20w@h1:5432,[::1]:5433/u');
    expect(resolveDbConfig({}, { ...bare, PGHOST: 'h1,h2', PGPORT: '6000' }).url).toBe('postgres://postgres@h1:6000,h2:6000/postgres');
    expect(resolveDbConfig({ url: 'host=h1,h2 port=1,2 dbname=d user=u' }, bare).url).toBe('postgres://u@h1:1,h2:2/d');
  });

  it('reports PGPORT lists that do not match PGHOST, and bad failover windows', () => {
    let problems: string[] = [];
    try {
      resolveDbConfig({}, { ...bare, PGHOST: 'a,b,c', PGPORT: '1,2', JEEX_DB_FAILOVER_WINDOW: 'soon' });
    } catch (error) {
      problems = ((error as JeexDbError).context?.problems as string[]) ?? [];
    }
    expect(problems).toEqual([
      'the PG* variables: give 2 ports for 3 hosts (PGHOST, PGPORT): give one port for all of them, or one for each',
      'JEEX_DB_FAILOVER_WINDOW must be a duration from 0 to 1h (a plain number is milliseconds), got "soon"',
    ]);
  });

  it('reads the failover window in the units grammar and the read URL', () => {
    const config = resolveDbConfig({}, { ...bare, DATABASE_URL: 'postgres://u@h/d', JEEX_DB_FAILOVER_WINDOW: '30s', JEEX_DB_READ_URL: 'postgres://ro@s1,s2/d?target_session_attrs=prefer-standby' });
    expect(config.failoverWindow).toBe(30_000);
    expect(config.readUrl).toBe('postgres://ro@s1,s2/d?target_session_attrs=prefer-standby');
    expect(resolveDbConfig({}, { ...bare, DATABASE_URL: 'postgres://u@h/d' })).toMatchObject({ failoverWindow: 2550 });
    expect(resolveDbConfig({}, { ...bare, DATABASE_URL: 'postgres://u@h/d' }).readUrl).toBeUndefined();
  });
});

describe('clientTarget with several hosts', () => {
  it('keeps every host, strips target_session_attrs for postgres.js, and gives postgres.js one host when jeex-db connects', () => {
    const target = clientTarget('postgres://u:p@[::1]:5432,h2:5433/d?target_session_attrs=read-write&application_name=x', {});
    expect(target.hosts).toEqual([
      { host: '::1', port: 5432 },
      { host: 'h2', port: 5433 },
    ]);
    expect(target.sessionAttrs).toBe('read-write');
    expect(target.url).toBe('postgres://u:p@[::1]:5432,h2:5433/d?application_name=x');
    expect(postgresJsArgs(target, { ownSocket: true }).options).toEqual({ host: ['::1'], port: [5432], target_session_attrs: 'primary' });
    expect(postgresJsArgs(target, { ownSocket: false }).options).toEqual({ host: ['::1', 'h2'], port: [5432, 5433], target_session_attrs: 'primary' });
  });

  it("verify-full checks each host's certificate against that host's own name", () => {
    const target = clientTarget('postgres://u@db1.example.com,10.0.0.2/d?sslmode=verify-full&sslrootcert=system', {});
    const [first, second] = target.hosts;
    if (!first || !second) throw new Error('two hosts expected');
    expect(tlsFor(target, first)?.tls).toMatchObject({ servername: 'db1.example.com', rejectUnauthorized: true });
    expect(tlsFor(target, first)?.tls.host).toBeUndefined();
    expect(tlsFor(target, second)?.tls).toMatchObject({ host: '10.0.0.2', rejectUnauthorized: true });
    expect(tlsFor(target, second)?.tls.servername).toBeUndefined();
    expect(tlsFor(target, second)?.tls.checkServerIdentity).toBeUndefined();
  });

  it('refuses an unknown target_session_attrs and load_balance_hosts=random', () => {
    expect(() => clientTarget('postgres://u@h1,h2/d?target_session_attrs=master', {})).toThrow(/target_session_attrs=master is not one of any, read-write, read-only, primary, standby, prefer-standby/);
    expect(() => clientTarget('postgres://u@h1,h2/d?load_balance_hosts=random', {})).toThrow(/load_balance_hosts=random is not supported/);
    expect(clientTarget('postgres://u@h1,h2/d', { PGTARGETSESSIONATTRS: 'primary' }).sessionAttrs).toBe('primary');
  });
});

describe('target_session_attrs', () => {
  it("means what libpq means, and maps to postgres.js values that do", () => {
    const primary = { inHotStandby: false, defaultReadOnly: false };
    const standby = { inHotStandby: true, defaultReadOnly: false };
    expect([fits('read-write', primary), fits('read-write', standby)]).toEqual([true, false]);
    expect([fits('primary', primary), fits('primary', standby)]).toEqual([true, false]);
    expect([fits('standby', primary), fits('standby', standby)]).toEqual([false, true]);
    expect([fits('read-only', primary), fits('read-only', standby), fits('read-only', { inHotStandby: false, defaultReadOnly: true })]).toEqual([false, true, true]);
    expect(fits('read-write', { inHotStandby: false, defaultReadOnly: true })).toBe(false);
    expect(fits('primary', {})).toBe(true);
    expect(sessionAttrs(undefined, {})).toBe('any');
    expect(['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'].map((v) => postgresJsSessionAttrs(sessionAttrs(v, {})))).toEqual([undefined, 'primary', 'standby', 'primary', 'standby', undefined]);
  });
});

describe('HostList order', () => {
  it('tries the hosts in order, and those that failed lately after the others', () => {
    let now = 0;
    const hosts = new HostList(
      [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
        { host: 'c', port: 3 },
      ],
      { tls: () => undefined, connectTimeoutMs: 1000, now: () => now },
    );
    expect(hosts.order().map((h) => h.host)).toEqual(['a', 'b', 'c']);
    hosts.markFailed({ host: 'a', port: 1 });
    now = 10;
    hosts.markFailed({ host: 'b', port: 2 });
    expect(hosts.order().map((h) => h.host)).toEqual(['c', 'a', 'b']);
    now = 40_000;
    expect(hosts.order().map((h) => h.host)).toEqual(['a', 'b', 'c']);
  });
});

describe('FailoverWindow', () => {
  it('by default pauses as the healing did (2.55 s in all), then gives up', () => {
    let now = 0;
    const window = new FailoverWindow(2550, () => now);
    const pauses: number[] = [];
    for (let pause = window.next(); pause !== undefined; pause = window.next()) {
      pauses.push(pause);
      now += pause + 1;
    }
    expect(pauses).toEqual([50, 100, 200, 400, 800, 995]);
    expect(RECONNECT_DELAYS_MS.reduce((a, b) => a + b, 0)).toBe(2550);
  });

  it('goes on with 1 s pauses for a longer window and says what happened after it', () => {
    let now = 0;
    const window = new FailoverWindow(10_000, () => now);
    let count = 0;
    for (let pause = window.next(); pause !== undefined; pause = window.next()) {
      count++;
      now += pause;
    }
    expect(now).toBe(10_000);
    expect(count).toBe(14);
    const error = window.expired(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 1 }));
    expect(error.code).toBe('CONNECTION_FAILED');
    expect(error.message).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED\); it was sent 15 times over the failover window of 10s \(JEEX_DB_FAILOVER_WINDOW\) and never reached a server that could run it: nothing of it ran/);
    expect(error.hint).toMatch(/raise JEEX_DB_FAILOVER_WINDOW/);
    expect(error.context).toMatchObject({ failoverWindowMs: 10_000, attempts: 15, elapsedMs: 10_000 });
  });
});
