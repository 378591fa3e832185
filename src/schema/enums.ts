import { pgEnum } from 'drizzle-orm/pg-core';

export const projectStatus = pgEnum('project_status', ['draft', 'in_progress', 'completed', 'archived']);

export const documentType = pgEnum('document_type', ['about', 'specs', 'architecture', 'plan']);

export const executionStatus = pgEnum('execution_status', [
  'pending',
  'running',
  'completed',
  'failed',
  'needs_input',
  'cancelled',
]);

/** Execution states after which nothing more happens; `completed_at` is set exactly for these. */
export const finalExecutionStatuses = ['completed', 'failed', 'cancelled'] as const;

export const exportFormat = pgEnum('export_format', ['markdown_zip', 'pdf']);

export const exportStatus = pgEnum('export_status', ['pending', 'processing', 'completed', 'failed', 'expired']);
