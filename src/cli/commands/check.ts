import { Command } from 'commander';
import { check, resolveMigrationTarget } from '../../migrate/index.ts';
import { exitCodeFor } from '../exit-codes.ts';
import { drizzleConfigOption, migrationsDirOption } from '../options.ts';
import { bold, dim, green, jsonOption, note, printJson, red, reportError, say } from '../output.ts';

interface CheckFlags {
  migrationsDir?: string;
  config?: string;
  schema?: string;
  allowDraftDown?: boolean;
  json?: boolean;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('the CI gate: everything migrate and rollback would refuse, found without a database (schema drift, conflicts, transaction modes, unsplit statements, SQL vs snapshot, down files, lint)')
    .addOption(migrationsDirOption())
    .addOption(drizzleConfigOption())
    .option('--schema <file>', 'the Drizzle schema module (default: `schema` of drizzle.config.ts, else the package schema)')
    .option('--allow-draft-down', 'let unreviewed .down.sql drafts (`-- jeex:draft`) pass, for development (missing down files still fail)')
    .addOption(jsonOption())
    .action(async (flags: CheckFlags) => {
      try {
        const target = await resolveMigrationTarget(flags);
        const schemaModule = flags.schema ?? target.schemaModule;
        const result = await check({ migrationsDir: target.migrationsDir, ...(schemaModule ? { schemaModule } : {}), ...(flags.allowDraftDown ? { allowDraftDown: true } : {}) });
        const first = result.problems[0];
        if (first) process.exitCode = exitCodeFor(first.code);
        if (flags.json) {
          printJson({ ...result, exitCode: process.exitCode ?? 0 });
          return;
        }
        for (const problem of result.problems) {
          note(`${red('problem')} ${dim(`[${problem.code}]`)} ${problem.message}`);
          note(`${bold('fix:')} ${problem.hint}`);
        }
        // While migrations collide, the drift is the other branch's change: generating would repeat it.
        const colliding = result.problems.some((p) => p.code === 'MIGRATION_COLLISION');
        if (result.drift.length > 0) {
          note(dim(colliding ? 'the schema differs from the newest snapshot by (do not generate this: resolve the collision first):' : 'drizzle-kit generate would write:'));
          for (const statement of result.drift) note(dim(`  ${statement}`));
        }
        const accepted = result.lint.findings.filter((f) => f.suppressed).length;
        if (result.ok) {
          say(`${green('✔')} ${target.migrationsDir}: schema and migrations agree, no conflicts, nothing migrate would refuse, down files reviewed, lint clean${accepted ? ` (${accepted} finding(s) accepted with a reason)` : ''}`);
        }
      } catch (error) {
        reportError(error, Boolean(flags.json));
      }
    });
}
