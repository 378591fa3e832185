/**
 * Statements behind PgBouncer before 1.21 in one round trip instead of two.
 *
 * PgBouncer in transaction mode hands each transaction any server connection, so a named
 * prepared statement made on one is missing on the next (1.21+ can track them; Debian 12 ships
 * 1.18). Without `prepare`, postgres.js sends every statement unnamed, but it must learn the
 * parameter types before it can encode the values: it sends Parse, Describe and Flush, waits for
 * the answer, and only then Bind and Execute. Two round trips per statement, each through
 * PgBouncer.
 *
 * So postgres.js runs with `prepare` on, and this rewriter, on the socket, makes every statement
 * unnamed on the wire again. postgres.js keeps each statement's parameter and column types after
 * its first use on a connection and afterwards sends only Bind(name) and Execute; here, such a
 * Bind gets the statement's Parse and a Describe put in front of it, all as the unnamed
 * statement: Parse, Describe, Bind, Execute, Sync in one write, what node-postgres sends. Every
 * Sync-terminated batch is self-contained, so it may land on any server connection. The server
 * still parses and plans each time, as for any unnamed statement; what is saved is the wait.
 *
 * The Describe makes the server send the statement's columns each time, and postgres.js reads
 * them: a statement whose result changed under it (ALTER TABLE) is decoded with its new types, as
 * a named statement would be re-described after its "cached plan must not change result type".
 * The extra ParseComplete each injected Parse brings is ignored by postgres.js (3.4.x only marks
 * its query as parsed). The first use of a statement on a connection still describes first; it
 * stays within one batch (no Sync in between), so PgBouncer keeps the server connection for it.
 */

const PARSE = 0x50; // 'P'
const BIND = 0x42; // 'B'
const DESCRIBE = 0x44; // 'D'
const CLOSE = 0x43; // 'C'
const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const STATEMENT = 0x53; // 'S' in Describe and Close: a statement, not a portal

/** Describe('S', ''): the unnamed statement's parameter types and columns. */
const DESCRIBE_UNNAMED = Buffer.from([DESCRIBE, 0, 0, 0, 6, STATEMENT, 0]);

function message(type: number, ...parts: Buffer[]): Buffer {
  const length = 4 + parts.reduce((sum, part) => sum + part.length, 0);
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeInt32BE(length, 1);
  return Buffer.concat([header, ...parts], length + 1);
}

const NUL = Buffer.from([0]);

/**
 * One connection's rewriter: named statements out, unnamed ones on the wire. Give it every
 * buffer written after login, each made of whole frontend messages (postgres.js writes so).
 */
export class UnnamedStatements {
  /** Each named statement's Parse, already rewritten to the unnamed statement. */
  private readonly parses = new Map<string, Buffer>();
  /**
   * The named statement the server's unnamed statement holds, as far as it is known: only
   * within one batch (up to a Sync), since after it PgBouncer may switch server connections.
   */
  private slot: string | undefined;

  /** Statements this connection's postgres.js has named so far. */
  get size(): number {
    return this.parses.size;
  }

  /** The bytes to send for `buffer`: `buffer` itself when it names no statement, or when it cannot be read. */
  rewrite(buffer: Buffer): Buffer {
    const out: Buffer[] = [];
    let from = 0;
    let i = 0;
    while (i < buffer.length) {
      if (i + 5 > buffer.length) return buffer;
      const type = buffer[i];
      const length = buffer.readInt32BE(i + 1);
      const end = i + 1 + length;
      if (length < 4 || end > buffer.length) return buffer;
      const body = i + 5;
      if (type === PARSE) {
        const nameEnd = buffer.indexOf(0, body);
        if (nameEnd < 0 || nameEnd >= end) return buffer;
        if (nameEnd === body) this.slot = undefined;
        else {
          const name = buffer.toString('latin1', body, nameEnd);
          const unnamed = message(PARSE, NUL, buffer.subarray(nameEnd + 1, end));
          this.parses.set(name, unnamed);
          this.slot = name;
          out.push(buffer.subarray(from, i), unnamed);
          from = end;
        }
      } else if (type === BIND) {
        const portalEnd = buffer.indexOf(0, body);
        const nameEnd = portalEnd < 0 ? -1 : buffer.indexOf(0, portalEnd + 1);
        if (nameEnd < 0 || nameEnd >= end) return buffer;
        const name = buffer.toString('latin1', portalEnd + 1, nameEnd);
        const parse = name ? this.parses.get(name) : undefined;
        if (parse) {
          out.push(buffer.subarray(from, i));
          if (this.slot !== name) out.push(parse, DESCRIBE_UNNAMED);
          this.slot = name;
          out.push(message(BIND, buffer.subarray(body, portalEnd + 1), NUL, buffer.subarray(nameEnd + 1, end)));
          from = end;
        }
      } else if (type === DESCRIBE || type === CLOSE) {
        const nameEnd = buffer.indexOf(0, body + 1);
        if (nameEnd < 0 || nameEnd >= end) return buffer;
        const name = buffer.toString('latin1', body + 1, nameEnd);
        const parse = buffer[body] === STATEMENT && name ? this.parses.get(name) : undefined;
        if (parse) {
          out.push(buffer.subarray(from, i));
          if (type === CLOSE) {
            // Nothing named exists on the server: forget it, and close the unnamed one only if it is this.
            this.parses.delete(name);
            out.push(message(CLOSE, Buffer.from([STATEMENT]), this.slot === name ? NUL : Buffer.from('jeex_unnamed_none\0', 'latin1')));
            if (this.slot === name) this.slot = undefined;
          } else {
            if (this.slot !== name) out.push(parse);
            this.slot = name;
            out.push(DESCRIBE_UNNAMED);
          }
          from = end;
        }
      } else if (type === SYNC || type === QUERY) {
        this.slot = undefined;
      }
      i = end;
    }
    if (from === 0) return buffer;
    out.push(buffer.subarray(from));
    return Buffer.concat(out);
  }
}
