import { Command } from 'commander';
import { connect, maskUrl } from '../../index.ts';
import { diagnose, oneLine, resolveHealthTarget, type DiagnoseReport, type Finding, type FindingKind } from '../../ops/index.ts';
import { EXIT } from '../exit-codes.ts';
import { dataDirOption, urlOption } from '../options.ts';
import { bold, dim, green, jsonOption, note, printJson, red, reportError, say } from '../output.ts';

interface DiagnoseFlags {
  url?: string;
  dataDir: string;
  json?: boolean;
}

const kindTitles: Record<FindingKind, string> = {
  'slow-query': 'Slow queries',
  'missing-index': 'Missing indexes',
  'unused-index': 'Unused indexes',
  'duplicate-index': 'Duplicate indexes',
  'invalid-index': 'Invalid indexes',
  'table-bloat': 'Table bloat (estimate)',
  'index-bloat': 'Index bloat (estimate)',
  'long-running-query': 'Long-running queries',
  'idle-in-transaction': 'Idle in transaction',
  'xid-wraparound': 'Transaction ID wraparound',
  'sequence-limit': 'Sequences near their limit',
  'cache-hit-ratio': 'Cache hit ratio',
  'check-unavailable': 'Checks that could not run',
};

const mark = (finding: Finding) => (finding.severity === 'critical' ? red('CRITICAL') : finding.severity === 'warn' ? bold('warn') : dim('info'));
const percent = (ratio: number | null) => (ratio === null ? 'n/a' : `${(ratio * 100).toFixed(2)}%`);

function printHuman(report: DiagnoseReport, target: string): void {
  say(bold(`jeex-db diagnose: ${report.database} on PostgreSQL ${report.serverVersion}`) + dim(` (${target})`));
  say(dim(`statistics since ${report.statsReset ?? 'the server began collecting them'}`));
  const groups = new Map<FindingKind, Finding[]>();
  for (const finding of report.findings) groups.set(finding.kind, [...(groups.get(finding.kind) ?? []), finding]);
  for (const [kind, findings] of groups) {
    say();
    say(bold(`${kindTitles[kind]} (${findings.length})`));
    for (const finding of findings) {
      say(`  ${mark(finding)} ${finding.subject}: ${finding.detail}`);
      say(`    ${bold('fix:')} ${finding.fix}`);
    }
  }
  say();
  say(bold('Slowest statements by total time'));
  if (!report.slowStatements.available) say(`  ${dim(report.slowStatements.reason ?? 'pg_stat_statements is not available')}`);
  else if (report.slowStatements.byTotalTime.length === 0) say(`  ${dim('none recorded yet')}`);
  for (const s of report.slowStatements.byTotalTime.slice(0, 5)) {
    say(`  ${s.totalMs.toFixed(0).padStart(8)} ms  ${String(s.calls).padStart(7)} calls  ${s.meanMs.toFixed(2).padStart(9)} ms mean  ${oneLine(s.query, 90)}`);
  }
  const auto = report.autoExplain;
  say(dim(auto.loaded ? `  plans of statements over ${auto.logMinDuration ?? '?'} are in the server log (auto_explain, ${auto.logFormat ?? '?'}); --json has EXPLAIN plans of these` : '  auto_explain is not loaded: slow statements leave no plan in the server log'));
  say();
  say(`cache hit ratio: tables ${percent(report.cacheHitRatio.table)}, indexes ${percent(report.cacheHitRatio.index)}`);
  const oldest = report.databaseAges[0];
  if (oldest) say(`oldest transaction ID age: ${oldest.xidAge.toLocaleString('en')} (${oldest.database}) of ~2,147,000,000`);
  const { critical, warn, info } = report.counts;
  say();
  if (report.findings.length === 0) say(`${green('✔')} nothing to report`);
  else say(`${critical > 0 ? red(`${critical} critical`) : '0 critical'}, ${warn} warn, ${info} info`);
}

export function diagnoseCommand(): Command {
  return new Command('diagnose')
    .description(`slow queries, missing/unused/duplicate/invalid indexes, bloat, sessions, wraparound, sequences, cache; exit ${EXIT.OK} when nothing is critical, ${EXIT.FAILURE} otherwise`)
    .addOption(urlOption('examine'))
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (flags: DiagnoseFlags) => {
      try {
        const target = resolveHealthTarget({ ...flags, localRole: 'superuser' });
        const sql = connect(target.url, { max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'jeex-db diagnose' } });
        try {
          const report = await diagnose(sql);
          process.exitCode = report.ok ? EXIT.OK : EXIT.FAILURE;
          if (flags.json) printJson({ ...report, exitCode: process.exitCode });
          else printHuman(report, `${maskUrl(target.url)} from ${target.source === 'flag' ? '--url' : target.source === 'local' ? `the local cluster (${flags.dataDir})` : target.source}`);
          if (!flags.json && !report.ok) note(red(`${report.counts.critical} critical finding(s): exit ${EXIT.FAILURE}`));
        } finally {
          await sql.end({ timeout: 5 });
        }
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}
