import { Argument, Command } from 'commander';
import { connect, JeexDbError, translateDbError } from '../../index.ts';
import {
  applyRolesAt,
  isLoginKind,
  newPasswordInput,
  passwordsFromEnvironment,
  resolveRoleSettings,
  roleNames,
  rotateLocalPassword,
  setRolePassword,
  type ApplyRolesResult,
} from '../../ops/index.ts';
import { applyLocalRoles, LOCAL_LOGIN_ROLES, type LocalRole } from '../../stack/index.ts';
import { bold, dim, green, jsonOption, note, printJson, reportError, say } from '../output.ts';
import { dataDirOption, rolePrefixOption, urlOption } from '../options.ts';
import { addRoleSettingsOptions, roleSettingsFlags } from '../role-flags.ts';

interface ApplyFlags {
  dataDir: string;
  url?: string;
  database?: string;
  prefix: string;
  idleTimeout?: string;
  idleInTransactionTimeout?: string;
  auditReads?: boolean;
  json?: boolean;
}

/** `roles apply --url`: a superuser URL of another server, passwords from JEEX_<ROLE>_PASSWORD(_FILE). */
async function applyRemote(flags: ApplyFlags & { url: string }): Promise<ApplyRolesResult> {
  return applyRolesAt(flags.url, {
    prefix: flags.prefix,
    settings: resolveRoleSettings(roleSettingsFlags(flags), process.env),
    passwords: await passwordsFromEnvironment(),
    ...(flags.database ? { database: flags.database } : {}),
  });
}

function printApply(result: ApplyRolesResult): void {
  if (result.changes.length === 0) say(`${green('✔')} roles already match ${dim(`(${result.durationMs} ms)`)}`);
  else {
    say(`${green('✔')} ${result.changes.length} change(s) ${dim(`(${result.durationMs} ms)`)}`);
    for (const change of result.changes) say(`  ${bold(change.object)}: ${change.change}`);
  }
  for (const spec of result.catalog) {
    const settings = Object.entries(spec.settings).map(([k, v]) => `${k}=${v}`).join(' ');
    say(dim(`  ${spec.name.padEnd(18)} ${spec.login ? `limit ${spec.connectionLimit}`.padEnd(10) : 'NOLOGIN'.padEnd(10)} ${settings}`));
  }
  for (const warning of result.warnings) note(`warning: ${warning}`);
}

export function rolesCommand(): Command {
  const apply = addRoleSettingsOptions(
    new Command('apply')
      .description('create the roles and the database, or bring them back in line (idempotent; `up` runs it too)')
      .addOption(dataDirOption())
      .addOption(urlOption('admin', 'JEEX_DB_ADMIN_URL keeps its password out of `ps`; passwords from JEEX_APP_PASSWORD, JEEX_MIGRATOR_PASSWORD, ... or *_FILE'))
      .option('--database <name>', 'with --url: the application database (default: the URL\'s, else jeex)')
      .addOption(rolePrefixOption()),
  )
    .addOption(jsonOption())
    .action(async (flags: ApplyFlags) => {
      const json = Boolean(flags.json);
      try {
        const url = flags.url;
        const result = url ? await applyRemote({ ...flags, url }) : await applyLocalRoles({ dataDir: flags.dataDir, flags: roleSettingsFlags(flags) });
        if (json) printJson({ ok: true, ...result });
        else printApply(result);
      } catch (error) {
        reportError(error, json);
      }
    });

  const rotate = new Command('rotate')
    .description('give a login role a new password (random, or from --password-file / --password-stdin / JEEX_NEW_PASSWORD)')
    .addArgument(new Argument('<role>', `the role: ${LOCAL_LOGIN_ROLES.join(', ')} (or, with --url, a role name)`))
    .addOption(dataDirOption())
    .addOption(urlOption('admin', 'then the new password must be given'))
    .addOption(rolePrefixOption())
    .option('--password-file <file>', 'read the new password from this file (one trailing newline is dropped)')
    .option('--password-stdin', 'read the new password from standard input')
    .addOption(jsonOption())
    .action(async (role: string, flags: { dataDir: string; url?: string; prefix: string; passwordFile?: string; passwordStdin?: boolean; json?: boolean }) => {
      const json = Boolean(flags.json);
      try {
        const input = await newPasswordInput({ ...(flags.passwordFile ? { file: flags.passwordFile } : {}), ...(flags.passwordStdin ? { stdin: true } : {}) });
        const url = flags.url;
        if (url) {
          if (!input) throw new JeexDbError('INVALID_CONFIG', 'roles rotate --url needs the new password (--password-file, --password-stdin or JEEX_NEW_PASSWORD)', { hint: 'jeex-db generates passwords only for the local cluster, whose secrets.json it keeps.' });
          const user = isLoginKind(role) ? roleNames(flags.prefix)[role] : role;
          const admin = connect(url, { max: 1, connect_timeout: 10, onnotice: () => {}, connection: { application_name: 'jeex-db roles rotate' } });
          const started = Date.now();
          try {
            await setRolePassword(admin, user, input.password);
          } catch (error) {
            throw error instanceof JeexDbError ? error : translateDbError(error);
          } finally {
            await admin.end({ timeout: 2 });
          }
          if (json) printJson({ ok: true, user, generated: false, source: input.source, durationMs: Date.now() - started });
          else say(`${green('✔')} new password for ${bold(user)} (from ${input.source}); sessions already open keep working`);
          return;
        }
        if (!(LOCAL_LOGIN_ROLES as readonly string[]).includes(role)) {
          throw new JeexDbError('INVALID_CONFIG', `unknown role "${role}"`, { hint: `Name one of ${LOCAL_LOGIN_ROLES.join(', ')}.` });
        }
        const result = await rotateLocalPassword({ role: role as LocalRole, dataDir: flags.dataDir, ...(input ? { password: input } : {}) });
        if (json) {
          printJson({ ok: true, ...result });
          return;
        }
        const pooler = { reloaded: '; PgBouncer reloaded its auth file', 'not-running': '; PgBouncer (not running) gets it at its next start', 'not-pooled': '', none: '' }[result.pooler];
        say(`${green('✔')} new password for ${bold(result.user)} (${result.generated ? 'generated' : `from ${result.source ?? ''}`}) in ${result.secretsFile}${pooler}`);
        note(dim(`sessions already open keep working; new logins need the new password (\`jeex-db url ${result.role}\`)`));
      } catch (error) {
        reportError(error, json);
      }
    });

  return new Command('roles').description('database roles: least privilege, passwords').addCommand(apply).addCommand(rotate);
}
