import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadedBy } from '../../bench/import-cost.ts';
import { ROOT } from '../helpers/cli.ts';

// The package's subpaths and what importing each loads. A service that imports `jeex-db` gets the
// client, and neither the operations code nor the OpenTelemetry SDK and its exporters (which
// startTelemetry imports when a reader is configured).

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }>; main: string; types: string };
const sourceOf = (target: string) => join(ROOT, target.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));
const TELEMETRY_SDK = /^@opentelemetry\/(exporter-|sdk-|otlp-|resources$)/;

/** The files of src/ and the packages that importing `source` (TypeScript, through tsx) loads. */
async function loads(source: string): Promise<{ src: string[]; packages: string[] }> {
  const { modules, packages } = await loadedBy(source, ['--import', 'tsx']);
  const src = modules.filter((file) => file.startsWith(join(ROOT, 'src'))).map((file) => relative(ROOT, file));
  return { src, packages };
}

describe('package.json exports', () => {
  it('names, for each subpath, a built file and its types from a source in src/', () => {
    expect(Object.keys(pkg.exports)).toEqual(['.', './schema', './migrate', './ops', './local', './serve']);
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      expect(target.default, subpath).toMatch(/^\.\/dist\/.+\.js$/);
      expect(target.types, subpath).toBe(target.default.replace(/\.js$/, '.d.ts'));
      expect(existsSync(sourceOf(target.default)), `${subpath}: ${sourceOf(target.default)}`).toBe(true);
    }
    expect(`./${pkg.main}`).toBe(pkg.exports['.']?.default);
    expect(`./${pkg.types}`).toBe(pkg.exports['.']?.types);
  });
});

describe('what an entry point loads', () => {
  it(
    'the root: the client, no operations code, no OpenTelemetry SDK or exporter',
    async () => {
      const { src, packages } = await loads(join(ROOT, 'src/index.ts'));
      expect(src).toContain('src/db/create-db.ts');
      expect(packages).toContain('postgres');
      expect(packages.filter((name) => TELEMETRY_SDK.test(name))).toEqual([]);
      // asAppUser is the one operations module a service calls per request.
      expect(src.filter((file) => /^src\/(ops|migrate|cluster|stack|serve|cli)\//.test(file) && file !== 'src/ops/audit/app-user.ts')).toEqual([]);
    },
    60_000,
  );

  it(
    './ops: the operations code, and still no OpenTelemetry SDK or exporter until startTelemetry runs',
    async () => {
      const { src, packages } = await loads(join(ROOT, 'src/ops/index.ts'));
      expect(src).toContain('src/ops/telemetry/provider.ts');
      expect(packages.filter((name) => TELEMETRY_SDK.test(name))).toEqual([]);
      expect(src.filter((file) => /^src\/(stack|serve|cli)\//.test(file))).toEqual([]);
    },
    60_000,
  );
});
