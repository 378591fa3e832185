import { describe, expect, it } from 'vitest';
import { classifyLogRecord, logTime } from '../../src/ops/audit/events.ts';
import { parseSince } from '../../src/ops/audit/timeline.ts';

// Lines as PostgreSQL 18's jsonlog writes them (log_connections = 'receipt,authentication,authorization').
const LINES = {
  received: '{"timestamp":"2026-11-25 19:24:44.844 UTC","pid":12205,"remote_host":"127.0.0.1","remote_port":57976,"session_id":"6b0735fc.2fad","line_num":1,"ps":"","session_start":"2026-11-25 19:24:44 UTC","txid":0,"error_severity":"LOG","message":"connection received: host=127.0.0.1 port=57976","backend_type":"not initialized","query_id":0}',
  failed: '{"timestamp":"2026-11-25 19:24:44.853 UTC","user":"jeex_app","dbname":"jeex","pid":12205,"remote_host":"127.0.0.1","remote_port":57976,"error_severity":"FATAL","state_code":"28P01","message":"password authentication failed for user \\"jeex_app\\"","detail":"Connection matched file \\"pg_hba.conf\\" line 6","backend_type":"client backend"}',
  authorized: '{"timestamp":"2026-11-25 19:24:44.994 UTC","user":"x_app","dbname":"jeex","pid":12212,"remote_host":"127.0.0.1","error_severity":"LOG","message":"connection authorized: user=x_app database=jeex application_name=psql","backend_type":"client backend"}',
  denied: '{"timestamp":"2026-11-25 19:24:44.996 UTC","user":"x_app","dbname":"jeex","pid":12212,"remote_host":"127.0.0.1","error_severity":"ERROR","state_code":"42501","message":"permission denied for schema jeex_migrations","statement":"select * from jeex_migrations.ledger","application_name":"psql"}',
  idle: '{"timestamp":"2026-11-25 19:25:00.001 UTC","user":"jeex_app","dbname":"jeex","pid":12300,"remote_host":"127.0.0.1","error_severity":"FATAL","state_code":"57P05","message":"terminating connection due to idle-session timeout"}',
  statement: '{"timestamp":"2026-11-25 19:25:01.000 UTC","user":"jeex_app","dbname":"jeex","pid":12301,"remote_host":"127.0.0.1","error_severity":"LOG","message":"execute s1: SELECT * FROM users WHERE id = $1"}',
  password: '{"timestamp":"2026-11-25 19:25:02.000 UTC","user":"postgres","dbname":"jeex","pid":12302,"error_severity":"ERROR","state_code":"42501","message":"permission denied to alter role","statement":"ALTER ROLE x PASSWORD \'hunter2-secret\'"}',
  checkpoint: '{"timestamp":"2026-11-25 19:25:03.000 UTC","pid":10,"error_severity":"LOG","message":"checkpoint starting: time","backend_type":"checkpointer"}',
};
const event = (name: keyof typeof LINES) => classifyLogRecord(JSON.parse(LINES[name]) as object);

describe('reading the JSON server log for the audit', () => {
  it('reads the log timestamp (UTC) as ISO', () => {
    expect(logTime('2026-11-25 19:24:44.844 UTC')).toBe('2026-11-25T19:24:44.844Z');
    expect(logTime(undefined)).toBeUndefined();
  });

  it('classifies connections, failed logins, denied statements, idle closes and statements', () => {
    expect(event('received')).toMatchObject({ kind: 'connection', action: 'received', clientAddr: '127.0.0.1', at: '2026-11-25T19:24:44.844Z' });
    expect(event('authorized')).toMatchObject({ kind: 'connection', action: 'authorized', role: 'x_app', database: 'jeex' });
    expect(event('failed')).toMatchObject({ kind: 'failure', action: 'authentication failed', role: 'jeex_app', sqlState: '28P01', clientAddr: '127.0.0.1' });
    expect(event('denied')).toMatchObject({ kind: 'denied', sqlState: '42501', statement: 'select * from jeex_migrations.ledger', application: 'psql' });
    expect(event('idle')).toMatchObject({ kind: 'failure', action: 'closed: idle-session timeout', sqlState: '57P05' });
    expect(event('statement')).toMatchObject({ kind: 'statement', statement: 'SELECT * FROM users WHERE id = $1' });
    expect(event('checkpoint')).toBeUndefined();
  });

  it('masks a password in a logged statement', () => {
    expect(event('password')?.statement).toBe("ALTER ROLE x PASSWORD '***'");
  });

  it('--since takes a duration back from now or a time', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    expect(parseSince('1h', now).toISOString()).toBe('2026-01-01T11:00:00.000Z');
    expect(parseSince('30min', now).toISOString()).toBe('2026-01-01T11:30:00.000Z');
    expect(parseSince('2025-12-31T00:00:00Z', now).toISOString()).toBe('2025-12-31T00:00:00.000Z');
    expect(() => parseSince('yesterday-ish', now)).toThrow(/neither a time nor a duration/);
  });
});
