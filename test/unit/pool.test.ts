import { describe, expect, it } from 'vitest';
import { reconnectDelay } from '../../src/db/create-db.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { describeOperation, isIdempotentRead, neverReachedServer } from '../../src/db/gated-sql.ts';
import { PoolGate } from '../../src/db/pool-gate.ts';
import { rejection } from '../helpers/rejections.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PoolGate', () => {
  it('lends up to max slots at once and queues the rest', async () => {
    const gate = new PoolGate('app@db', 2, 10, 1000);
    const first = await gate.acquire();
    await gate.acquire();
    expect(gate.state()).toEqual({ max: 2, used: 2, pending: 0, timeouts: 0 });
    let granted = false;
    const third = gate.acquire().then((release) => ((granted = true), release));
    await sleep(10);
    expect(granted).toBe(false);
    expect(gate.state()).toMatchObject({ used: 2, pending: 1 });
    first();
    const release = await third;
    expect(granted).toBe(true);
    expect(gate.state()).toMatchObject({ used: 2, pending: 0 });
    // Releasing twice gives back one slot, not two.
    release();
    release();
    expect(gate.state().used).toBe(1);
  });

  it('grants waiting requests in arrival order', async () => {
    const gate = new PoolGate('app@db', 1, 10, 1000);
    const holder = await gate.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map((n) =>
      gate.acquire().then((release) => {
        order.push(n);
        release();
      }),
    );
    holder();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(gate.state()).toEqual({ max: 1, used: 0, pending: 0, timeouts: 0 });
  });

  it('a newcomer does not overtake the queue when a slot frees', async () => {
    const gate = new PoolGate('app@db', 1, 10, 1000);
    const holder = await gate.acquire();
    const order: string[] = [];
    const queued = gate.acquire().then((release) => (order.push('queued'), release()));
    holder();
    const late = gate.acquire().then((release) => (order.push('late'), release()));
    await Promise.all([queued, late]);
    expect(order).toEqual(['queued', 'late']);
  });

  it('fails a request that waits longer than the acquisition timeout, naming the state it saw', async () => {
    const gate = new PoolGate('app@db', 2, 10, 50);
    await gate.acquire();
    await gate.acquire();
    const started = performance.now();
    const error = await rejection(gate.acquire());
    const waited = performance.now() - started;
    expect(error.code).toBe('POOL_TIMEOUT');
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(500);
    expect(error.message).toBe('no database connection within 50 ms (pool "app@db": 2/2 connections in use, 1 waiting (queue limit 10))');
    expect(error.hint).toMatch(/JEEX_DB_POOL_MAX/);
    expect(error.context).toMatchObject({ used: 2, pending: 1, timeouts: 1, acquireTimeoutMs: 50 });
    expect(gate.state()).toEqual({ max: 2, used: 2, pending: 0, timeouts: 1 });
  });

  it('a timed-out request leaves the queue: the next free slot goes to the one behind it', async () => {
    const gate = new PoolGate('app@db', 1, 10, 200);
    const holder = await gate.acquire();
    const first = gate.acquire();
    await sleep(100);
    const second = gate.acquire();
    const firstError = await rejection(first);
    expect(firstError.code).toBe('POOL_TIMEOUT');
    holder();
    const release = await second;
    expect(gate.state()).toMatchObject({ used: 1, pending: 0, timeouts: 1 });
    release();
  });

  it('refuses at once when the queue is full', async () => {
    const gate = new PoolGate('app@db', 1, 2, 5000);
    await gate.acquire();
    const queued = [gate.acquire(), gate.acquire()];
    const started = performance.now();
    const error = await rejection(gate.acquire());
    expect(performance.now() - started).toBeLessThan(50);
    expect(error.code).toBe('POOL_TIMEOUT');
    expect(error.message).toMatch(/the wait queue is full \(pool "app@db": 1\/1 connections in use, 2 waiting \(queue limit 2\)\)/);
    expect(gate.state()).toMatchObject({ used: 1, pending: 2, timeouts: 1 });
    gate.drain();
    await Promise.allSettled(queued);
  });

  it('with a queue of 0, a request beyond max fails at once', async () => {
    const gate = new PoolGate('app@db', 1, 0, 5000);
    await gate.acquire();
    expect((await rejection(gate.acquire())).code).toBe('POOL_TIMEOUT');
  });

  it('drain fails every waiting request (not as a timeout) and keeps lent slots', async () => {
    const gate = new PoolGate('app@db', 1, 10, 60_000);
    const holder = await gate.acquire();
    const waiting = [gate.acquire(), gate.acquire()];
    gate.drain();
    const errors = await Promise.all(waiting.map((w) => rejection(w)));
    expect(errors.map((e) => e.code)).toEqual(['CONNECTION_FAILED', 'CONNECTION_FAILED']);
    expect(errors[0]?.message).toMatch(/closed while this request waited/);
    expect(gate.state()).toEqual({ max: 1, used: 1, pending: 0, timeouts: 0 });
    holder();
    expect(gate.state().used).toBe(0);
  });

  it('errors are JeexDbErrors', async () => {
    const gate = new PoolGate('p', 1, 0, 10);
    await gate.acquire();
    await expect(gate.acquire()).rejects.toBeInstanceOf(JeexDbError);
  });
});

describe('describeOperation', () => {
  it.each([
    ['select "id", "email" from "users" where "users"."id" = $1', 'SELECT', 'users'],
    ['insert into "document_versions" ("id", "project_id") values ($1, $2) returning "id"', 'INSERT', 'document_versions'],
    ['update "projects" set "name" = $1 where "id" = $2', 'UPDATE', 'projects'],
    ['delete from "exports" where "id" = $1', 'DELETE', 'exports'],
    ['SELECT * FROM public.users u JOIN projects p ON p.owner_id = u.id', 'SELECT', 'users'],
    ['  -- a comment\n  select 1', 'SELECT', undefined],
    ['begin', 'BEGIN', undefined],
    ['', 'UNKNOWN', undefined],
  ])('%j -> %s %s', (text, operation, collection) => {
    expect(describeOperation(text)).toEqual(collection ? { operation, collection } : { operation });
  });
});

describe('isIdempotentRead', () => {
  it.each([
    'select * from users where id = $1',
    'SELECT pg_sleep(1)',
    'WITH recent AS (SELECT * FROM document_versions) SELECT count(*) FROM recent',
    'show server_version',
    'VALUES (1), (2)',
    'TABLE users',
    "select 'please update the docs' as note",
    'select "updated_at" from projects',
  ])('%j is a read', (text) => {
    expect(isIdempotentRead(text)).toBe(true);
  });

  it.each([
    'insert into users (email) values ($1)',
    'update projects set name = $1',
    'delete from users',
    'WITH moved AS (DELETE FROM a RETURNING *) SELECT * FROM moved',
    'WITH x AS (INSERT INTO a VALUES (1) RETURNING *) SELECT * FROM x',
    'select * from projects where id = $1 for update',
    'select * from projects for no key update',
    'select * from projects for share',
    "select nextval('users_seq')",
    'select pg_advisory_lock(1)',
    "select pg_notify('events', 'x')",
    'MERGE INTO users USING staged ON true WHEN MATCHED THEN DO NOTHING',
    'begin',
    'call refresh()',
  ])('%j is not', (text) => {
    expect(isIdempotentRead(text)).toBe(false);
  });
});

describe('reconnectDelay', () => {
  it('starts at tens of milliseconds and never exceeds a second (postgres.js would wait up to 20 s)', () => {
    for (let i = 0; i < 50; i++) {
      expect(reconnectDelay(1)).toBeGreaterThanOrEqual(0.025);
      expect(reconnectDelay(1)).toBeLessThanOrEqual(0.05);
      expect(reconnectDelay(30)).toBeGreaterThanOrEqual(0.5);
      expect(reconnectDelay(30)).toBeLessThanOrEqual(1);
    }
  });
});

describe('neverReachedServer: statements that may be sent again whatever they do', () => {
  const pgError = (message: string, code: string) => Object.assign(new Error(message), { name: 'PostgresError', code, severity_local: 'FATAL' });
  const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, address: '127.0.0.1', port: 1 });

  it('is true when the connection could not be opened or the server turned it away before the query', () => {
    for (const error of [
      socketError('ECONNREFUSED'),
      socketError('ENOTFOUND'),
      Object.assign(new Error('write CONNECT_TIMEOUT 127.0.0.1:1'), { code: 'CONNECT_TIMEOUT' }),
      pgError('the database system is starting up', '57P03'),
      pgError('the database system is shutting down', '57P03'),
      pgError('server login has been failing, try again later (server_login_retry)', '08P01'),
      new Error('Failed query', { cause: pgError('pgbouncer cannot connect to server', '08P01') }),
    ]) {
      expect(neverReachedServer(error), error.message).toBe(true);
    }
  });

  it('is false when the query may have run, or when sending it again would not help', () => {
    for (const error of [
      socketError('ECONNRESET'),
      pgError('terminating connection due to administrator command', '57P01'),
      pgError('server conn crashed?', '08P01'),
      pgError('query_wait_timeout', '08P01'),
      pgError('duplicate key value violates unique constraint "users_email_key"', '23505'),
      Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:1'), { code: 'CONNECTION_CLOSED' }),
    ]) {
      expect(neverReachedServer(error), error.message).toBe(false);
    }
  });
});
