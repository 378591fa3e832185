import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENV_GROUPS, ENV_VARS, envVar, envVarPattern } from '../../src/core/env-vars.ts';
import { keyVariables, type KeyPrefix } from '../../src/crypto/keys.ts';
import { THRESHOLD_NAMES, thresholdEnvName } from '../../src/ops/health/thresholds.ts';
import { LOGIN_KINDS } from '../../src/ops/roles/names.ts';
import { passwordVariable } from '../../src/ops/roles/password-input.ts';

// src/core/env-vars.ts is the one list of the environment variables jeex-db reads (and the
// source of docs/configuration.md). These tests hold it against what the code really reads.
const root = fileURLToPath(new URL('../../', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const NAME = '[A-Z][A-Z0-9_]*';
/** `process.env.<NAME>`, `env?.<NAME>`, `env['<NAME>']`: a variable read by name. */
const ACCESS = [new RegExp(`\\benv\\??\\.(${NAME})\\b`, 'g'), new RegExp(`\\benv\\[\\s*['"\`](${NAME})['"\`]\\s*\\]`, 'g')];
/** A string that is exactly a name in our namespaces: read through a table or a helper (`env[field.env]`, `get('OTEL_…')`). */
const LITERAL = /['"`]((?:JEEX|OTEL)_[A-Z0-9_]*)['"`]/g;

/** The key-family prefixes the code passes to keyVariables() (literals, not names). */
const KEY_PREFIXES = ['JEEX_BACKUP', 'JEEX_DATA', 'JEEX_BLIND_INDEX'] as const satisfies readonly KeyPrefix[];

/** Every variable the package's code reads, with the files that read it. */
function variablesReadBySrc(): Map<string, Set<string>> {
  const read = new Map<string, Set<string>>();
  const add = (name: string, file: string) => read.set(name, (read.get(name) ?? new Set()).add(file));
  // (the registry itself names every variable: it does not read them)
  const registry = join(root, 'src/core/env-vars.ts');
  for (const file of [...filesUnder(join(root, 'src')).filter((path) => path !== registry), join(root, 'drizzle.config.ts')]) {
    const text = readFileSync(file, 'utf8');
    const where = relative(root, file);
    for (const pattern of ACCESS) for (const match of text.matchAll(pattern)) add(match[1] as string, where);
    for (const match of text.matchAll(LITERAL)) {
      const name = match[1] as string;
      if (!(KEY_PREFIXES as readonly string[]).includes(name)) add(name, where);
    }
  }
  // Names the code builds instead of spelling them out.
  for (const prefix of KEY_PREFIXES) for (const name of keyVariables(prefix)) add(name, 'src/crypto/keys.ts (keyVariables)');
  for (const threshold of THRESHOLD_NAMES) add(thresholdEnvName(threshold), 'src/ops/health/thresholds.ts (thresholdEnvName)');
  for (const kind of LOGIN_KINDS) {
    add(passwordVariable(kind), 'src/ops/roles/password-input.ts (passwordVariable)');
    add(`${passwordVariable(kind)}_FILE`, 'src/ops/roles/password-input.ts (passwordVariable)');
  }
  return read;
}

describe('the environment variable registry (src/core/env-vars.ts)', () => {
  const read = variablesReadBySrc();

  it('lists every variable src/ reads', () => {
    expect(read.size, 'the scan found no variables at all: its patterns no longer fit the code').toBeGreaterThan(40);
    const missing = [...read].filter(([name]) => !envVar(name)).map(([name, files]) => `${name} (read in ${[...files].join(', ')})`);
    expect(missing, 'add these to ENV_VARS in src/core/env-vars.ts, then run `npm run docs`').toEqual([]);
  });

  it('lists no variable that nothing reads any more', () => {
    const names = [...read.keys()];
    const stale = ENV_VARS.filter((entry) => {
      const pattern = envVarPattern(entry.name);
      return pattern ? !names.some((name) => pattern.test(name)) : !read.has(entry.name);
    }).map((entry) => entry.name);
    expect(stale, 'no code reads these: remove them from src/core/env-vars.ts (or fix the scan in this test)').toEqual([]);
  });

  it('names each variable once, in a known group, with what it sets and who reads it', () => {
    const names = ENV_VARS.map((entry) => entry.name);
    expect(names.filter((name, index) => names.indexOf(name) !== index), 'listed twice').toEqual([]);
    const groups = new Set(ENV_GROUPS.map((g) => g.group));
    for (const entry of ENV_VARS) {
      expect(groups.has(entry.group), `${entry.name}: group ${entry.group} is not in ENV_GROUPS`).toBe(true);
      expect(entry.sets.length, `${entry.name}: say what it sets`).toBeGreaterThan(5);
      expect(entry.readBy.length, `${entry.name}: say which parts read it`).toBeGreaterThan(0);
    }
  });

  it('a family pattern matches the names built for it and no plain name', () => {
    expect(envVar('JEEX_HEALTH_SLOW_STATEMENT_MS')?.name).toBe('JEEX_HEALTH_<THRESHOLD>');
    expect(envVar('JEEX_APP_PASSWORD_FILE')?.name).toBe('JEEX_<ROLE>_PASSWORD_FILE');
    expect(envVar('JEEX_NEW_PASSWORD')?.name, 'an exact entry wins over a family').toBe('JEEX_NEW_PASSWORD');
    expect(envVar('JEEX_NO_SUCH_THING')).toBeUndefined();
  });

  it('every variable the tests, benches and CI read is in the registry or described in CONTRIBUTING.md', () => {
    const contributing = readFileSync(join(root, 'CONTRIBUTING.md'), 'utf8');
    const files = [...filesUnder(join(root, 'test')), ...filesUnder(join(root, 'bench')), join(root, 'vitest.config.ts')];
    const undocumented = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const pattern of ACCESS) {
        for (const match of text.matchAll(pattern)) {
          const name = match[1] as string;
          if (!envVar(name) && !contributing.includes(`\`${name}`)) undocumented.add(`${name} (${relative(root, file)})`);
        }
      }
    }
    for (const match of readFileSync(join(root, '.ci/run'), 'utf8').matchAll(/^export ([A-Z][A-Z0-9_]*)=/gm)) {
      const name = match[1] as string;
      if (!envVar(name) && name !== 'CI' && !contributing.includes(`\`${name}`)) undocumented.add(`${name} (.ci/run)`);
    }
    expect([...undocumented], 'describe these in CONTRIBUTING.md ("Test variables")').toEqual([]);
  });
});
