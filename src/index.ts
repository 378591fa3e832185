/**
 * jeex-db: the PostgreSQL foundation of JEEX Idea. The root is what a service needs at run
 * time: the client, the query functions, the errors, the encryption of columns and the schema's
 * types. The rest is under subpaths, so a service loads only what it uses:
 *
 *   jeex-db/schema    the Drizzle tables, relations and validation (drizzle-kit reads it)
 *   jeex-db/migrate   the migration runner, plan and CI check
 *   jeex-db/ops       health, metrics, alerts, diagnose, roles, audit, backups, PgBouncer, TLS, keys
 *   jeex-db/local     the local stack of `jeex-db up` (up, down, its layout and URLs)
 *   jeex-db/serve     what `jeex-db serve` runs (health endpoints, alerts, metrics, backups)
 *
 * @example
 * import { createDb, createUser, appendDocumentVersion } from 'jeex-db';
 * const { db, close } = createDb(); // DATABASE_URL, or the local cluster of `jeex-db up`
 */
export type * from './schema/types.ts';
export { createDb, type CreateDbInput, type Database, type JeexDb } from './db/create-db.ts';
export { connect } from './db/connect.ts';
export { clientTarget, type ClientTarget, type SslMode } from './db/client-tls.ts';
export type { OperationStats } from './db/operation-window.ts';
export { resolveDbConfig, urlFor, type DbConfig, type DbConfigInput } from './db/config.ts';
export { JeexDbError, errorCodes, isJeexDbError, type ErrorCode } from './core/errors.ts';
export { EXIT, exitCodeFor, errorEntries, exitEntries } from './core/codes.ts';
export { translateDbError } from './db/translate-error.ts';
export { uuidv7, isUuidv7, uuidv7Timestamp } from './core/uuid.ts';
export { maskUrl, maskSecrets } from './db/url.ts';
export { packageVersion } from './core/package.ts';
export * from './db/queries/users.ts';
export * from './db/queries/projects.ts';
export * from './db/queries/document-versions.ts';
export * from './db/queries/agent-executions.ts';
export * from './db/queries/exports.ts';
export { EncryptionKey, formatKey, generateKey, keyId, keyVariables, loadKeys, parseKey, type KeyPrefix } from './crypto/keys.ts';
export { Sealed } from './crypto/sealed.ts';
export { ColumnCipher, normalizeEmail, type CipherKeys, type CipherKeySources, type ColumnId } from './crypto/column-cipher.ts';
export { loadColumnCipher, type CipherKeyOptions } from './local/cipher-keys.ts';
export { attachCipher, cipherOf } from './crypto/db-cipher.ts';
export { checkKeyMatch, keyMismatchError, matchedCipherOf, type KeyMatch, type KeyPurpose } from './db/key-match.ts';
export { asAppUser } from './ops/audit/app-user.ts';
