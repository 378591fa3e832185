import type { agentExecutions } from './agent-executions.ts';
import type { documentVersions } from './document-versions.ts';
import type { exports } from './exports.ts';
import type { projects } from './projects.ts';
import type { users } from './users.ts';

/**
 * A row of `users` as stored: email and name are sealed envelopes (`Sealed`), `emailHash` the
 * blind index. What `db.select().from(users)` returns; services use `User` instead.
 */
export type UserRow = typeof users.$inferSelect;
/** A raw insert into `users`: sealed values and the blind index (see `sealUser`). */
export type NewUserRow = typeof users.$inferInsert;
/** The encrypted and derived columns, which services see as plaintext (or not at all). */
type SealedUserColumns = 'email' | 'name' | 'emailHash';
/** A user as services see it: email and name decrypted by the query functions. */
export type User = Omit<UserRow, SealedUserColumns> & { email: string; name: string };
/** What createUser accepts: plaintext email and name (defaults optional). */
export type NewUser = Omit<NewUserRow, SealedUserColumns> & { email: string; name: string };
export type Project = typeof projects.$inferSelect;
export type NewProject = typeof projects.$inferInsert;
export type DocumentVersion = typeof documentVersions.$inferSelect;
export type NewDocumentVersion = typeof documentVersions.$inferInsert;
export type AgentExecution = typeof agentExecutions.$inferSelect;
export type NewAgentExecution = typeof agentExecutions.$inferInsert;
export type Export = typeof exports.$inferSelect;
export type NewExport = typeof exports.$inferInsert;

export type ProjectStatus = Project['status'];
export type DocumentType = DocumentVersion['documentType'];
export type ExecutionStatus = AgentExecution['status'];
export type ExportFormat = Export['format'];
export type ExportStatus = Export['status'];
