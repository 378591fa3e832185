import { createInsertSchema } from 'drizzle-zod';
import { z } from 'zod';
import { isUuidv7 } from '../db/uuid.ts';
import { agentExecutions } from './agent-executions.ts';
import { documentVersions } from './document-versions.ts';
import { exports } from './exports.ts';
import { languageTagPattern, projects } from './projects.ts';
import { users } from './users.ts';

// The same rules as the CHECK constraints, so bad input is rejected before any SQL is sent.
// Lengths count characters (code points), as PostgreSQL's char_length does. Users' email and
// name are encrypted (the database sees only envelopes), so their rules are checked here only.
const chars = (min: number, max: number) => (s: z.ZodString) =>
  s.refine((v) => [...v].length >= min && [...v].length <= max, `must be ${min} to ${max} characters long`);
// A function, not a schema: drizzle-zod then keeps columns with a default optional.
const jsonObject = () => z.record(z.string(), z.unknown());
const score = (s: z.ZodNumber) => s.min(0).max(100);
const serverManaged = { createdAt: true, updatedAt: true } as const;
// Callers may choose the id (to know it before the insert); it must then be a UUIDv7.
const id = (s: z.ZodUUID) => s.refine(isUuidv7, 'must be a UUIDv7 (use uuidv7())');

/** An email: name@domain, no spaces, at most 320 characters (RFC 5321's limit). */
export const emailSchema = chars(1, 320)(z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must look like name@example.com'));

/** What createUser accepts: plaintext email and name (sealed by the query), no blind index. */
export const insertUserSchema = createInsertSchema(users, {
  id,
  email: emailSchema,
  name: chars(1, 255)(z.string()),
  profileData: jsonObject,
}).omit({ ...serverManaged, emailHash: true });

export const insertProjectSchema = createInsertSchema(projects, {
  id,
  name: chars(1, 255),
  currentStep: (s) => s.min(1).max(4),
  language: (s) => s.regex(new RegExp(languageTagPattern), 'must be a BCP 47 tag such as en, ru or pt-BR'),
  metadata: jsonObject,
}).omit({ ...serverManaged, deletedAt: true });

export const insertDocumentVersionSchema = createInsertSchema(documentVersions, {
  id,
  version: (s) => s.min(1),
  metadata: jsonObject,
  readabilityScore: score,
  grammarScore: score,
}).omit(serverManaged);

export const insertAgentExecutionSchema = createInsertSchema(agentExecutions, {
  id,
  agentType: (s) => s.regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a snake_case name such as product_manager'),
  durationMs: (s) => s.min(0),
}).omit(serverManaged);

export const insertExportSchema = createInsertSchema(exports, {
  id,
  downloadCount: (s) => s.min(0),
  manifest: jsonObject,
}).omit(serverManaged);
