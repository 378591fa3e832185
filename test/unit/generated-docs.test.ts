import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/docs/generated.ts';
import { GENERATED_DOCS } from '../../scripts/docs/list.ts';
import { buildProgram, everyCommand } from '../../src/cli/program.ts';

// docs/cli.md and docs/configuration.md are written from the code by scripts/docs/ (npm run
// docs); this fails when the code changed and the document was not written again.
describe('generated documents', () => {
  for (const doc of GENERATED_DOCS) {
    it(`${doc.target} is what ${doc.script} writes`, async () => {
      const path = `${ROOT}${doc.target}`;
      const actual = existsSync(path) ? readFileSync(path, 'utf8') : `(${doc.target} does not exist)`;
      expect(actual, `${doc.target} is out of date: run \`npm run docs\` and commit the result`).toBe(await doc.render());
    });
  }

  it("the README's command index names every command", () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const start = readme.indexOf('\n## Commands\n');
    expect(start, 'README.md has no "## Commands" section').toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', start + 1);
    const index = readme.slice(start, end < 0 ? undefined : end);
    const path = (command: ReturnType<typeof buildProgram>): string => {
      const names: string[] = [];
      for (let at: typeof command | null = command; at; at = at.parent) names.unshift(at.name());
      return names.join(' ');
    };
    // A command that only groups subcommands (`jeex-db backups`) needs no line of its own.
    const commands = everyCommand(buildProgram())
      .slice(1)
      .filter((command) => command.commands.length === 0 || command.options.length > 0)
      .map(path);
    expect(commands.length).toBeGreaterThan(20);
    const missing = commands.filter((command) => !index.includes(`\`${command}\``));
    expect(missing, "add a line for each to the README's command index (## Commands)").toEqual([]);
  });
});
