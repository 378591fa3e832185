import { describe, expect, it } from 'vitest';
import { UnnamedStatements } from '../../src/db/unnamed-statements.ts';

// Frontend messages as postgres.js builds them (type byte, int32 length, body).
const msg = (type: string, ...parts: (string | Buffer)[]): Buffer => {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
};
const int16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const parse = (name: string, query: string, types: number[] = []) => msg('P', `${name}\0${query}\0`, int16(types.length), ...types.map(int32));
const bind = (portal: string, name: string, values: string[] = []) =>
  msg('B', `${portal}\0${name}\0`, int16(0), int16(values.length), ...values.flatMap((v) => [int32(Buffer.byteLength(v)), Buffer.from(v)]), int16(0));
const describeStatement = (name: string) => msg('D', `S${name}\0`);
const describePortal = (name: string) => msg('D', `P${name}\0`);
const closeStatement = (name: string) => msg('C', `S${name}\0`);
const execute = msg('E', '\0', int32(0));
const sync = msg('S');
const flush = msg('H');
const query = (text: string) => msg('Q', `${text}\0`);

/** The messages of a buffer, each as `type:name-ish text` for readable expectations. */
function messages(buffer: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < buffer.length; ) {
    const type = String.fromCharCode(buffer[i] ?? 0);
    const length = buffer.readInt32BE(i + 1);
    const body = buffer.subarray(i + 5, i + 1 + length);
    const fields = body.toString('latin1').split('\0');
    if (type === 'P') out.push(`P[${fields[0]}] ${fields[1]}`);
    else if (type === 'B') out.push(`B[${fields[0]}|${fields[1]}]`);
    else if (type === 'D' || type === 'C') out.push(`${type}[${body.toString('latin1', 0, 1)}|${fields[0]?.slice(1)}]`);
    else out.push(type);
    i += 1 + length;
  }
  return out;
}

const SELECT = 'select * from projects where id = $1';

describe('UnnamedStatements (named statements in, unnamed ones on the wire)', () => {
  it("first use: postgres.js's describe-first batch goes out unnamed; the Bind after it in the same batch needs no Parse again", () => {
    const r = new UnnamedStatements();
    expect(messages(r.rewrite(Buffer.concat([parse('s1', SELECT), describeStatement('s1'), flush])))).toEqual([`P[] ${SELECT}`, 'D[S|]', 'H']);
    expect(messages(r.rewrite(Buffer.concat([bind('', 's1', ['x']), execute, sync])))).toEqual(['B[|]', 'E', 'S']);
    expect(r.size).toBe(1);
  });

  it('later uses (Bind and Execute only) get the Parse and a Describe in front: one self-contained batch', () => {
    const r = new UnnamedStatements();
    r.rewrite(Buffer.concat([parse('s1', SELECT, [25]), describeStatement('s1'), flush]));
    r.rewrite(Buffer.concat([bind('', 's1', ['a']), execute, sync]));
    const again = r.rewrite(Buffer.concat([bind('', 's1', ['b']), execute, sync]));
    expect(messages(again)).toEqual([`P[] ${SELECT}`, 'D[S|]', 'B[|]', 'E', 'S']);
    // The Parse keeps its parameter types, the Bind its values, byte for byte.
    expect(again.subarray(0, parse('', SELECT, [25]).length)).toEqual(parse('', SELECT, [25]));
    expect(again.subarray(again.length - bind('', '', ['b']).length - execute.length - sync.length, again.length - execute.length - sync.length)).toEqual(
      bind('', '', ['b']),
    );
  });

  it('a pipeline of two statements: each Bind gets its own Parse once the other replaced the unnamed statement', () => {
    const r = new UnnamedStatements();
    r.rewrite(Buffer.concat([parse('a', 'select 1 where $1::int = 1'), describeStatement('a'), bind('', 'a', ['1']), execute, sync]));
    r.rewrite(Buffer.concat([parse('b', 'select 2 where $1::int = 2'), describeStatement('b'), bind('', 'b', ['2']), execute, sync]));
    const both = r.rewrite(Buffer.concat([bind('', 'a', ['1']), execute, bind('', 'b', ['2']), execute, bind('', 'b', ['2']), execute, sync]));
    expect(messages(both)).toEqual(['P[] select 1 where $1::int = 1', 'D[S|]', 'B[|]', 'E', 'P[] select 2 where $1::int = 2', 'D[S|]', 'B[|]', 'E', 'B[|]', 'E', 'S']);
  });

  it('after a Sync or a simple Query the unnamed statement is not trusted (PgBouncer may switch server connections)', () => {
    const r = new UnnamedStatements();
    r.rewrite(Buffer.concat([parse('s1', SELECT), describeStatement('s1'), flush]));
    expect(messages(r.rewrite(Buffer.concat([sync, bind('', 's1', ['x']), execute, sync])))).toEqual(['S', `P[] ${SELECT}`, 'D[S|]', 'B[|]', 'E', 'S']);
    r.rewrite(Buffer.concat([parse('s2', SELECT), describeStatement('s2'), flush]));
    expect(messages(r.rewrite(Buffer.concat([query('begin'), bind('', 's2', ['x']), execute, sync])))).toEqual(['Q', `P[] ${SELECT}`, 'D[S|]', 'B[|]', 'E', 'S']);
  });

  it("an unnamed Parse of postgres.js's own replaces the unnamed statement", () => {
    const r = new UnnamedStatements();
    r.rewrite(Buffer.concat([parse('s1', SELECT), describeStatement('s1'), flush]));
    const mixed = r.rewrite(Buffer.concat([parse('', 'select now()'), describeStatement(''), bind('', ''), execute, bind('', 's1', ['x']), execute, sync]));
    expect(messages(mixed)).toEqual(['P[] select now()', 'D[S|]', 'B[|]', 'E', `P[] ${SELECT}`, 'D[S|]', 'B[|]', 'E', 'S']);
  });

  it('a Describe of a named statement outside its batch re-parses it; a portal Describe and named portals pass as they are', () => {
    const r = new UnnamedStatements();
    r.rewrite(Buffer.concat([parse('s1', SELECT), describeStatement('s1'), flush, sync]));
    expect(messages(r.rewrite(Buffer.concat([describeStatement('s1'), flush])))).toEqual([`P[] ${SELECT}`, 'D[S|]', 'H']);
    const cursor = Buffer.concat([bind('c1', 's1', ['x']), describePortal('c1'), msg('E', 'c1\0', int32(10)), flush]);
    expect(messages(r.rewrite(cursor))).toEqual(['B[c1|]', 'D[P|c1]', 'E', 'H']);
  });

  it('closing a named statement forgets it and closes the unnamed one only if it holds that statement', () => {
    const r = new UnnamedStatements();
    r.rewrite(Buffer.concat([parse('s1', SELECT), describeStatement('s1'), flush]));
    expect(messages(r.rewrite(closeStatement('s1')))).toEqual(['C[S|]']);
    expect(r.size).toBe(0);
    r.rewrite(Buffer.concat([parse('s2', SELECT), describeStatement('s2'), flush, sync]));
    // Not in the unnamed statement any more: a Close of a name that never exists (no error, CloseComplete).
    expect(messages(r.rewrite(closeStatement('s2')))).toEqual(['C[S|jeex_unnamed_none]']);
  });

  it('hands on untouched what names nothing, what it does not know, and what it cannot read', () => {
    const r = new UnnamedStatements();
    const plain = Buffer.concat([parse('', 'select 1'), bind('', ''), execute, sync]);
    expect(r.rewrite(plain)).toBe(plain);
    const unknown = Buffer.concat([bind('', 'never_parsed', ['x']), execute, sync]);
    expect(r.rewrite(unknown)).toBe(unknown);
    const cut = Buffer.concat([parse('s1', SELECT)]).subarray(0, 9);
    expect(r.rewrite(cut)).toBe(cut);
    expect(r.size).toBe(0);
  });
});
