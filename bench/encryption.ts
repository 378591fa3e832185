/**
 * What SEC-001's column encryption costs: `npx tsx bench/encryption.ts [--users 20000] [--ops 2000]`.
 *
 * 1. the cipher alone: seal, open and blind index of a typical email and name (µs per value);
 * 2. createUser and findUserByEmail against a local PostgreSQL 18 (its own `up` cluster in a temp
 *    directory, no PgBouncer), each next to the same work with the values sealed (or the hash
 *    computed) beforehand and nothing decrypted: what the call costs without encryption, p50/p99;
 * 3. `keys rotate` (data key) and `keys rotate --blind-index` over `--users` rows: rows per second.
 *
 * Prints one JSON document on stdout; progress on stderr.
 */
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { ColumnCipher } from '../src/crypto/column-cipher.ts';
import { generateKey } from '../src/crypto/keys.ts';
import { rotateBlindIndex } from '../src/ops/keys/rotate-blind-index.ts';
import { rotateDataKey } from '../src/ops/keys/rotate-data-key.ts';
import { createDb } from '../src/db/create-db.ts';
import { createUser, findUserByEmail, sealUser } from '../src/db/queries/users.ts';
import { validate } from '../src/db/queries/run.ts';
import { users } from '../src/schema/users.ts';
import { insertUserSchema } from '../src/schema/validation.ts';
import { freePort } from '../src/platform/port.ts';
import { down, up } from '../src/stack/up.ts';
import { insertSealedUsers } from './sealed-users.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const USERS = arg('users', 20_000);
const OPS = arg('ops', 2000);
const log = (line: string) => process.stderr.write(`[encryption] ${line}\n`);
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

function perOp(iterations: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(1000, iterations); i++) fn(i); // warm up
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / 1000 / iterations;
}

async function latencies(count: number, fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; mean: number }> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await fn(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor((times.length * p) / 100))] ?? Number.NaN;
  return { p50: round(at(50), 3), p99: round(at(99), 3), mean: round(times.reduce((a, b) => a + b, 0) / times.length, 3) };
}

async function main(): Promise<void> {
  const keys = { data: [generateKey()], blindIndex: [generateKey()] };
  const cipher = new ColumnCipher(keys);
  const id = '0190a4b1-3c2d-7e4f-8a5b-6c7d8e9f0a1b';
  const email = 'ada.lovelace@example.com';
  const name = 'Ada Lovelace';
  const sealed = cipher.seal(email, 'users.email', id);
  const micro = {
    sealEmailUs: round(perOp(200_000, () => cipher.seal(email, 'users.email', id))),
    openEmailUs: round(perOp(200_000, () => cipher.open(sealed, 'users.email', id))),
    blindIndexUs: round(perOp(200_000, () => cipher.blindIndex(email))),
    sealUserUs: round(perOp(100_000, () => sealUser(cipher, { id, email, name }))),
    envelopeChars: { email: sealed.envelope.length, plaintext: email.length },
  };
  log(`cipher: ${JSON.stringify(micro)}`);

  const root = await mkdtemp(join(tmpdir(), 'jeex-bench-enc-'));
  await chmod(root, 0o755);
  const dataDir = join(root, 'db');
  try {
    log('starting a local PostgreSQL 18');
    const cluster = await up({ dataDir, port: await freePort(), memoryBytes: 1024 ** 3, pooler: false });
    const client = createDb({ url: cluster.urls.appDirect ?? cluster.urls.app, max: 4, keys }, {});
    try {
      const { db } = client;
      log(`createUser x ${OPS}, and the same insert pre-sealed`);
      const created = await latencies(OPS, (i) => createUser(db, { email: `c${i}@example.com`, name: `Created ${i}` }));
      const preSealed = Array.from({ length: OPS }, (_, i) => sealUser(cipher, { email: `p${i}@example.com`, name: `Plain ${i}` }));
      // createUser's other steps, the same way: validation, then the insert returning the row.
      const insertOnly = await latencies(OPS, (i) => {
        validate(insertUserSchema, { email: `p${i}@example.com`, name: `Plain ${i}` }, 'user');
        return db.insert(users).values(preSealed[i] as (typeof preSealed)[number]).returning();
      });
      log(`findUserByEmail x ${OPS}, and the same select by a precomputed hash, rows not decrypted`);
      const found = await latencies(OPS, (i) => findUserByEmail(db, `C${i}@example.com`));
      const hashes = Array.from({ length: OPS }, (_, i) => cipher.blindIndex(`c${i}@example.com`));
      const selectOnly = await latencies(OPS, (i) => db.select().from(users).where(eq(users.emailHash, hashes[i] as Buffer)));

      log(`seeding ${USERS} users for the rotation`);
      await client.sql`DELETE FROM users`;
      for (let from = 0; from < USERS; from += 5000) {
        const chunk = Array.from({ length: Math.min(5000, USERS - from) }, (_, j) => ({ email: `r${from + j}@example.com`, name: `Rotated user ${from + j}` }));
        await insertSealedUsers(client.sql, cipher, chunk);
      }
      // (no VACUUM: the application role does not own the table; the deleted rows are few)
      const rotation: Record<string, unknown> = {};
      // After each round every row is under the round's new key, which the next round retires.
      let current = keys.data;
      for (const batchSize of [500, 2000]) {
        const next = generateKey();
        log(`rotating the data key of ${USERS} rows, batches of ${batchSize}`);
        const data = await rotateDataKey(client.sql, new ColumnCipher({ data: [next, ...current], blindIndex: keys.blindIndex }), { batchSize });
        rotation[`dataKeyBatch${batchSize}`] = { rows: data.changed, remaining: data.remaining, seconds: round(data.durationMs / 1000), rowsPerSecond: Math.round(data.changed / (data.durationMs / 1000)) };
        current = [next];
      }
      log(`rotating the blind-index key of ${USERS} rows, batches of 500`);
      const blind = await rotateBlindIndex(client.sql, new ColumnCipher({ data: current, blindIndex: [generateKey(), ...keys.blindIndex] }), { batchSize: 500 });
      rotation.blindIndexBatch500 = { rows: blind.changed, remaining: blind.remaining, seconds: round(blind.durationMs / 1000), rowsPerSecond: Math.round(blind.changed / (blind.durationMs / 1000)) };

      const result = {
        ok: true,
        machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
        cipher: micro,
        createUserMs: created,
        sameInsertPreSealedMs: insertOnly,
        findUserByEmailMs: found,
        sameSelectByHashMs: selectOnly,
        rotation,
      };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      await client.close();
    }
  } finally {
    await down({ dataDir }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
