import { describe, expect, it } from 'vitest';
import { samePgBouncer } from '../../src/serve/serve-until.ts';

// Whether serve's probe of the app's URL goes through the PgBouncer whose console it reads. It
// used `new URL`, which reads neither libpq's key=value form nor a host list: both were "not that
// PgBouncer", so the readiness probe and pool checks were judged as a direct connection.
describe('samePgBouncer: is the app URL that PgBouncer?', () => {
  const console = 'postgres://pgbouncer:pw@127.0.0.1:6432/pgbouncer';

  it('the same host and port, in a URL or in key=value form', () => {
    expect(samePgBouncer('postgres://app:pw@127.0.0.1:6432/jeex', console)).toBe(true);
    expect(samePgBouncer('host=127.0.0.1 port=6432 dbname=jeex user=app', console)).toBe(true);
    expect(samePgBouncer('host=127.0.0.1 port=6432 dbname=pgbouncer', 'postgres://127.0.0.1:6432/pgbouncer')).toBe(true);
  });

  it('one of several hosts is enough; IPv6 in brackets; the default port', () => {
    expect(samePgBouncer('postgres://app@10.0.0.9:5432,127.0.0.1:6432/jeex?target_session_attrs=read-write', console)).toBe(true);
    expect(samePgBouncer('postgres://app@[::1]:6432/jeex', 'postgres://pgbouncer@[::1]:6432/pgbouncer')).toBe(true);
    expect(samePgBouncer('postgres://app@db.internal/jeex', 'host=db.internal dbname=pgbouncer')).toBe(true);
  });

  it('another port or host is not; nor a string that cannot be read, nor a missing one', () => {
    expect(samePgBouncer('postgres://app@127.0.0.1:5432/jeex', console)).toBe(false);
    expect(samePgBouncer('host=10.0.0.9 port=6432 dbname=jeex', console)).toBe(false);
    expect(samePgBouncer('not a connection string', console)).toBe(false);
    expect(samePgBouncer(undefined, console)).toBe(false);
  });
});
