/**
 * docs/cli.md from the commander program (src/cli/program.ts): every command with its
 * description, arguments and options, their defaults and environment variables.
 * `npx tsx scripts/docs/cli.ts` writes it; `npm run docs` writes every generated document.
 */
import type { Argument, Command, Option } from 'commander';
import { cell, header, runIfMain, withCleanEnvironment, type GeneratedDoc } from './generated.ts';

const SCRIPT = 'scripts/docs/cli.ts';

/** The commands under `program`, depth first, without commander's own `help`. */
function commandsOf(command: Command): Command[] {
  const help = command.createHelp();
  return help
    .visibleCommands(command)
    .filter((sub) => sub.name() !== 'help')
    .flatMap((sub) => [sub, ...commandsOf(sub)]);
}

/** `jeex-db backups list`: the names from the root down. */
function pathOf(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** GitHub's anchor for a heading `` `jeex-db backups list` ``. */
const anchor = (title: string): string => title.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');

const code = (text: string): string => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

function defaultOf(option: Option | Argument): string {
  if (option.defaultValueDescription !== undefined) return option.defaultValueDescription;
  if (option.defaultValue === undefined) return '';
  return code(typeof option.defaultValue === 'string' ? option.defaultValue : JSON.stringify(option.defaultValue));
}

function argumentsTable(command: Command): string[] {
  const args = command.registeredArguments;
  if (args.length === 0) return [];
  const rows = args.map((arg) => {
    const name = `${arg.required ? '<' : '['}${arg.name()}${arg.variadic ? '...' : ''}${arg.required ? '>' : ']'}`;
    const choices = arg.argChoices ? ` (one of ${arg.argChoices.map(code).join(', ')})` : '';
    return `| ${code(name)} | ${cell(arg.description + choices)} | ${arg.required ? 'yes' : 'no'} | ${cell(defaultOf(arg))} |`;
  });
  return ['| argument | what it is | required | default |', '| --- | --- | --- | --- |', ...rows, ''];
}

function optionsTable(command: Command): string[] {
  const options = command.options.filter((option) => !option.hidden && option.long !== '--help');
  if (options.length === 0) return [];
  const rows = options.map((option) => {
    const choices = option.argChoices ? ` (one of ${option.argChoices.map(code).join(', ')})` : '';
    const required = option.mandatory ? ' (required)' : '';
    return `| ${code(option.flags)} | ${cell(option.description + choices + required)} | ${cell(defaultOf(option))} | ${option.envVar ? code(option.envVar) : ''} |`;
  });
  return ['| option | what it does | default | env |', '| --- | --- | --- | --- |', ...rows, ''];
}

function section(command: Command): string[] {
  const title = pathOf(command);
  const aliases = command.aliases().length > 0 ? [`Also: ${command.aliases().map((alias) => code(alias)).join(', ')}.`, ''] : [];
  const subcommands = commandsOf(command).filter((sub) => sub.parent === command);
  const subs = subcommands.length > 0 ? [`Subcommands: ${subcommands.map((sub) => `[${code(sub.name())}](#${anchor(pathOf(sub))})`).join(', ')}.`, ''] : [];
  return [
    `## ${code(title)}`,
    '',
    cell(command.description()),
    '',
    '```',
    `${pathOf(command)} ${command.usage()}`.trim(),
    '```',
    '',
    ...aliases,
    ...subs,
    ...argumentsTable(command),
    ...optionsTable(command),
  ];
}

/** docs/cli.md's text for a program (built with the environment cleared, see withCleanEnvironment). */
export function renderCli(program: Command): string {
  const commands = commandsOf(program);
  const lines = [
    header('The jeex-db command line', SCRIPT, 'the commander program in src/cli/program.ts'),
    `${cell(program.description())}. Run it as \`npx jeex-db COMMAND\` in a project that depends on jeex-db, or \`node dist/cli/main.js COMMAND\` in this repository; \`jeex-db COMMAND --help\` prints the same as this page. \`--version\` prints the package version.`,
    '',
    'Every command that takes `--json` prints exactly one JSON document on stdout, a failure included (`{ "ok": false, "error": { "code", "message", "hint" }, "exitCode" }`); progress and notes go to stderr. Exit codes and error codes: [errors.md](errors.md). Environment variables: [configuration.md](configuration.md).',
    '',
    '| command | what it does |',
    '| --- | --- |',
    ...commands.map((command) => `| [${code(pathOf(command))}](#${anchor(pathOf(command))}) | ${cell(command.description())} |`),
    '',
    ...commands.flatMap(section),
  ];
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

export const cliDoc: GeneratedDoc = {
  target: 'docs/cli.md',
  script: SCRIPT,
  render: () =>
    withCleanEnvironment(async () => {
      const { buildProgram } = await import('../../src/cli/program.ts');
      return renderCli(buildProgram());
    }),
};

await runIfMain(import.meta.url, cliDoc);
