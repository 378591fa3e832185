import { maskUrl } from '../../index.ts';
import { supervisePooler, type PoolerSupervisor } from '../../ops/index.ts';
import { DEFAULT_SERVE_PORT, resolveServeTargets, serveUntil } from '../../serve/index.ts';
import { DEFAULT_PORT, down, localLayout, runForeground, serverOsUser, up, type UpResult } from '../../stack/index.ts';
import { Command } from 'commander';
import { EXIT, bold, dim, green, jsonOption, note, printJson, progressReporter, red, reportError, say, usageError } from '../output.ts';
import { addMachineOptions, dataDirOption, intArg, osUserOption } from '../options.ts';
import { stderrLogger } from '../logger.ts';
import { addServeOptions } from '../serve-flags.ts';
import { addRoleSettingsOptions, roleSettingsFlags } from '../role-flags.ts';

interface UpFlags {
  dataDir: string;
  port?: number;
  detach?: boolean;
  json?: boolean;
  startTimeout: number;
  memory?: number;
  cpus?: number;
  maxConnections?: number;
  locale?: string;
  osUser: string;
  pooler: boolean;
  serve?: number | true;
  host: string;
  alerts: boolean;
  alertRules?: string;
  alertInterval: number;
  prometheus?: boolean;
  idleTimeout?: string;
  idleInTransactionTimeout?: string;
  auditReads?: boolean;
  tls: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  production?: boolean;
}

export function upCommand(): Command {
  const command = addMachineOptions(
    new Command('up')
      .description('start a migrated PostgreSQL 18 (local cluster, or DATABASE_URL) and print its URLs')
      .addOption(dataDirOption())
      .option('--port <n>', `port of the local cluster (default: the last one used, else ${DEFAULT_PORT})`, intArg(1, 65535))
      .option('--detach', 'return once the database is ready and leave it running (stop it with `jeex-db down`)')
      .addOption(jsonOption())
      .option('--start-timeout <seconds>', 'how long to wait for the server to accept queries', intArg(1, 3600), 60),
  )
    .option('--locale <name>', 'libc locale of a new cluster, e.g. en_US.UTF-8 (default: built-in C.UTF-8)')
    .addOption(osUserOption())
    .option('--no-pooler', 'do not run PgBouncer in front (the app URL then points straight at PostgreSQL)')
    .option('--no-tls', 'plain TCP, no TLS (refused in production; TLS 1.3 with a local development CA is the default)')
    .option('--tls-cert <file>', 'the server certificate (PEM, chain after it) instead of the development CA; env JEEX_TLS_CERT_FILE')
    .option('--tls-key <file>', 'its private key (PEM); env JEEX_TLS_KEY_FILE')
    .option('--tls-ca <file>', 'the CA clients verify it with (default: the system CAs); env JEEX_TLS_CA_FILE')
    .option('--production', 'production rules (as NODE_ENV=production): nothing starts without TLS from real certificate files')
    .option('--serve [port]', `in the foreground, also run the health server (jeex-db serve) on this port (default ${DEFAULT_SERVE_PORT})`, intArg(0, 65535));
  return addServeOptions(addRoleSettingsOptions(command)).action(async (flags: UpFlags) => {
      const json = Boolean(flags.json);
      if (flags.serve !== undefined && flags.detach) {
        reportError(usageError('--serve runs the health server in the foreground: leave out --detach, or start `jeex-db serve` beside a detached cluster'), json);
        return;
      }
      let interrupted = false;
      const onSignal = () => {
        interrupted = true;
        note('interrupted: stopping once the current step ends');
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let result: UpResult;
      try {
        result = await up({
          dataDir: flags.dataDir,
          startTimeoutSeconds: flags.startTimeout,
          osUser: flags.osUser,
          pooler: flags.pooler,
          roleSettings: roleSettingsFlags(flags),
          tls: {
            enabled: flags.tls,
            ...(flags.tlsCert !== undefined ? { certFile: flags.tlsCert } : {}),
            ...(flags.tlsKey !== undefined ? { keyFile: flags.tlsKey } : {}),
            ...(flags.tlsCa !== undefined ? { caFile: flags.tlsCa } : {}),
            ...(flags.production ? { production: true } : {}),
          },
          onProgress: progressReporter(json),
          ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
          ...(flags.port !== undefined ? { port: flags.port } : {}),
          ...(flags.memory !== undefined ? { memoryBytes: flags.memory } : {}),
          ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
          ...(flags.maxConnections !== undefined ? { maxConnections: flags.maxConnections } : {}),
          ...(flags.locale !== undefined ? { locale: flags.locale } : {}),
        });
      } catch (error) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        reportError(error, json);
        return;
      }
      const foreground = !flags.detach && result.status === 'started' && result.pid !== undefined;
      // Listen for the foreground's stop signals before dropping onSignal and printing "ready":
      // with no listener in between, a Ctrl-C (or a supervisor's SIGTERM) right after the ready
      // line would kill us by default and leave PostgreSQL running.
      const signalled = foreground && !interrupted ? nextStopSignal() : undefined;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (interrupted) {
        if (result.status === 'started') await down({ dataDir: flags.dataDir, osUser: flags.osUser });
        process.exitCode = EXIT.INTERRUPTED;
        return;
      }
      // Loud, whatever the output format: stderr always, and in the JSON document (tls.warning).
      if (result.tls?.status === 'off') note(`${red(bold('WARNING'))} ${result.tls.warning}`);
      if (json) printJson({ ok: true, ...result, foreground });
      else printHuman(result, foreground);
      if (signalled && result.pid !== undefined) {
        let stopServing = () => {};
        const stopped = new Promise<void>((resolve) => (stopServing = resolve));
        const serving = flags.serve === undefined ? undefined : { done: serveBeside(flags, stopped, json), stop: stopServing };
        // PgBouncer is restarted when it dies while we run (with --serve, the health server's
        // supervisor does it, and reports the restarts in /health and its alerts).
        const supervisor = serving || result.pooler.port === undefined ? undefined : await superviseBeside(flags);
        await runInForeground(result.pid, signalled, flags, json, serving, supervisor);
      }
    });
}

/** `up --serve`: the health server until the foreground stops; a failure to serve is reported, PostgreSQL stays up. */
async function serveBeside(flags: UpFlags, stopped: Promise<unknown>, json: boolean): Promise<void> {
  const port = flags.serve === true || flags.serve === undefined ? DEFAULT_SERVE_PORT : flags.serve;
  const logger = stderrLogger();
  try {
    const targets = resolveServeTargets({ dataDir: flags.dataDir });
    await serveUntil({ ...flags, port, migrations: true, logger }, targets, stopped, (url) => {
      if (!json) note(`health server on ${url} (/livez /readyz /health${flags.prometheus ? ' /metrics' : ''}${flags.alerts ? ' /alerts' : ''})`);
    });
  } catch (error) {
    reportError(error, json);
  } finally {
    logger.flush();
  }
}

/** Supervise the local PgBouncer; its deaths and restarts are JSON lines on stderr. */
async function superviseBeside(flags: UpFlags): Promise<PoolerSupervisor> {
  const as = await serverOsUser(flags.osUser);
  return supervisePooler({ dir: localLayout(flags.dataDir).pgbouncerDir, logger: stderrLogger(), ...(as ? { as } : {}) });
}

function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGHUP', () => resolve('SIGHUP'));
  });
}

function printHuman(result: UpResult, foreground: boolean): void {
  const where = result.mode === 'embedded' ? `${result.host}:${result.port}` : 'DATABASE_URL';
  const verb = result.status === 'already-running' ? 'already running' : 'ready';
  say(`${green('✔')} PostgreSQL ${result.serverVersion} ${verb} on ${where} ${dim(`(${(result.durationMs / 1000).toFixed(1)}s)`)}`);
  const direct = result.mode === 'embedded' ? dim(` (straight to PostgreSQL: ${result.pooler.status === 'disabled' ? '--no-pooler' : 'no PgBouncer'})`) : '';
  const via = result.pooler.port ? dim(` (PgBouncer ${result.pooler.version ?? ''}, transaction pooling)`) : direct;
  say(`  ${bold('app')}        ${maskUrl(result.urls.app)}${via}`);
  if (result.urls.appDirect && result.urls.appDirect !== result.urls.app) say(`  ${bold('app direct')} ${maskUrl(result.urls.appDirect)} ${dim('(sessions: LISTEN, session locks)')}`);
  if (result.urls.migrator) say(`  ${bold('migrator')}   ${maskUrl(result.urls.migrator)}`);
  if (result.urls.superuser) say(`  ${bold('superuser')}  ${maskUrl(result.urls.superuser)}`);
  for (const role of ['readonly', 'monitor', 'backup'] as const) {
    const url = result.urls[role];
    if (url) say(`  ${bold(role.padEnd(10))} ${maskUrl(url)}`);
  }
  if (result.secretsFile) say(dim(`  passwords in ${result.secretsFile}; a full URL: jeex-db url app`));
  const applied = result.migrations.applied;
  say(
    `  migrations  ${applied.length > 0 ? `applied ${applied.join(', ')}` : 'up to date'} ${dim(`(${result.migrations.total} in all)`)}`,
  );
  if (result.tls?.status === 'on') {
    const from = result.tls.source === 'dev-ca' ? 'development CA' : result.tls.rootCert === 'system' ? 'system CAs' : 'CA';
    say(`  tls         TLS 1.3 only, clients verify the server (verify-full) with ${result.tls.rootCert === 'system' ? 'the system CAs' : result.tls.rootCert} ${dim(`(${from}; certificate ${result.tls.certificate.fingerprint.slice(0, 23)}..., until ${result.tls.certificate.notAfter.slice(0, 10)})`)}`);
  } else if (result.tls?.status === 'off') {
    say(`  tls         ${red('OFF')} ${dim('(--no-tls)')}`);
  }
  if (result.dataDir) say(`  data        ${result.dataDir} ${dim(`(log: ${result.serverLog})`)}`);
  const replication = result.replication;
  if (replication?.role === 'standby') {
    say(`  replication ${bold('standby')} of ${replication.primary ? `${replication.primary.host}:${replication.primary.port}` : 'a primary (made by hand)'}${replication.name ? ` as ${replication.name}` : ''} ${dim('(read-only; migrations and roles come from the primary; `jeex-db promote` makes it the primary)')}`);
  } else if (replication?.timeline) {
    say(`  replication primary since its promotion ${dim(`(${replication.promotedAt ?? ''}, timeline ${replication.timeline})`)}`);
  }
  // PgBouncer absent is loud (the app's connections are not pooled), --no-pooler was asked for.
  if (result.pooler.reason && result.mode === 'embedded') note(result.pooler.hint ? `${bold('PgBouncer:')} ${result.pooler.reason}` : dim(`PgBouncer: ${result.pooler.reason}`));
  if (result.pooler.hint) note(`${bold('fix:')} ${result.pooler.hint}`);
  if (foreground) note(dim('running in the foreground: Ctrl-C stops PostgreSQL (or start with --detach)'));
  else if (result.mode === 'embedded') note(dim('left running: stop it with `jeex-db down`'));
}

/** Keep PostgreSQL up until Ctrl-C / SIGTERM, then stop it cleanly; report if it dies on its own. */
async function runInForeground(
  pid: number,
  signalled: Promise<NodeJS.Signals>,
  flags: UpFlags,
  json: boolean,
  serving?: { done: Promise<void>; stop: () => void },
  supervisor?: PoolerSupervisor,
): Promise<void> {
  try {
    await runForeground({
      pid,
      dataDir: flags.dataDir,
      osUser: flags.osUser,
      stop: signalled,
      beside: [
        async () => supervisor?.stop(),
        async () => {
          serving?.stop();
          await serving?.done;
        },
      ],
      onRestart: (message) => note(message),
      onProgress: (message) => note(dim(message)),
    });
  } catch (error) {
    reportError(error, json);
  }
}
