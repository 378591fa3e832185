import { Command, InvalidArgumentError, Option } from 'commander';
import { type Sql } from 'postgres';
import { connect, JeexDbError, translateDbError } from '../../index.ts';
import { auditTimeline, parseSince, resolveAuditSource, type AuditEvent, type AuditKind, type AuditResult } from '../../ops/index.ts';
import { bold, dim, jsonOption, note, printJson, red, reportError, say } from '../output.ts';
import { dataDirOption, intArg, urlOption } from '../options.ts';

const KINDS: Record<string, AuditKind[]> = {
  connections: ['connection'],
  failures: ['failure'],
  denied: ['denied'],
  statements: ['statement'],
  changes: ['change'],
  all: ['connection', 'failure', 'denied', 'statement', 'change'],
};

function kindArg(value: string, previous: AuditKind[] | undefined): AuditKind[] {
  const kinds = [...(previous ?? [])];
  for (const name of value.split(',').map((v) => v.trim())) {
    const mapped = KINDS[name];
    if (!mapped) throw new InvalidArgumentError(`expected ${Object.keys(KINDS).join(', ')}`);
    for (const kind of mapped) if (!kinds.includes(kind)) kinds.push(kind);
  }
  return kinds;
}

interface AuditFlags {
  dataDir: string;
  url?: string;
  logDir?: string;
  since: string;
  until?: string;
  kind?: AuditKind[];
  limit: number;
  json?: boolean;
}

function who(event: AuditEvent): string {
  const user = event.role ? `${event.role}${event.sessionRole && event.sessionRole !== event.role ? ` (login ${event.sessionRole})` : ''}` : '?';
  return `${user}${event.database ? `@${event.database}` : ''}${event.clientAddr ? ` from ${event.clientAddr}` : ''}${event.appUser ? ` app user ${event.appUser}` : ''}`;
}

function printHuman(result: AuditResult): void {
  for (const event of result.events) {
    const kind = event.kind === 'failure' || event.kind === 'denied' ? red(event.kind.padEnd(10)) : event.kind.padEnd(10);
    const detail = event.kind === 'change' ? event.message : `${event.sqlState ? `[${event.sqlState}] ` : ''}${event.message}${event.statement && event.kind === 'denied' ? dim(` -- ${event.statement}`) : ''}`;
    say(`${dim(event.at)} ${kind} ${bold(event.action)} ${who(event)}: ${detail}`);
  }
  const counts = Object.entries(result.counts).map(([kind, n]) => `${kind} ${n}`).join(', ');
  say(`${result.events.length === 0 ? 'nothing recorded' : `${result.events.length} event(s)`}${result.truncated ? ' (the newest; more matched: raise --limit or narrow --since)' : ''} since ${result.since ?? 'the beginning'}: ${counts}`);
  for (const line of result.notes) note(dim(line));
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('one timeline of connection failures, denied statements and data changes (the server\'s JSON log and the audit table)')
    .option('--since <when>', 'from this time (ISO) or this long ago (30min, 1h, 7d)', '24h')
    .option('--until <when>', 'up to this time (ISO) or this long ago')
    .addOption(new Option('--kind <kinds>', 'connections, failures, denied, statements, changes or all (comma-separated or repeated; default failures,denied,changes)').argParser(kindArg))
    .option('--limit <n>', 'show the newest N events (counts cover all)', intArg(1, 1_000_000), 200)
    .addOption(dataDirOption('the local cluster: its log directory and its database'))
    .addOption(urlOption('admin', 'or any URL that may read jeex_audit.changes'))
    .option('--log-dir <dir>', "the server's log directory with its *.json logs (default: the local cluster's)")
    .addOption(jsonOption())
    .action(async (flags: AuditFlags) => {
      const json = Boolean(flags.json);
      let sql: Sql | undefined;
      try {
        const now = new Date();
        const since = parseSince(flags.since, now);
        const until = flags.until ? parseSince(flags.until, now) : undefined;
        const { url, logDir } = resolveAuditSource({ dataDir: flags.dataDir, ...(flags.url ? { url: flags.url } : {}), ...(flags.logDir ? { logDir: flags.logDir } : {}) });
        if (url) sql = connect(url, { max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'jeex-db audit' } });
        const result = await auditTimeline({ ...(logDir ? { logDir } : {}), ...(sql ? { sql } : {}), since, ...(until ? { until } : {}), ...(flags.kind ? { kinds: flags.kind } : {}), limit: flags.limit }).catch((error: unknown) => {
          throw error instanceof JeexDbError ? error : translateDbError(error);
        });
        if (json) printJson({ ok: true, ...result });
        else printHuman(result);
      } catch (error) {
        reportError(error, json);
      } finally {
        await sql?.end({ timeout: 1 });
      }
    });
}
