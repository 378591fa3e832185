import { readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { resolveDbConfig } from '../../src/db/config.ts';
import { JeexDbError } from '../../src/core/errors.ts';
import { localLayout, type LocalLayout } from '../../src/local/layout.ts';
import { localUrl, readLocalSecrets, readLocalState } from '../../src/local/state.ts';
import { freePort } from '../../src/platform/port.ts';
import { expectExit, localEnv, parseJson, reachableTempDir, runCli, type RunResult } from '../helpers/cli.ts';

// A damaged state.json or secrets.json (truncated, a flipped byte, not JSON, JSON of another
// shape) is LOCAL_STATE_DAMAGED naming the file and the repair, from the library and the CLI
// alike, and no fragment of a password reaches a message: JSON.parse's SyntaxError quotes the
// text around the fault, which the earlier code passed on (as QUERY_FAILED).

const TIMEOUT = 90_000;
const EXIT_LOCAL_STATE_DAMAGED = 37;

interface Corruption {
  name: string;
  damage: (text: string, password: string) => Buffer;
}

/** Each damage the issue names, placed next to a password where a quoting error would show it. */
const CORRUPTIONS: Corruption[] = [
  { name: 'truncated', damage: (text) => Buffer.from(text.slice(0, Math.floor(text.length / 2))) },
  {
    // One byte of the password becomes 0xff^byte: not UTF-8 any more.
    name: 'a flipped byte (invalid UTF-8)',
    damage: (text, password) => {
      const bytes = Buffer.from(text);
      const at = text.indexOf(password) + 5;
      bytes[at] = (bytes[at] ?? 0) ^ 0xff;
      return bytes;
    },
  },
  {
    // One bit of the quote before the password: still ASCII, no longer JSON, and the parser's
    // error names the spot (with the password beside it).
    name: 'a flipped bit (invalid JSON beside a password)',
    damage: (text, password) => {
      const bytes = Buffer.from(text);
      const at = text.indexOf(password) - 1;
      bytes[at] = (bytes[at] ?? 0) ^ 0x01;
      return bytes;
    },
  },
  { name: 'not JSON', damage: (_text, password) => Buffer.from(`password=${password}\n`) },
  { name: 'JSON of another shape', damage: (_text, password) => Buffer.from(JSON.stringify({ version: 1, superuser: password, port: 'next to 5418', roles: [password] })) },
];

/** Every 8-character piece of every password: none may appear in what a user sees. */
function secretPieces(secretsText: string): string[] {
  const secrets = JSON.parse(secretsText) as Record<string, { password?: string } | number>;
  const pieces: string[] = [];
  for (const entry of Object.values(secrets)) {
    const password = typeof entry === 'object' ? entry.password : undefined;
    if (!password) continue;
    for (let i = 0; i + 8 <= password.length; i++) pieces.push(password.slice(i, i + 8));
  }
  return pieces;
}

function expectNoSecret(text: string, pieces: string[], what: string): void {
  const leaked = pieces.find((piece) => text.includes(piece));
  expect(leaked, `${what} contains a piece of a password`).toBeUndefined();
}

function expectDamaged(error: unknown, file: string, pieces: string[]): void {
  expect(error).toBeInstanceOf(JeexDbError);
  const failure = error as JeexDbError;
  expect(failure.code, failure.message).toBe('LOCAL_STATE_DAMAGED');
  expect(failure.message).toContain(`${file} is damaged`);
  expect(failure.hint).toContain(file.endsWith('secrets.json') ? 'restore it from a copy' : 'jeex-db up');
  expectNoSecret(`${failure.message}\n${failure.hint ?? ''}\n${JSON.stringify(failure)}\n${inspect(failure)}`, pieces, 'the error');
}

function expectCliDamaged(result: RunResult, file: string, pieces: string[]): void {
  const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  expect(result.code, context).toBe(EXIT_LOCAL_STATE_DAMAGED);
  const doc = parseJson<{ ok: boolean; error: { code: string; message: string; hint: string } }>(result);
  expect(doc, context).toMatchObject({ ok: false, error: { code: 'LOCAL_STATE_DAMAGED' } });
  expect(doc.error.message).toContain(file);
  expect(result.stderr).toContain('error [LOCAL_STATE_DAMAGED]');
  expect(result.stderr).toMatch(/^fix: .+/m);
  expectNoSecret(result.stdout, pieces, 'stdout');
  expectNoSecret(result.stderr, pieces, 'stderr');
}

const catchError = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
};

describe('damaged state.json and secrets.json', () => {
  let root: string;
  let dataDir: string;
  let layout: LocalLayout;
  let stateText: string;
  let secretsText: string;
  let pieces: string[];
  let port: number;

  beforeAll(async () => {
    root = await reachableTempDir('jeex-cli-damaged-');
    dataDir = join(root, 'db');
    layout = localLayout(dataDir);
    port = await freePort();
    const result = await runCli(['up', '--data-dir', dataDir, '--port', String(port), '--detach', '--no-pooler', '--json', '--memory', '512MiB', '--cpus', '2']);
    if (result.code !== 0) throw new Error(`setup: up failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
    stateText = await readFile(layout.stateFile, 'utf8');
    secretsText = await readFile(layout.secretsFile, 'utf8');
    pieces = secretPieces(secretsText);
  }, TIMEOUT);

  afterAll(async () => {
    if (dataDir) await runCli(['down', '--data-dir', dataDir]);
    if (root) await rm(root, { recursive: true, force: true });
  }, TIMEOUT);

  for (const kind of ['secrets', 'state'] as const) {
    describe(`${kind}.json`, () => {
      for (const corruption of CORRUPTIONS) {
        it(`${corruption.name}: the library and \`jeex-db url\` say LOCAL_STATE_DAMAGED, naming the file, with no password in sight`, { timeout: TIMEOUT }, async () => {
          const file = kind === 'secrets' ? layout.secretsFile : layout.stateFile;
          const original = kind === 'secrets' ? secretsText : stateText;
          const superuser = (JSON.parse(secretsText) as { superuser: { password: string } }).superuser.password;
          // In secrets.json the damage sits in or beside the superuser's password; state.json has none, its host stands in.
          await writeFile(file, corruption.damage(original, kind === 'secrets' ? superuser : (JSON.parse(stateText) as { host: string }).host));
          try {
            expectDamaged(catchError(() => localUrl(layout, 'app')), file, pieces);
            expectDamaged(catchError(() => (kind === 'secrets' ? readLocalSecrets(layout) : readLocalState(layout))), file, pieces);
            // createDb's local-cluster fallback resolves its URL here.
            expectDamaged(catchError(() => resolveDbConfig({}, localEnv({ JEEX_DB_DATA_DIR: dataDir }))), file, pieces);
            expectCliDamaged(await runCli(['url', 'app', '--data-dir', dataDir, '--json']), file, pieces);
          } finally {
            await writeFile(file, original, { mode: kind === 'secrets' ? 0o600 : 0o644 });
          }
        });
      }
    });
  }

  it('up with a damaged secrets.json stops with LOCAL_STATE_DAMAGED and changes nothing', { timeout: TIMEOUT }, async () => {
    const superuser = (JSON.parse(secretsText) as { superuser: { password: string } }).superuser.password;
    await writeFile(layout.secretsFile, CORRUPTIONS[2]!.damage(secretsText, superuser));
    try {
      const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--no-pooler', '--json']);
      expectCliDamaged(result, layout.secretsFile, pieces);
      expect(result.stderr).toContain('Recovering secrets.json');
      expect(await readFile(layout.secretsFile)).toEqual(CORRUPTIONS[2]!.damage(secretsText, superuser));
    } finally {
      await writeFile(layout.secretsFile, secretsText, { mode: 0o600 });
    }
    // The server was left running and still takes the passwords.
    const sql = connect(localUrl(layout, 'superuser') ?? '', { max: 1, onnotice: () => {} });
    try {
      expect((await sql<{ one: number }[]>`SELECT 1 AS one`)[0]?.one).toBe(1);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('up with a damaged state.json sets it aside and writes it again from the running cluster', { timeout: TIMEOUT }, async () => {
    await writeFile(layout.stateFile, stateText.slice(0, 40));
    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--no-pooler', '--json']);
    expectExit(result, 0);
    const doc = parseJson<{ status: string; port: number; notes?: string[] }>(result);
    expect(doc).toMatchObject({ status: 'already-running', port });
    expect(doc.notes?.join('\n')).toContain(`${layout.stateFile} is damaged`);
    expect(doc.notes?.join('\n')).toContain('state.json.damaged');
    expect(readFileSync(`${layout.stateFile}.damaged`, 'utf8')).toBe(stateText.slice(0, 40));
    expect(readLocalState(layout)).toEqual(JSON.parse(stateText));
    expectExit(await runCli(['url', 'app', '--data-dir', dataDir]), 0);
  });

  it('a secrets.json without the app role’s entry: up gives the role a new password, the rest keep theirs', { timeout: TIMEOUT }, async () => {
    const before = JSON.parse(secretsText) as Record<string, { user: string; password: string }>;
    const { app: _app, ...rest } = before;
    await writeFile(layout.secretsFile, JSON.stringify(rest), { mode: 0o600 });
    expectCliDamaged(await runCli(['url', 'app', '--data-dir', dataDir, '--json']), layout.secretsFile, pieces);

    const result = await runCli(['up', '--data-dir', dataDir, '--detach', '--no-pooler', '--json']);
    expectExit(result, 0);
    expect(parseJson<{ notes?: string[] }>(result).notes?.join('\n')).toContain('had no password for jeex_app');
    const after = readLocalSecrets(layout);
    expect(after?.app.user).toBe('jeex_app');
    expect(after?.app.password).not.toBe(before.app?.password);
    expect(after?.migrator).toEqual(before.migrator);
    const sql = connect(localUrl(layout, 'app', { direct: true }) ?? '', { max: 1, onnotice: () => {} });
    try {
      expect((await sql<{ user: string }[]>`SELECT current_user AS user`)[0]?.user).toBe('jeex_app');
    } finally {
      await sql.end({ timeout: 5 });
    }
    secretsText = await readFile(layout.secretsFile, 'utf8');
    pieces = secretPieces(secretsText);
  });
});
