/**
 * The Drizzle schema: the only source of truth for the database. drizzle-kit generates the
 * SQL in `drizzle/` from these definitions (`npm run db:generate`).
 *
 * @example
 * import { users, type NewUser } from 'jeex-db/schema';
 */
export * from './enums.ts';
export { users } from './users.ts';
export { projects, languageTagPattern } from './projects.ts';
export { documentVersions } from './document-versions.ts';
export { agentExecutions } from './agent-executions.ts';
export { exports } from './exports.ts';
export { auditSchema, auditChanges } from './audit.ts';
export * from './relations.ts';
export type * from './types.ts';
export * from './validation.ts';
export { constraints, type ConstraintInfo } from './constraints.ts';
export { encryptedText, blindIndexColumn } from './encrypted.ts';
export { sensitiveColumns, isSensitive, encryptedColumns, type SensitiveColumn } from './sensitive.ts';
