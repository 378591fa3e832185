import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JeexDbError } from '../../src/core/errors.ts';
import { drizzleKitApiFile, loadDrizzleKit, loadTsImport, squawkLauncher } from '../../src/migrate/peers.ts';
import { rejection } from '../helpers/rejections.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
const PEERS = ['drizzle-kit', 'squawk-cli', 'tsx'];

/** `^a.b.c` holds `version` (npm's caret: same major, or same minor below 1.0). */
function caretHolds(range: string, version: string): boolean {
  const [want, have] = [range.replace(/^\^/, ''), version].map((v) => v.split(/[.-]/).slice(0, 3).map(Number)) as [number[], number[]];
  const fixed = want[0] === 0 ? 2 : 1;
  for (let i = 0; i < fixed; i++) if (want[i] !== have[i]) return false;
  for (let i = fixed; i < 3; i++) if ((have[i] ?? 0) !== (want[i] ?? 0)) return (have[i] ?? 0) > (want[i] ?? 0);
  return true;
}

/** A project folder with a package.json and an empty node_modules: none of the peers resolve from it. */
let bare: string;
beforeAll(async () => {
  bare = await mkdtemp(join(tmpdir(), 'jeex-peers-'));
  await writeFile(join(bare, 'package.json'), '{"name":"bare","private":true}\n');
});
afterAll(async () => {
  await rm(bare, { recursive: true, force: true });
});

describe('the migration tools jeex-db does not install (optional peer dependencies)', () => {
  it('are optional peers for users and dev dependencies here, never runtime dependencies, and the installed versions fit the ranges', () => {
    expect(Object.keys(manifest.peerDependencies ?? {}).sort()).toEqual(PEERS);
    for (const name of PEERS) {
      expect(manifest.peerDependenciesMeta?.[name], `${name} is optional`).toEqual({ optional: true });
      expect(manifest.dependencies?.[name], `${name} is not a runtime dependency`).toBeUndefined();
      expect(manifest.devDependencies?.[name], `${name} is a dev dependency here`).toBeDefined();
      const installed = (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
      expect(caretHolds(String(manifest.peerDependencies?.[name]), installed), `${name} ${installed} fits ${String(manifest.peerDependencies?.[name])}`).toBe(true);
    }
  });

  it('resolve from this package (node_modules) and load', async () => {
    const api = await loadDrizzleKit('a test');
    expect(typeof api.generateMigration).toBe('function');
    expect(existsSync(drizzleKitApiFile('a test'))).toBe(true);
    expect(typeof (await loadTsImport('a test'))).toBe('function');
    expect(squawkLauncher()).toMatch(/squawk-cli[/\\]js[/\\]bin[/\\]squawk$/);
    // The same from another folder that has them: the repository root.
    expect(typeof (await loadDrizzleKit('a test', { from: root })).generateDrizzleJson).toBe('function');
  });

  describe('absent (resolved from a project folder that does not have them): an error naming the package and `npm install -D`', () => {
    const expectMissing = (error: JeexDbError, name: string, code: string, neededFor: RegExp) => {
      expect(error.code).toBe(code);
      expect(error.message).toMatch(new RegExp(`^${name} is not installed, and `));
      expect(error.message).toMatch(neededFor);
      expect(error.hint).toContain(`Install it in your project: \`npm install -D ${name}\``);
      expect(error.hint).toContain(`jeex-db works with ${name} ${String(manifest.peerDependencies?.[name])}`);
      expect(error.context).toEqual({ package: name });
    };

    it('drizzle-kit (jeex-db check, generate-down)', async () => {
      const error = await rejection(loadDrizzleKit('comparing the Drizzle schema with the migrations (jeex-db check)', { from: bare }));
      expectMissing(error, 'drizzle-kit', 'INVALID_CONFIG', /needs it$/);
      expect(() => drizzleKitApiFile('drafting a down migration', bare)).toThrow(/^drizzle-kit is not installed, and drafting a down migration needs it$/);
    });

    it('tsx (loading drizzle.config.ts or a TypeScript schema)', async () => {
      const error = await rejection(loadTsImport('loading the drizzle-kit config drizzle.config.ts (TypeScript)', { from: bare, otherwise: 'Or pass --url.' }));
      expectMissing(error, 'tsx', 'INVALID_CONFIG', /loading the drizzle-kit config drizzle\.config\.ts/);
      expect(error.hint).toMatch(/ Or pass --url\.$/);
    });

    it('squawk-cli (linting in check and plan)', () => {
      let error: unknown;
      try {
        squawkLauncher(bare);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(JeexDbError);
      expectMissing(error as JeexDbError, 'squawk-cli', 'MIGRATION_LINT', /linting the migrations \(jeex-db check, plan\)/);
      expect((error as JeexDbError).hint).toContain('`jeex-db plan --no-lint`');
    });
  });
});
