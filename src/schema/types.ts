import type { agentExecutions } from './agent-executions.ts';
import type { documentVersions } from './document-versions.ts';
import type { exports } from './exports.ts';
import type { projects } from './projects.ts';
import type { users } from './users.ts';

/** A row of `users` as read. */
export type User = typeof users.$inferSelect;
/** What an insert into `users` accepts (defaults optional). */
export type NewUser = typeof users.$inferInsert;
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
