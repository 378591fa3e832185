import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { isSharedOption, SHARED_FLAGS } from '../../src/cli/options.ts';
import { buildProgram, everyCommand } from '../../src/cli/program.ts';
import { DEFAULT_DATA_DIR, resolveDataDir } from '../../src/local/layout.ts';

// Every command of the real program, walked: a shared flag (--data-dir, --url, --json, ...)
// declared by hand, or a command that finds the local cluster without --data-dir, fails here.

const program = buildProgram();
const path = (command: Command): string => {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
};
/** The commands that do something (a group such as `backups` only holds subcommands). */
const leaves = everyCommand(program)
  .slice(1)
  .filter((c) => c.commands.length === 0 || c.options.length > 0);
const byPath = new Map(leaves.map((c) => [path(c), c]));
const flag = (command: Command, long: string): Option | undefined => command.options.find((o) => o.long === long);

/** The only commands without --data-dir, each with why it never looks at the local cluster. */
const NO_LOCAL_CLUSTER: Record<string, string> = {
  config: 'derives settings for a machine; reads no cluster',
  check: 'compares the schema with the migration files; no database',
  'keys generate': 'prints a random key',
  'migrate generate-down': "drafts a .down.sql from the snapshots (migrate's --data-dir is on the line anyway)",
};

describe('the shared flags of the jeex-db program', () => {
  it('walks a program of every command (a broken walk would pass everything below)', () => {
    expect(leaves.length).toBeGreaterThanOrEqual(28);
    for (const name of ['up', 'down', 'migrate', 'status', 'plan', 'rollback', 'baseline', 'mark-applied', 'backups prune', 'roles rotate', 'keys status', 'tls init']) {
      expect(byPath.has(name), name).toBe(true);
    }
  });

  it.each(SHARED_FLAGS)('%s is declared only through src/cli/options.ts', (long) => {
    const handMade = leaves.filter((c) => c.options.some((o) => o.long === long && !isSharedOption(o))).map(path);
    expect(handMade, `declare ${long} with the function of src/cli/options.ts`).toEqual([]);
    expect(leaves.some((c) => flag(c, long)), `${long} is used somewhere`).toBe(true);
  });

  it('every command that finds the local cluster takes --data-dir, bound to JEEX_DB_DATA_DIR', () => {
    const missing = leaves.filter((c) => !(path(c) in NO_LOCAL_CLUSTER) && !flag(c, '--data-dir')).map(path);
    expect(missing, 'add dataDirOption(), or say in NO_LOCAL_CLUSTER why the command never looks at it').toEqual([]);
    for (const command of leaves) {
      const option = flag(command, '--data-dir');
      if (option) expect({ command: path(command), env: option.envVar, default: option.defaultValue as unknown }).toEqual({ command: path(command), env: 'JEEX_DB_DATA_DIR', default: DEFAULT_DATA_DIR });
    }
  });

  it('lists no command in NO_LOCAL_CLUSTER that does not exist or takes --data-dir after all', () => {
    for (const name of Object.keys(NO_LOCAL_CLUSTER)) {
      expect(byPath.has(name), `${name} is a command`).toBe(true);
      expect(flag(byPath.get(name)!, '--data-dir'), `${name} takes --data-dir: drop it from NO_LOCAL_CLUSTER`).toBeUndefined();
    }
  });

  it('migrate, status, plan, rollback, baseline and mark-applied take --data-dir and --url', () => {
    for (const name of ['migrate', 'status', 'plan', 'rollback', 'baseline', 'mark-applied']) {
      const command = byPath.get(name)!;
      expect([flag(command, '--data-dir')?.long, flag(command, '--url')?.long], name).toEqual(['--data-dir', '--url']);
    }
  });

  it('every command prints --json', () => {
    expect(leaves.filter((c) => !flag(c, '--json')).map(path)).toEqual([]);
  });

  it('--data-dir resolves as the library does: the flag, else JEEX_DB_DATA_DIR, else .jeex-db (empty is unset)', () => {
    const parse = (args: string[], env: Record<string, string>) => {
      const saved = process.env.JEEX_DB_DATA_DIR;
      const fresh = buildProgram();
      const down = fresh.commands.find((c) => c.name() === 'down')!;
      let seen: string | undefined;
      down.action((flags: { dataDir: string }) => {
        seen = flags.dataDir;
      });
      try {
        if ('JEEX_DB_DATA_DIR' in env) process.env.JEEX_DB_DATA_DIR = env.JEEX_DB_DATA_DIR;
        else delete process.env.JEEX_DB_DATA_DIR;
        fresh.parse(['down', ...args], { from: 'user' });
        return { seen, exported: process.env.JEEX_DB_DATA_DIR, library: resolveDataDir(undefined, process.env) };
      } finally {
        if (saved === undefined) delete process.env.JEEX_DB_DATA_DIR;
        else process.env.JEEX_DB_DATA_DIR = saved;
      }
    };
    expect(parse([], {})).toMatchObject({ seen: '.jeex-db', library: '.jeex-db' });
    expect(parse([], { JEEX_DB_DATA_DIR: '/srv/x' })).toMatchObject({ seen: '/srv/x', library: '/srv/x' });
    expect(parse([], { JEEX_DB_DATA_DIR: '' })).toMatchObject({ seen: '.jeex-db', library: '.jeex-db' });
    // The flag beats the variable, and the process's variable then says the same for the library.
    expect(parse(['--data-dir', '/tmp/y'], { JEEX_DB_DATA_DIR: '/srv/x' })).toEqual({ seen: '/tmp/y', exported: '/tmp/y', library: '/tmp/y' });
  });
});
