import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { guardSocket, ServerMessages, syncsIn } from '../../src/db/guarded-socket.ts';

/** A protocol message: type byte, int32 length (itself included), body. */
function message(type: string, body: Buffer | string = ''): Buffer {
  const content = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(content.length + 4, 1);
  return Buffer.concat([header, content]);
}
const ready = (status: 'I' | 'T' | 'E') => message('Z', status);
function errorResponse(fields: Record<string, string>): Buffer {
  return message('E', Buffer.concat([...Object.entries(fields).map(([k, v]) => Buffer.from(`${k}${v}\0`)), Buffer.from([0])]));
}
const authOk = message('R', Buffer.alloc(4));
const row = message('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x31]));
const complete = message('C', 'SELECT 1\0');
const fatal = errorResponse({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection due to administrator command' });
const bouncerFatal = errorResponse({ S: 'FATAL', C: '08P01', M: 'server conn crashed?' });
const plainError = errorResponse({ S: 'ERROR', V: 'ERROR', C: '22012', M: 'division by zero' });

/** Feed `stream` in pieces of `size` bytes; what postgres.js would receive, joined. */
function feed(messages: ServerMessages, stream: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(messages.pass(stream.subarray(i, i + size)));
  return Buffer.concat(out);
}

describe('ServerMessages', () => {
  it('hands chunks on untouched and sees login, statements and the transaction status', () => {
    let readyCalls = 0;
    const messages = new ServerMessages(() => readyCalls++);
    const login = Buffer.concat([authOk, ready('I')]);
    expect(messages.pass(login)).toBe(login);
    expect(readyCalls).toBe(1);
    expect(messages.ready).toBe(true);
    expect(messages.readies).toBe(0);
    const statement = Buffer.concat([row, complete, ready('T')]);
    expect(messages.pass(statement)).toBe(statement);
    expect(messages).toMatchObject({ readies: 1, status: 'T' });
  });

  it.each([1, 2, 3, 7, 1000])('gives the same result in pieces of %i bytes', (size) => {
    const stream = Buffer.concat([authOk, ready('I'), row, plainError, ready('E'), complete, fatal]);
    const messages = new ServerMessages(() => {});
    const passed = feed(messages, stream, size);
    expect(passed).toEqual(Buffer.concat([authOk, ready('I'), row, plainError, ready('E'), complete]));
    expect(messages).toMatchObject({ ready: true, readies: 1, status: 'E' });
    expect(messages.fatal).toMatchObject({ name: 'PostgresError', code: '57P01', severity: 'FATAL', message: 'terminating connection due to administrator command' });
  });

  it("holds back PgBouncer's FATAL errors too (severity in 'S' only)", () => {
    const messages = new ServerMessages(() => {});
    messages.pass(ready('I'));
    expect(messages.pass(bouncerFatal).length).toBe(0);
    expect(messages.fatal).toMatchObject({ code: '08P01', severity: 'FATAL', message: 'server conn crashed?' });
  });

  it('leaves errors during login to postgres.js', () => {
    const messages = new ServerMessages(() => {}, 1);
    const refused = errorResponse({ S: 'FATAL', V: 'FATAL', C: '28P01', M: 'password authentication failed for user "x"' });
    expect(messages.pass(refused)).toEqual(refused);
    expect(messages.fatal).toBeUndefined();
  });

  it('answers the setup statement itself when a FATAL error meets it', () => {
    const messages = new ServerMessages(() => {}, 1);
    expect(messages.pass(ready('I'))).toEqual(ready('I'));
    expect(messages.inService).toBe(false);
    // PgBouncer cannot reach the server: the array-type lookup gets a FATAL error.
    expect(messages.pass(bouncerFatal).length).toBe(0);
    expect(messages).toMatchObject({ fatalInSetup: true, inService: false });
    expect(messages.answerSetup()).toEqual(Buffer.concat([message('C', 'SELECT 0\0'), ready('I')]));
    expect(messages).toMatchObject({ inService: true, status: 'I' });
    expect(messages.fatal).toMatchObject({ code: '08P01', message: 'server conn crashed?' });
  });

  it('is in service once the setup statement answered', () => {
    const messages = new ServerMessages(() => {}, 1);
    messages.pass(Buffer.concat([ready('I'), row, complete, ready('I')]));
    expect(messages.inService).toBe(true);
    expect(messages.pass(bouncerFatal).length).toBe(0);
    expect(messages.fatalInSetup).toBe(false);
  });

  it('stops framing, and hands everything on, when the stream is not the protocol', () => {
    const messages = new ServerMessages(() => {});
    messages.pass(ready('I'));
    const garbage = Buffer.from([0x45, 0, 0, 0, 1, 9, 9, 9]);
    expect(messages.pass(garbage)).toEqual(garbage);
    expect(messages.pass(fatal)).toBe(fatal);
  });
});

describe('syncsIn', () => {
  it('counts the statements a write asks answers for', () => {
    const parse = message('P', '\0SELECT 1\0\0\0');
    const bind = message('B', Buffer.alloc(8));
    const execute = message('E', Buffer.from([0, 0, 0, 0, 0]));
    expect(syncsIn(Buffer.concat([parse, bind, execute, message('S')]))).toBe(1);
    expect(syncsIn(Buffer.concat([message('Q', 'begin\0'), message('Q', 'select 1\0')]))).toBe(2);
    expect(syncsIn(Buffer.concat([parse, message('D', 'S\0'), message('H')]))).toBe(0);
  });

  it('says so when a write is not whole messages', () => {
    expect(syncsIn(message('Q', 'select 1\0').subarray(0, 7))).toBe(-1);
  });
});

describe('guardSocket', () => {
  it('a FATAL error held back wins over the EPIPE that follows it (over TLS the write often breaks first)', () => {
    const socket = new Socket();
    guardSocket(socket, { address: '127.0.0.1', port: 6432, setupStatements: 0, onReady: () => {} });
    const errors: Error[] = [];
    socket.on('error', (error) => errors.push(error));
    socket.on('data', () => {});
    socket.emit('data', Buffer.concat([authOk, ready('I')]));
    socket.emit('data', bouncerFatal);
    socket.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(errors.map((e) => [e.message, (e as { code?: string }).code])).toEqual([['server conn crashed?', '08P01']]);
    socket.destroy();
  });
});
