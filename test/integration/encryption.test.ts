import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ColumnCipher } from '../../src/crypto/column-cipher.ts';
import { generateKey } from '../../src/crypto/keys.ts';
import { createDb } from '../../src/db/create-db.ts';
import { createUser, findUserByEmail, getUser, recordLogin } from '../../src/db/queries/users.ts';
import { uuidv7 } from '../../src/core/uuid.ts';
import { users } from '../../src/schema/index.ts';
import { refusal, rejection } from '../helpers/rejections.ts';
import { useTestDatabase } from '../helpers/test-db.ts';
import { emailHash, rawUser, testKeys } from '../helpers/users.ts';

// SEC-001: users' email and name are AES-256-GCM ciphertext at rest; lookups and uniqueness go
// through the blind index; the database refuses plaintext even from raw SQL.

const unique = (name: string) => `${name}.${randomUUID().slice(0, 8)}@Example.COM`;

describe('SEC-001: users encrypted at rest', () => {
  const t = useTestDatabase();

  it('stores no plaintext (nor its base64) in email, name or anywhere in the row', async () => {
    const email = unique('Ada.Lovelace');
    const name = 'Ada Lovelace, Countess of Lovelace';
    const ada = await createUser(t.client.db, { email, name });
    expect(ada).toMatchObject({ email, name });

    const [raw] = await t.admin<{ email: string; name: string; email_hash: Buffer; row: string }[]>`
      SELECT email, name, email_hash, u::text AS row FROM users u WHERE id = ${ada.id}`;
    expect(raw?.email).toMatch(/^jx1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$/);
    expect(raw?.name).toMatch(/^jx1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$/);
    expect(raw?.email_hash).toHaveLength(36);
    const forms = [email, email.toLowerCase(), name, 'Lovelace', 'lovelace'].flatMap((text) => [
      text,
      Buffer.from(text).toString('base64'),
      Buffer.from(text).toString('base64url'),
      Buffer.from(text).toString('hex'),
    ]);
    for (const form of forms) expect(raw?.row.toLowerCase(), form).not.toContain(form.toLowerCase());
    // The same email sealed twice differs (random nonce); the blind index does not.
    const again = rawUser(email, name, ada.id);
    expect(again.email).not.toBe(raw?.email);
    expect(again.email_hash.equals(raw!.email_hash)).toBe(true);
  });

  it('reads back through getUser, findUserByEmail (any case, via the blind index) and recordLogin', async () => {
    const email = unique('Grace.Hopper');
    const grace = await createUser(t.client.db, { email, name: 'Grace Hopper' });
    for (const spelling of [email, email.toLowerCase(), email.toUpperCase(), `  ${email} `]) {
      expect(await findUserByEmail(t.client.db, spelling), spelling).toEqual(grace);
    }
    expect(await findUserByEmail(t.client.db, `nobody.${randomUUID()}@example.com`)).toBeUndefined();
    expect(await getUser(t.client.db, grace.id)).toEqual(grace);
    expect(await recordLogin(t.client.db, grace.id)).toMatchObject({ email, name: 'Grace Hopper' });
    const plan = await t.admin<{ 'QUERY PLAN': string }[]>`EXPLAIN SELECT * FROM users WHERE email_hash = ${emailHash(email)}`;
    expect(plan.map((row) => row['QUERY PLAN']).join('\n')).toContain('users_email_hash_unique');
  });

  it('refuses the same email in another case with the unique violation a person understands', async () => {
    const email = unique('Hedy.Lamarr');
    await createUser(t.client.db, { email, name: 'Hedy' });
    const error = await rejection(createUser(t.client.db, { email: email.toUpperCase(), name: 'Impostor' }));
    expect(error.code).toBe('UNIQUE_VIOLATION');
    expect(error.constraint).toBe('users_email_hash_unique');
    expect(error.message).toBe('users_email_hash_unique: a user with this email already exists');
    expect(error.hint).toContain('ignoring case');
    expect(JSON.stringify(error).toLowerCase()).not.toContain(email.toLowerCase());
  });

  it('refuses plaintext from raw SQL (CHECK) and from Drizzle (the column type)', async () => {
    const u = rawUser(unique('raw'), 'Raw');
    const plainEmail = await refusal(t.client.sql`INSERT INTO users (email, email_hash, name) VALUES ('raw@example.com', ${u.email_hash}, ${u.name})`);
    expect(plainEmail).toMatchObject({ code: 'CHECK_VIOLATION', constraint: 'users_email_sealed' });
    const plainName = await refusal(t.client.sql`INSERT INTO users (email, email_hash, name) VALUES (${u.email}, ${u.email_hash}, 'Raw')`);
    expect(plainName).toMatchObject({ code: 'CHECK_VIOLATION', constraint: 'users_name_sealed' });
    const shortHash = await refusal(t.client.sql`INSERT INTO users (email, email_hash, name) VALUES (${u.email}, ${Buffer.alloc(32)}, ${u.name})`);
    expect(shortHash).toMatchObject({ code: 'CHECK_VIOLATION', constraint: 'users_email_hash_length' });

    const drizzle = await rejection(
      Promise.resolve().then(() => t.client.db.insert(users).values({ email: 'drizzle@example.com' as never, emailHash: u.email_hash, name: 'x' as never })),
    );
    expect(drizzle.code).toBe('INVALID_INPUT');
    expect(drizzle.message).toContain('not plaintext');
    const [count] = await t.admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE email_hash = ${u.email_hash}`;
    expect(count?.n).toBe(0);
  });

  it('a ciphertext copied to another row fails authentication; a copied blind index finds nobody', async () => {
    const victim = await createUser(t.client.db, { email: unique('victim'), name: 'Victim' });
    const thief = await createUser(t.client.db, { email: unique('thief'), name: 'Thief' });
    // A read-write SQL attacker copies the victim's name onto the thief's row...
    await t.admin`UPDATE users SET name = (SELECT name FROM users WHERE id = ${victim.id}) WHERE id = ${thief.id}`;
    const error = await rejection(getUser(t.client.db, thief.id));
    expect(error.code).toBe('DECRYPT_FAILED');
    expect(error.message).toContain(`users.name of row ${thief.id}`);
    expect(error.message).toContain('copied from another row');
    // ...or frees the victim's blind index and puts it on the thief's row.
    const stolen = emailHash(victim.email);
    await t.admin`UPDATE users SET email_hash = ${rawUser('gone@example.com', 'x').email_hash} WHERE id = ${victim.id}`;
    await t.admin`UPDATE users SET email_hash = ${stolen}, name = ${rawUser('x@example.com', 'Thief', thief.id).name} WHERE id = ${thief.id}`;
    expect(await findUserByEmail(t.client.db, victim.email)).toBeUndefined();
  });

  it('reading with another data key fails with ENCRYPTION_KEY_UNKNOWN naming the key id', async () => {
    const user = await createUser(t.client.db, { email: unique('keyed'), name: 'Keyed' });
    const stranger = createDb({ url: t.appUrl, max: 1, keys: { data: [generateKey()], blindIndex: testKeys().blindIndex } }, {});
    try {
      const error = await rejection(getUser(stranger.db, user.id));
      expect(error.code).toBe('ENCRYPTION_KEY_UNKNOWN');
      expect(error.message).toContain(`data key ${testKeys().data[0]?.id}`);
      expect(error.hint).toContain('JEEX_DATA_KEYS');
    } finally {
      await stranger.close();
    }
  });

  it('without keys, user queries fail with ENCRYPTION_KEY_MISSING naming the variables; other queries work', async () => {
    const keyless = createDb({ url: t.appUrl, max: 1 }, {});
    try {
      for (const attempt of [createUser(keyless.db, { email: unique('none'), name: 'None' }), getUser(keyless.db, uuidv7()), findUserByEmail(keyless.db, 'a@x.io')]) {
        const error = await rejection(attempt);
        expect(error.code).toBe('ENCRYPTION_KEY_MISSING');
        expect(error.message).toContain('JEEX_DATA_KEY');
        expect(error.message).toContain('JEEX_BLIND_INDEX_KEY');
      }
      expect(await keyless.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await keyless.close();
    }
    // From the environment, as a service would be configured.
    const [data, blindIndex] = [testKeys().data[0], testKeys().blindIndex[0]];
    const fromEnv = createDb({ url: t.appUrl, max: 1 }, { JEEX_DATA_KEY: data?.material.toString('base64'), JEEX_BLIND_INDEX_KEY: blindIndex?.material.toString('hex') });
    try {
      const user = await createUser(fromEnv.db, { email: unique('env'), name: 'Env' });
      expect(await getUser(t.client.db, user.id)).toEqual(user);
      expect(fromEnv.cipher()).toBeInstanceOf(ColumnCipher);
    } finally {
      await fromEnv.close();
    }
  });

  it('createUser inside a transaction uses the client cipher, and rolls back with it', async () => {
    const email = unique('tx');
    await t.client.db
      .transaction(async (tx) => {
        const user = await createUser(tx, { email, name: 'In a transaction' });
        expect(await getUser(tx, user.id)).toEqual(user);
        tx.rollback();
      })
      .catch(() => undefined);
    expect(await findUserByEmail(t.client.db, email)).toBeUndefined();
  });
});
