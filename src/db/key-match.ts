import { sql } from 'drizzle-orm';
import type { Database } from './create-db.ts';
import { JeexDbError } from '../core/errors.ts';
import type { ColumnCipher } from '../crypto/column-cipher.ts';
import { cipherOf, keyOf } from '../crypto/db-cipher.ts';

/**
 * The configured keys against the key ids stored in `users`: each envelope names the data key
 * that sealed it (`jx1.<key id>.…`), each blind index starts with the 4 bytes of its key's id.
 * Nothing but ids is read; no key is needed to compare them.
 */
export interface KeyMatch {
  /** `users` has at least one row (an empty table takes any key: a first start). */
  rows: boolean;
  data: {
    configured: string[];
    /** Some row is sealed with one of the configured data keys. */
    matched: boolean;
    /** Data key ids found in the rows (a sample of the first rows: for messages). */
    stored: string[];
  };
  blindIndex: {
    configured: string[];
    /** Every blind-index key id in the rows (found through the unique index, one probe per id). */
    stored: string[];
    /** Stored ids that are not configured: a lookup could miss those rows, a duplicate pass. */
    unknown: string[];
  };
  /** Whether the configured keys may seal new rows (and a lookup's miss can be trusted). */
  ok: boolean;
}

/** What a query is about to do with the keys: `write` seals and hashes, `lookup` trusts a miss. */
export type KeyPurpose = 'write' | 'lookup';

// A blind index is 36 bytes: key id (4) | HMAC (32). prefix || 32 x 0xff is the largest value
// under that key id, so the next key id starts above it.
const AFTER_PREFIX = sql.raw(`decode('${'ff'.repeat(32)}', 'hex')`);
// More distinct blind-index key ids than any rotation has (two): a table full of junk prefixes
// must not turn the probe into a scan.
const MAX_BLIND_IDS = 16;

/**
 * Compare the configured keys with the key ids stored in `users`, in one statement:
 *
 * - data keys: refused when the table has rows and none of them is sealed with a configured
 *   data key (a damaged or wrong key file: new rows would be sealed with a key nothing else
 *   can read). During a rotation (`JEEX_DATA_KEYS="new,old"`) the old key's rows match. The
 *   probe stops at the first matching row; only a mismatch reads the whole table.
 * - blind-index keys: refused when any stored blind index is under a key that is not
 *   configured, since a lookup cannot find those rows and the unique constraint cannot compare
 *   them (a duplicate email would pass). The distinct ids come from the unique index on
 *   `email_hash`, one index probe each.
 *
 * @example
 * const match = await checkKeyMatch(db);
 * if (!match.ok) console.error(keyMismatchError(match, cipherOf(db), 'write').message);
 */
export async function checkKeyMatch(db: Database, cipher: ColumnCipher = cipherOf(db)): Promise<KeyMatch> {
  const dataIds = cipher.dataKeyIds;
  const blindIds = cipher.blindIndexKeyIds;
  const [row] = await db.execute<{ rows: boolean; data_matched: boolean; data_stored: string[] | null; blind_stored: string[] | null }>(sql`
    SELECT
      EXISTS (SELECT 1 FROM users) AS rows,
      EXISTS (SELECT 1 FROM users WHERE split_part(email, '.', 2) IN (${sql.join(
        dataIds.map((id) => sql`${id}`),
        sql`, `,
      )})) AS data_matched,
      ARRAY(SELECT DISTINCT split_part(email, '.', 2) FROM (SELECT email FROM users LIMIT 100) AS first_rows ORDER BY 1) AS data_stored,
      ARRAY(
        WITH RECURSIVE ids(prefix, n) AS (
          (SELECT substring(email_hash FROM 1 FOR 4), 1 FROM users ORDER BY email_hash LIMIT 1)
          UNION ALL
          SELECT (SELECT substring(u.email_hash FROM 1 FOR 4) FROM users AS u WHERE u.email_hash > ids.prefix || ${AFTER_PREFIX} ORDER BY u.email_hash LIMIT 1), ids.n + 1
          FROM ids WHERE ids.prefix IS NOT NULL AND ids.n < ${MAX_BLIND_IDS}
        )
        SELECT encode(prefix, 'hex') FROM ids WHERE prefix IS NOT NULL
      ) AS blind_stored`);
  const rows = Boolean(row?.rows);
  const blindStored = row?.blind_stored ?? [];
  const unknown = blindStored.filter((id) => !blindIds.includes(id));
  const matched = Boolean(row?.data_matched);
  return {
    rows,
    data: { configured: dataIds, matched, stored: row?.data_stored ?? [] },
    blindIndex: { configured: blindIds, stored: blindStored, unknown },
    ok: !rows || (matched && unknown.length === 0),
  };
}

/** Whether `match` allows `use`: a lookup needs only the blind-index keys to cover the rows. */
function allows(match: KeyMatch, use: KeyPurpose): boolean {
  if (!match.rows) return true;
  return match.blindIndex.unknown.length === 0 && (use === 'lookup' || match.data.matched);
}

/**
 * ENCRYPTION_KEY_MISMATCH for `match`: which configured key (and its source: the variable, or
 * the file) matches which stored ids, and what to do. Key ids only, never a key.
 */
export function keyMismatchError(match: KeyMatch, cipher: ColumnCipher, use: KeyPurpose): JeexDbError {
  const problems: string[] = [];
  const fixes: string[] = [];
  if (use === 'write' && match.rows && !match.data.matched) {
    problems.push(
      `users has rows sealed with data key ${match.data.stored.join(', ') || '(other ids)'}, but none with the configured data key ${match.data.configured.join(', ')} (${cipher.sources.data})`,
    );
    fixes.push(
      `If ${cipher.sources.data} was changed or replaced, restore it from your copy (the rows need key id ${match.data.stored.join(' or ') || 'listed by `jeex-db keys status`'}) and restart. ` +
        'To move to a new data key, list it before the old one (JEEX_DATA_KEYS="new,old"), then run `jeex-db keys rotate`.',
    );
  }
  if (match.blindIndex.unknown.length > 0) {
    problems.push(
      `users.email_hash holds blind indexes under key ${match.blindIndex.unknown.join(', ')}, which is not configured (${cipher.sources.blindIndex} has ${match.blindIndex.configured.join(', ')}): ` +
        (use === 'lookup' ? 'a user stored under it cannot be found, so "no such user" cannot be answered' : 'the email cannot be checked against those rows, so a duplicate could be accepted'),
    );
    fixes.push(
      `If ${cipher.sources.blindIndex} was changed or replaced, restore it from your copy (key id ${match.blindIndex.unknown.join(' or ')}) and restart. ` +
        'During a blind-index rotation every process needs every key in use (JEEX_BLIND_INDEX_KEYS="new,old"). ' +
        'Rows under a key that is lost get their blind index recomputed by `jeex-db keys rotate --blind-index` (it needs only the data key).',
    );
  }
  const refused = use === 'write' ? 'Nothing was written.' : 'The lookup is refused rather than answered wrongly.';
  return new JeexDbError('ENCRYPTION_KEY_MISMATCH', `the configured keys do not match the stored rows: ${problems.join('; ')}. ${refused}`, {
    hint: `${fixes.join(' ')} \`jeex-db keys status\` lists the key ids in use.`,
    table: 'users',
    context: {
      data: { configured: match.data.configured, stored: match.data.stored, source: cipher.sources.data },
      blindIndex: { configured: match.blindIndex.configured, stored: match.blindIndex.stored, unknown: match.blindIndex.unknown, source: cipher.sources.blindIndex },
    },
  });
}

// A match is trusted this long, then checked again (a rotation elsewhere may have moved the rows
// to a key this process lacks); a mismatch is checked again sooner, and an empty table at every
// use, until the first row shows which keys the table is under.
const MATCH_TTL_MS = 30_000;
const MISMATCH_TTL_MS = 5_000;

interface Verdict {
  match: KeyMatch;
  at: number;
}

const verdicts = new WeakMap<object, Verdict>();
// Per handle (a client, or one transaction): a check runs in the caller's transaction, so only
// callers on the same handle share one that is under way.
const running = new WeakMap<object, Promise<KeyMatch>>();

/**
 * The client's cipher once its keys match the stored rows for `use` (see `checkKeyMatch`),
 * else ENCRYPTION_KEY_MISMATCH naming the key's source. Checked at the first use of a client and
 * again every 30 s: a few index probes, one round trip. Several processes starting at once all
 * read, none writes, so none waits for another.
 *
 * @example
 * const cipher = await matchedCipherOf(db, 'write'); // before sealing a new user
 */
export async function matchedCipherOf(db: Database, use: KeyPurpose): Promise<ColumnCipher> {
  const cipher = cipherOf(db);
  const key = keyOf(db);
  const cached = verdicts.get(key);
  const fresh = cached && cached.match.rows && Date.now() - cached.at < (cached.match.ok ? MATCH_TTL_MS : MISMATCH_TTL_MS);
  let match = fresh ? cached.match : undefined;
  if (!match) {
    let pending = running.get(db);
    if (!pending) {
      pending = checkKeyMatch(db, cipher).finally(() => running.delete(db));
      running.set(db, pending);
    }
    match = await pending;
    verdicts.set(key, { match, at: Date.now() });
  }
  if (!allows(match, use)) throw keyMismatchError(match, cipher, use);
  return cipher;
}
