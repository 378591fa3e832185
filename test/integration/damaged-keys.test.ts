import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatKey, generateKey, parseKey } from '../../src/crypto/keys.ts';
import { createDb, type JeexDb } from '../../src/db/create-db.ts';
import { createUser, findUserByEmail, getUser } from '../../src/db/queries/users.ts';
import type { User } from '../../src/schema/types.ts';
import { rejection } from '../helpers/rejections.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { testKeyEnv } from '../helpers/users.ts';

// Issue 18, finding 2: a key file damaged but still holding a valid key (one character changed:
// another 32-byte key, another key id). Before, a service restarted with it sealed new users under
// the wrong key (unreadable once the file was repaired) and, for the blind-index key, missed
// existing users and accepted a duplicate email. Now the configured key ids are checked against
// the key ids stored in the rows: writes are refused naming the file, lookups fail loudly.

/** The key text with one base64 character changed: still a valid 32-byte key, another id. */
function damaged(text: string): string {
  const trimmed = text.trim();
  const i = 10;
  return `${trimmed.slice(0, i)}${trimmed[i] === 'A' ? 'B' : 'A'}${trimmed.slice(i + 1)}\n`;
}

describe('issue 18 finding 2: a damaged key file that still holds a valid key', () => {
  const t = useTestDatabase();
  const env = testKeyEnv();
  const dataId = parseKey(env.JEEX_DATA_KEY, 'data').id;
  const blindId = parseKey(env.JEEX_BLIND_INDEX_KEY, 'blind index').id;
  let dir = '';
  const files = { data: '', blindIndex: '' };
  const clients: JeexDb[] = [];
  let seeded: User[] = [];

  /** A service (re)started with the key files, as it would read them at its first user query. */
  const service = (): JeexDb => {
    const client = createDb({ url: t.appUrl, max: 2 }, { JEEX_DATA_KEY_FILE: files.data, JEEX_BLIND_INDEX_KEY_FILE: files.blindIndex });
    clients.push(client);
    return client;
  };
  const count = async () => (await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users`)[0]?.n;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jeex-damaged-keys-'));
    files.data = join(dir, 'data.key');
    files.blindIndex = join(dir, 'blind-index.key');
    await writeFile(files.data, `${env.JEEX_DATA_KEY}\n`, { mode: 0o600 });
    await writeFile(files.blindIndex, `${env.JEEX_BLIND_INDEX_KEY}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    for (const client of clients) await client.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('first start on an empty table: several processes starting at once with the same keys all write', async () => {
    expect(await count()).toBe(0);
    const starting = Array.from({ length: 4 }, () => service());
    seeded = await Promise.all(starting.flatMap((client, i) => [0, 1].map((j) => createUser(client.db, { email: `Seed.${i}.${j}@Example.com`, name: `Seed ${i}.${j}` }))));
    expect(await count()).toBe(8);
  });

  it('data key: createUser is refused naming the file; repaired, every user reads back', async () => {
    const good = await readFile(files.data, 'utf8');
    await writeFile(files.data, damaged(good));
    const wrongId = parseKey(await readFile(files.data, 'utf8'), 'damaged').id;
    expect(wrongId).not.toBe(dataId);
    const broken = service();
    // Reads already failed loudly...
    expect((await rejection(getUser(broken.db, seeded[0]?.id ?? ''))).code).toBe('ENCRYPTION_KEY_UNKNOWN');
    // ...but writes sealed new users under the damaged key.
    const error = await rejection(createUser(broken.db, { email: 'sealed.wrong@example.com', name: 'Wrong key' }));
    expect(error.code).toBe('ENCRYPTION_KEY_MISMATCH');
    expect(error.message).toContain(`JEEX_DATA_KEY_FILE (${files.data})`);
    expect(error.message).toContain(wrongId);
    expect(error.message).toContain(dataId);
    expect(error.hint).toContain('restore');
    expect(JSON.stringify(error)).not.toContain(good.trim());
    expect(await count()).toBe(8);

    await writeFile(files.data, good);
    const repaired = service();
    const ids = await t.admin<{ id: string }[]>`SELECT id FROM users ORDER BY id`;
    for (const { id } of ids) expect((await getUser(repaired.db, id))?.id).toBe(id);
    expect((await createUser(repaired.db, { email: 'after.repair@example.com', name: 'After repair' })).name).toBe('After repair');
  });

  it('blind-index key: findUserByEmail fails loudly instead of missing; a duplicate email is refused; repaired, the user is found once', async () => {
    const existing = seeded[0] as User;
    const good = await readFile(files.blindIndex, 'utf8');
    await writeFile(files.blindIndex, damaged(good));
    const wrongId = parseKey(await readFile(files.blindIndex, 'utf8'), 'damaged').id;
    const broken = service();

    const lookup = await rejection(findUserByEmail(broken.db, existing.email));
    expect(lookup.code).toBe('ENCRYPTION_KEY_MISMATCH');
    expect(lookup.message).toContain(`JEEX_BLIND_INDEX_KEY_FILE (${files.blindIndex})`);
    expect(lookup.message).toContain(blindId);
    expect(lookup.message).toContain(wrongId);
    const before = await count();
    const duplicate = await rejection(createUser(broken.db, { email: existing.email.toUpperCase(), name: 'Duplicate' }));
    expect(duplicate.code).toBe('ENCRYPTION_KEY_MISMATCH');
    expect(duplicate.message).toContain(files.blindIndex);
    // Any new user too: its email cannot be checked against the stored ones.
    expect((await rejection(createUser(broken.db, { email: 'brand.new@example.com', name: 'New' }))).code).toBe('ENCRYPTION_KEY_MISMATCH');
    expect(await count()).toBe(before);

    await writeFile(files.blindIndex, good);
    const repaired = service();
    expect((await findUserByEmail(repaired.db, existing.email.toLowerCase()))?.id).toBe(existing.id);
    expect(await findUserByEmail(repaired.db, 'nobody@example.com')).toBeUndefined();
    expect((await rejection(createUser(repaired.db, { email: existing.email.toUpperCase(), name: 'Duplicate' }))).code).toBe('UNIQUE_VIOLATION');
    const [holders] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE substring(email_hash FROM 1 FOR 4) <> ${Buffer.from(blindId, 'hex')}`;
    expect(holders?.n).toBe(0);
  });

  it('a rotation in progress keeps working: "new,old" data keys and "new,old" blind-index keys read and write', async () => {
    const [nextData, nextBlind] = [generateKey(), generateKey()];
    const rotating = createDb(
      { url: t.appUrl, max: 2 },
      { JEEX_DATA_KEYS: `${formatKey(nextData)},${env.JEEX_DATA_KEY}`, JEEX_BLIND_INDEX_KEYS: `${formatKey(nextBlind)},${env.JEEX_BLIND_INDEX_KEY}` },
    );
    clients.push(rotating);
    const added = await createUser(rotating.db, { email: 'rotating@example.com', name: 'Rotating' });
    expect((await findUserByEmail(rotating.db, seeded[1]?.email ?? ''))?.id).toBe(seeded[1]?.id);
    expect((await findUserByEmail(rotating.db, 'Rotating@example.com'))?.id).toBe(added.id);
    expect((await rejection(createUser(rotating.db, { email: seeded[2]?.email ?? '', name: 'Duplicate' }))).code).toBe('UNIQUE_VIOLATION');
    // A process that has only the new keys cannot read the old rows nor see their emails: refused.
    const onlyNew = createDb({ url: t.appUrl, max: 1, keys: { data: [nextData], blindIndex: [nextBlind] } }, {});
    clients.push(onlyNew);
    const refused = await rejection(createUser(onlyNew.db, { email: 'only.new@example.com', name: 'Only new' }));
    expect(refused.code).toBe('ENCRYPTION_KEY_MISMATCH');
    expect(refused.message).toContain('option keys.blindIndex');
  });
});
