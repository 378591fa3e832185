import { relations } from 'drizzle-orm';
import { agentExecutions } from './agent-executions.ts';
import { documentVersions } from './document-versions.ts';
import { exports } from './exports.ts';
import { projects } from './projects.ts';
import { users } from './users.ts';

export const usersRelations = relations(users, ({ many }) => ({
  projects: many(projects),
}));

export const projectsRelations = relations(projects, ({ one, many }) => ({
  owner: one(users, { fields: [projects.createdBy], references: [users.id] }),
  documentVersions: many(documentVersions),
  agentExecutions: many(agentExecutions),
  exports: many(exports),
}));

export const documentVersionsRelations = relations(documentVersions, ({ one }) => ({
  project: one(projects, { fields: [documentVersions.projectId], references: [projects.id] }),
  author: one(users, { fields: [documentVersions.createdBy], references: [users.id] }),
}));

export const agentExecutionsRelations = relations(agentExecutions, ({ one }) => ({
  project: one(projects, { fields: [agentExecutions.projectId], references: [projects.id] }),
}));

export const exportsRelations = relations(exports, ({ one }) => ({
  project: one(projects, { fields: [exports.projectId], references: [projects.id] }),
  author: one(users, { fields: [exports.createdBy], references: [users.id] }),
}));
