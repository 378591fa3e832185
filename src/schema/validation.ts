import { createInsertSchema } from 'drizzle-zod';
import { z } from 'zod';
import { isUuidv7 } from '../core/uuid.ts';
import { boundedBytes, boundedChars, boundedUuid, jsonBound, MAX_AGENT_DATA_BYTES, MAX_CONTENT_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_FILE_PATH_BYTES, MAX_JSON_OBJECT_BYTES } from './input-bounds.ts';
import { agentExecutions } from './agent-executions.ts';
import { documentVersions } from './document-versions.ts';
import { exports } from './exports.ts';
import { languageTagPattern, projects } from './projects.ts';
import { users } from './users.ts';

// The same rules as the CHECK constraints, so bad input is rejected before any SQL is sent.
// Lengths count characters (code points), as PostgreSQL's char_length does. Users' email and
// name are encrypted (the database sees only envelopes), so their rules are checked here only.
// Sizes come first (src/schema/input-bounds.ts): a check that fails stops the regexes and
// refinements after it, so none of them ever walks an oversized input; text with a lone
// surrogate is refused rather than stored as U+FFFD.
const chars = boundedChars;
// A function, not a schema: drizzle-zod then keeps columns with a default optional. The size is
// checked on the raw value, before z.record lists its keys.
const jsonObject = (maxBytes = MAX_JSON_OBJECT_BYTES) => () => z.unknown().check(jsonBound(maxBytes)).pipe(z.record(z.string(), z.unknown()));
const jsonValue =
  (maxBytes: number) =>
  <S extends z.ZodType>(s: S) =>
    z.unknown().check(jsonBound(maxBytes)).pipe(s);
const score = (s: z.ZodNumber) => s.min(0).max(100);
const serverManaged = { createdAt: true, updatedAt: true } as const;
// Callers may choose the id (to know it before the insert); it must then be a UUIDv7.
const id = (s: z.ZodUUID) => boundedUuid(s.refine(isUuidv7, 'must be a UUIDv7 (use uuidv7())'));
// Foreign keys and other UUIDs: the length before the format.
const uuid = (s: z.ZodUUID) => boundedUuid(s);

/** An email: name@domain, no spaces, at most 320 characters (RFC 5321's limit). */
export const emailSchema = chars(1, 320)(z.string()).regex(/^[^@\s]+@[^@\s]+$/, 'must look like name@example.com');

/** What createUser accepts: plaintext email and name (sealed by the query), no blind index. */
export const insertUserSchema = createInsertSchema(users, {
  id,
  email: emailSchema,
  name: chars(1, 255)(z.string()),
  profileData: jsonObject(),
}).omit({ ...serverManaged, emailHash: true });

export const insertProjectSchema = createInsertSchema(projects, {
  id,
  name: chars(1, 255),
  createdBy: uuid,
  currentStep: (s) => s.min(1).max(4),
  language: (s) => chars(1, 255)(s).regex(new RegExp(languageTagPattern), 'must be a BCP 47 tag such as en, ru or pt-BR'),
  metadata: jsonObject(),
}).omit({ ...serverManaged, deletedAt: true });

export const insertDocumentVersionSchema = createInsertSchema(documentVersions, {
  id,
  projectId: uuid,
  createdBy: uuid,
  version: (s) => s.min(1),
  content: boundedBytes(MAX_CONTENT_BYTES),
  metadata: jsonObject(),
  readabilityScore: score,
  grammarScore: score,
}).omit(serverManaged);

export const insertAgentExecutionSchema = createInsertSchema(agentExecutions, {
  id,
  projectId: uuid,
  correlationId: uuid,
  agentType: (s) => chars(1, 64)(s).regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a snake_case name such as product_manager'),
  inputData: jsonValue(MAX_AGENT_DATA_BYTES),
  outputData: jsonValue(MAX_AGENT_DATA_BYTES),
  errorMessage: boundedBytes(MAX_ERROR_MESSAGE_BYTES),
  durationMs: (s) => s.min(0),
}).omit(serverManaged);

export const insertExportSchema = createInsertSchema(exports, {
  id,
  projectId: uuid,
  createdBy: uuid,
  downloadCount: (s) => s.min(0),
  filePath: boundedBytes(MAX_FILE_PATH_BYTES),
  manifest: jsonObject(),
}).omit(serverManaged);
