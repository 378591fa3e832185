import { JeexDbError } from '../core/errors.ts';

/** One server of a connection string: a host name, an IP address or a Unix socket directory. */
export interface ServerAddress {
  host: string;
  port: number;
  /** libpq's `hostaddr`: the IP address to connect to; certificates are still checked against `host`. */
  hostaddr?: string;
}

/** A libpq connection string, read: every host in order, the login, and the other parameters. */
export interface ConnString {
  /** `url` for postgres://, `keywords` for libpq's `host=... dbname=...` form. */
  form: 'url' | 'keywords';
  /** Every server in the order libpq tries them; empty when the string names none. */
  hosts: ServerAddress[];
  user?: string;
  password?: string;
  database?: string;
  /** Every other parameter (`sslmode`, `target_session_attrs`, `application_name`, ...), in order. */
  params: [name: string, value: string][];
}

/** Where the password and the query are in the text, so that edits keep the rest as written. */
interface Spans {
  password?: [start: number, end: number];
  /** From `?` (or where it would go) to the end of the query. */
  query?: [start: number, end: number];
  /** The database path, from `/` to the query. */
  path?: [start: number, end: number];
}

/** A connection string that cannot be read; `reason` completes "DATABASE_URL ..." and never holds the password. */
export class ConnStringError extends JeexDbError {
  constructor(readonly reason: string) {
    super('INVALID_CONFIG', `the connection string ${reason}`, { hint: 'Expected postgres://user:password@host:5432/database (several hosts: host1:5432,host2:5432), or host=... port=... dbname=... user=...' });
  }
}

const EXPECTED = 'expected postgres://user:password@host:5432/database';
const DEFAULT_PORT = 5432;

/** Keywords of the key=value form (and of a URL's query) that are not passed on as parameters. */
const FIELDS = new Set(['host', 'hostaddr', 'port', 'user', 'password', 'dbname']);

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConnStringError(`has a bad percent-encoding in its ${what} (a % not followed by two hex digits): write % as %25`);
  }
}

function port(text: string, host: string): number {
  const value = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= 65_535)) throw new ConnStringError(`has port ${JSON.stringify(text)} for host ${host || '(default)'}: a port is a whole number from 1 to 65535`);
  return value;
}

/**
 * `a,b` hosts with `p` or `p1,p2` ports, as libpq pairs them (one port for all, or one each):
 * PGHOST/PGPORT, and `host=`/`port=` of the key=value form.
 *
 * @example
 * pairHosts(['h1', 'h2'], ['5432', '5433'], undefined, ' (PGHOST, PGPORT)'); // [{ host: 'h1', port: 5432 }, { host: 'h2', port: 5433 }]
 */
export function pairHosts(hosts: string[], ports: string[] | undefined, hostaddrs: string[] | undefined, where: string): ServerAddress[] {
  const names = hosts.length > 0 ? hosts : hostaddrs ? hostaddrs.map(() => '') : [];
  if (ports && ports.length !== 1 && ports.length !== names.length) {
    throw new ConnStringError(`has ${ports.length} ports for ${names.length} host${names.length === 1 ? '' : 's'}${where}: give one port for all of them, or one for each`);
  }
  if (hostaddrs && hostaddrs.length !== names.length) throw new ConnStringError(`has ${hostaddrs.length} hostaddr values for ${names.length} hosts${where}: give one for each host`);
  return names.map((host, i) => {
    if (!host && !hostaddrs?.[i]) throw new ConnStringError(`has an empty host in its list${where} (two commas in a row, or one at an end)`);
    const given = ports ? (ports.length === 1 ? ports[0] : ports[i]) : undefined;
    const address: ServerAddress = { host: host || hostaddrs?.[i] || '', port: given ? port(given, host) : DEFAULT_PORT };
    if (hostaddrs?.[i]) address.hostaddr = hostaddrs[i];
    return address;
  });
}

/** The host list of a URL: `h1:5432,[::1]:5433,%2Ftmp`. */
function urlHosts(text: string): ServerAddress[] {
  if (text === '') return [];
  const out: ServerAddress[] = [];
  for (const spec of text.split(',')) {
    let host: string;
    let rest: string;
    if (spec.startsWith('[')) {
      const close = spec.indexOf(']');
      if (close < 0) throw new ConnStringError(`has an IPv6 address without its closing "]" (${spec}): write [::1]:5432`);
      host = decode(spec.slice(1, close), 'host');
      rest = spec.slice(close + 1);
      if (rest !== '' && !rest.startsWith(':')) throw new ConnStringError(`has ${JSON.stringify(rest)} after the IPv6 address [${host}]: only :port may follow it`);
    } else {
      if ((spec.match(/:/g) ?? []).length > 1) throw new ConnStringError(`has the IPv6 address ${spec} without brackets: write [${spec}]:5432`);
      const colon = spec.indexOf(':');
      host = decode(colon < 0 ? spec : spec.slice(0, colon), 'host');
      rest = colon < 0 ? '' : spec.slice(colon);
    }
    if (!host) throw new ConnStringError(text.includes(',') ? 'has an empty host in its list (two commas in a row, or one at an end)' : `has no host before ${JSON.stringify(spec)}`);
    out.push({ host, port: rest.length > 1 ? port(rest.slice(1), host) : DEFAULT_PORT });
  }
  return out;
}

function parseUrl(text: string): { value: ConnString; spans: Spans } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  if (!scheme) throw new ConnStringError(`is not a URL (${maskUnreadable(text)}) nor a key=value string; ${EXPECTED}`);
  if (!/^postgres(ql)?$/i.test(scheme)) throw new ConnStringError(`must start with postgres:// or postgresql://, not ${scheme}://`);
  const start = scheme.length + 3;
  const fragment = text.indexOf('#', start);
  const end = fragment < 0 ? text.length : fragment;
  const slash = text.slice(start, end).search(/[/?]/);
  const authorityEnd = slash < 0 ? end : start + slash;
  const authority = text.slice(start, authorityEnd);
  const at = authority.lastIndexOf('@');
  const spans: Spans = {};
  const value: ConnString = { form: 'url', hosts: [], params: [] };
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name');
    if (user) value.user = user;
    if (colon >= 0) {
      value.password = decode(userinfo.slice(colon + 1), 'password');
      spans.password = [start + colon + 1, start + at];
    }
  }
  value.hosts = urlHosts(authority.slice(at + 1));
  const queryStart = text.indexOf('?', authorityEnd);
  const pathEnd = queryStart >= 0 && queryStart < end ? queryStart : end;
  if (authorityEnd < pathEnd && text[authorityEnd] === '/') {
    spans.path = [authorityEnd, pathEnd];
    const database = decode(text.slice(authorityEnd + 1, pathEnd), 'database name');
    if (database) value.database = database;
  }
  spans.query = [pathEnd, end];
  const query = text.slice(pathEnd + 1, end);
  const fromQuery: Record<string, string> = {};
  if (pathEnd < end) {
    for (const part of query.split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      // As postgres.js (URLSearchParams) reads it: `+` is a space.
      const name = decode((eq < 0 ? part : part.slice(0, eq)).replaceAll('+', ' '), 'parameters');
      const raw = decode((eq < 0 ? '' : part.slice(eq + 1)).replaceAll('+', ' '), name === 'password' ? 'password' : `parameter ${name}`);
      if (FIELDS.has(name)) fromQuery[name] = raw;
      else value.params.push([name, raw]);
    }
  }
  // libpq lets the query give what the authority does not (`?host=/var/run/postgresql`).
  if (fromQuery.user !== undefined) value.user = fromQuery.user;
  if (fromQuery.password !== undefined) value.password = fromQuery.password;
  if (fromQuery.dbname !== undefined) value.database = fromQuery.dbname;
  if (fromQuery.host !== undefined || fromQuery.port !== undefined || fromQuery.hostaddr !== undefined) {
    const hosts = fromQuery.host !== undefined ? fromQuery.host.split(',') : value.hosts.map((h) => h.host);
    const ports = fromQuery.port !== undefined ? fromQuery.port.split(',') : value.hosts.length > 0 ? value.hosts.map((h) => String(h.port)) : undefined;
    value.hosts = pairHosts(hosts, ports, fromQuery.hostaddr?.split(','), ' (in the query)');
  }
  return { value, spans };
}

/** libpq's `keyword=value` form: values may be single-quoted, with `\'` and `\\` inside. */
function parseKeywords(text: string): { value: ConnString; spans: Spans } {
  const fields: Record<string, string> = {};
  const value: ConnString = { form: 'keywords', hosts: [], params: [] };
  const spans: Spans = {};
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i] ?? '')) i++;
    if (i >= text.length) break;
    const keyMatch = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*/.exec(text.slice(i));
    if (!keyMatch) throw new ConnStringError(`is not a URL nor a key=value string: expected keyword=value at ${JSON.stringify(text.slice(i, i + 20).replace(/password\s*=.*/i, 'password=***'))}; ${EXPECTED}`);
    const name = keyMatch[1] ?? '';
    i += keyMatch[0].length;
    let out = '';
    const valueStart = i;
    if (text[i] === "'") {
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        out += text[i++];
      }
      if (text[i] !== "'") throw new ConnStringError(`has an unterminated quoted value for ${name}`);
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i] ?? '')) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        out += text[i++];
      }
    }
    if (name === 'password') spans.password = [valueStart, i];
    if (FIELDS.has(name)) fields[name] = out;
    else value.params.push([name, out]);
  }
  if (fields.user) value.user = fields.user;
  if (fields.password !== undefined) value.password = fields.password;
  if (fields.dbname) value.database = fields.dbname;
  if (fields.host !== undefined || fields.hostaddr !== undefined) {
    value.hosts = pairHosts(fields.host !== undefined ? fields.host.split(',') : [], fields.port?.split(','), fields.hostaddr?.split(','), '');
  } else if (fields.port !== undefined) value.hosts = pairHosts(['localhost'], fields.port.split(','), undefined, '');
  spans.query = [text.length, text.length];
  return { value, spans };
}

function parseWithSpans(text: string): { value: ConnString; spans: Spans } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return parseUrl(text);
  if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) return parseKeywords(text);
  throw new ConnStringError(`is not a URL (${maskUnreadable(text)}) nor a key=value string; ${EXPECTED}`);
}

/**
 * Read a libpq connection string, the one parser for every URL in this package: postgres:// and
 * postgresql:// URLs with one host or a list (`h1:5432,h2:5433`, `[::1]:5432`, a Unix socket
 * directory as `%2Fvar%2Frun%2Fpostgresql`), and libpq's `host=h1,h2 port=5432,5433 dbname=x`
 * form (one port for all hosts, or one each). `host`, `port`, `user`, `password` and `dbname`
 * in a URL's query override its authority, as in libpq. Throws `ConnStringError`
 * (INVALID_CONFIG) whose `reason` never holds the password.
 *
 * @example
 * parseConnString('postgres://u:p@h1:5432,[::1]:5433/jeex?target_session_attrs=primary');
 * // { form: 'url', hosts: [{ host: 'h1', port: 5432 }, { host: '::1', port: 5433 }], user: 'u', password: 'p', database: 'jeex', params: [['target_session_attrs', 'primary']] }
 */
export function parseConnString(text: string): ConnString {
  return parseWithSpans(text).value;
}

/** A parameter's value (`sslmode`, ...), the last one given. */
export function paramOf(conn: ConnString, name: string): string | undefined {
  for (let i = conn.params.length - 1; i >= 0; i--) if (conn.params[i]?.[0] === name) return conn.params[i]?.[1];
  return undefined;
}

/** Percent-encoding that keeps `/`, `:`, `@` and `,` readable (all allowed in a query). */
const encodeValue = (text: string) => encodeURIComponent(text).replace(/%(2F|3A|40|2C)/g, (m) => decodeURIComponent(m));

function formatHost(address: ServerAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host.startsWith('/') ? encodeURIComponent(address.host) : address.host;
  return `${host}:${address.port}`;
}

/**
 * A `ConnString` as a postgres:// URL (the key=value form becomes one too).
 *
 * @example
 * formatConnString({ form: 'url', hosts: [{ host: '::1', port: 5432 }], user: 'u', database: 'd', params: [] }); // 'postgres://u@[::1]:5432/d'
 */
export function formatConnString(conn: ConnString): string {
  const auth = conn.user !== undefined || conn.password !== undefined ? `${encodeURIComponent(conn.user ?? '')}${conn.password !== undefined ? `:${encodeURIComponent(conn.password)}` : ''}@` : '';
  const hostaddrs = conn.hosts.some((h) => h.hostaddr) ? [['hostaddr', conn.hosts.map((h) => h.hostaddr ?? '').join(',')] as [string, string]] : [];
  const params = [...conn.params, ...hostaddrs].map(([k, v]) => `${encodeURIComponent(k)}=${encodeValue(v)}`).join('&');
  return `postgres://${auth}${conn.hosts.map(formatHost).join(',')}/${encodeURIComponent(conn.database ?? '')}${params ? `?${params}` : ''}`;
}

/** `host:port` of one server as messages name it (`[::1]:5432`, `/tmp:5432`). */
export function addressLabel(address: ServerAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/**
 * The connection string with its password replaced by `***`, everything else as written, for
 * anything a person or a log sees (several hosts, the key=value form and unreadable strings too).
 *
 * @example
 * maskConnString('postgres://app:s3cret@h1:5432,h2:5433/jeex'); // 'postgres://app:***@h1:5432,h2:5433/jeex'
 */
export function maskConnString(text: string): string {
  let spans: Spans | undefined;
  try {
    ({ spans } = parseWithSpans(text));
  } catch {
    spans = undefined;
  }
  if (spans?.password) return `${text.slice(0, spans.password[0])}***${text.slice(spans.password[1])}`;
  if (spans) return text.replace(/([?&]password=)[^&#]*/g, '$1***');
  return maskUnreadable(text);
}

/** A string that cannot be read: whatever sits between a colon and an @, or after password=, may be a password. */
function maskUnreadable(text: string): string {
  return text.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@').replace(/:[^:@/\s]*@/g, ':***@').replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)/gi, '$1***');
}

/**
 * The connection string with `params` added where it does not give them already (libpq's
 * environment defaults: PGSSLMODE, PGSSLROOTCERT), the rest kept as written.
 *
 * @example
 * withDefaultParams('postgres://u@h1,h2/d', { sslmode: 'verify-full' }); // 'postgres://u@h1,h2/d?sslmode=verify-full'
 */
export function withDefaultParams(text: string, params: Record<string, string | undefined>): string {
  const { value, spans } = parseWithSpans(text);
  const added = Object.entries(params).filter(([name, v]) => v && paramOf(value, name) === undefined) as [string, string][];
  if (added.length === 0) return text;
  if (value.form === 'keywords') return `${text.trimEnd()} ${added.map(([k, v]) => `${k}='${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`).join(' ')}`;
  const [start, end] = spans.query ?? [text.length, text.length];
  const existing = text.slice(start, end);
  const joined = added.map(([k, v]) => `${encodeURIComponent(k)}=${encodeValue(v)}`).join('&');
  const query = existing.length > 1 ? `${existing}${existing.endsWith('&') ? '' : '&'}${joined}` : `?${joined}`;
  return `${text.slice(0, start)}${query}${text.slice(end)}`;
}

/**
 * The same connection string for another database on the same servers, as a URL.
 *
 * @example
 * withDatabase('postgres://u:p@h1,h2/jeex', 'postgres'); // 'postgres://u:p@h1,h2/postgres'
 */
export function withDatabase(text: string, database: string): string {
  const { value, spans } = parseWithSpans(text);
  if (value.form === 'keywords') return formatConnString({ ...value, database });
  const [start, end] = spans.path ?? spans.query ?? [text.length, text.length];
  const replaced = `/${encodeURIComponent(database)}`;
  return spans.path ? `${text.slice(0, start)}${replaced}${text.slice(end)}` : `${text.slice(0, start)}${replaced}${text.slice(start)}`;
}
