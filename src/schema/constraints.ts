/**
 * A sentence for every named constraint of the schema, used to turn a PostgreSQL
 * constraint violation into a message a person can act on. A test checks that every
 * constraint in the migrated database is listed here.
 */
export interface ConstraintInfo {
  table: string;
  columns: string[];
  /** What the rule is / what went wrong, for inserts and updates of this table. */
  message: string;
  /** For foreign keys: what went wrong when the referenced row was deleted. */
  onParentDelete?: string;
  hint?: string;
}

const pkey = (table: string, entity: string): [string, ConstraintInfo] => [
  `${table}_pkey`,
  { table, columns: ['id'], message: `a ${entity} with this id already exists`, hint: 'Let the database or uuidv7() choose the id.' },
];

const jsonObject = (table: string, column: string): [string, ConstraintInfo] => [
  `${table}_${column}_object`,
  { table, columns: [column], message: `${column} must be a JSON object, such as {}` },
];

const projectFk = (table: string, what: string): [string, ConstraintInfo] => [
  `${table}_project_id_projects_id_fk`,
  {
    table,
    columns: ['project_id'],
    message: `the project of this ${what} does not exist`,
    hint: 'Create the project first, or check the project id.',
  },
];

export const constraints: Readonly<Record<string, ConstraintInfo>> = Object.fromEntries([
  pkey('users', 'user'),
  [
    // The blind index of the email (HMAC of the normalised email): the email itself is encrypted.
    'users_email_hash_unique',
    {
      table: 'users',
      columns: ['email_hash'],
      message: 'a user with this email already exists',
      hint: 'Emails are compared ignoring case; look the user up with findUserByEmail().',
    },
  ],
  [
    'users_email_hash_length',
    {
      table: 'users',
      columns: ['email_hash'],
      message: 'email_hash must be a blind index of 36 bytes (key id and HMAC-SHA-256)',
      hint: 'Write users through createUser() (or sealUser()), which computes it.',
    },
  ],
  [
    'users_email_sealed',
    {
      table: 'users',
      columns: ['email'],
      message: 'the email must be stored encrypted (a jx1 envelope), never as plaintext',
      hint: 'Write users through createUser() (or sealUser()), which encrypts email and name.',
    },
  ],
  [
    'users_name_sealed',
    {
      table: 'users',
      columns: ['name'],
      message: "a user's name must be stored encrypted (a jx1 envelope), never as plaintext",
      hint: 'Write users through createUser() (or sealUser()), which encrypts email and name.',
    },
  ],
  jsonObject('users', 'profile_data'),

  pkey('projects', 'project'),
  ['projects_name_length', { table: 'projects', columns: ['name'], message: "a project's name must be 1 to 255 characters long" }],
  [
    'projects_current_step_range',
    { table: 'projects', columns: ['current_step'], message: "current_step must be between 1 and 4 (the wizard's four steps)" },
  ],
  [
    'projects_language_tag',
    { table: 'projects', columns: ['language'], message: 'language must be a BCP 47 tag such as en, ru or pt-BR' },
  ],
  jsonObject('projects', 'metadata'),
  [
    'projects_created_by_users_id_fk',
    {
      table: 'projects',
      columns: ['created_by'],
      message: 'the user who creates a project must exist',
      hint: 'Create the user first, or check the user id.',
    },
  ],

  pkey('document_versions', 'document version'),
  [
    'document_versions_project_type_version_unique',
    {
      table: 'document_versions',
      columns: ['project_id', 'document_type', 'version'],
      message: 'this version of the document already exists',
      hint: 'Another writer saved first: reload the latest version and append yours after it.',
    },
  ],
  ['document_versions_version_positive', { table: 'document_versions', columns: ['version'], message: 'version numbers start at 1' }],
  [
    'document_versions_readability_score_range',
    { table: 'document_versions', columns: ['readability_score'], message: 'readability_score must be between 0 and 100' },
  ],
  [
    'document_versions_grammar_score_range',
    { table: 'document_versions', columns: ['grammar_score'], message: 'grammar_score must be between 0 and 100' },
  ],
  jsonObject('document_versions', 'metadata'),
  projectFk('document_versions', 'document version'),
  [
    'document_versions_created_by_users_id_fk',
    {
      table: 'document_versions',
      columns: ['created_by'],
      message: 'the author of a document version must be an existing user',
      onParentDelete: "this user wrote document versions in another user's project, whose history must be kept",
      hint: 'Delete those projects, or keep the user.',
    },
  ],
  [
    'document_versions_append_only',
    {
      table: 'document_versions',
      columns: [],
      message: 'document versions are append-only; their content, number and author never change',
      hint: 'Append a new version instead of editing this one.',
    },
  ],

  pkey('agent_executions', 'agent execution'),
  [
    'agent_executions_agent_type_format',
    {
      table: 'agent_executions',
      columns: ['agent_type'],
      message: 'agent_type must be a snake_case name such as product_manager (at most 64 characters)',
    },
  ],
  [
    'agent_executions_completed_after_started',
    { table: 'agent_executions', columns: ['completed_at', 'started_at'], message: 'completed_at cannot be before started_at' },
  ],
  [
    'agent_executions_completed_at_when_final',
    {
      table: 'agent_executions',
      columns: ['status', 'completed_at'],
      message: 'completed_at is set exactly when the status is final (completed, failed or cancelled)',
    },
  ],
  [
    'agent_executions_duration_non_negative',
    { table: 'agent_executions', columns: ['duration_ms'], message: 'duration_ms cannot be negative' },
  ],
  projectFk('agent_executions', 'agent execution'),

  pkey('exports', 'export'),
  [
    'exports_download_count_non_negative',
    { table: 'exports', columns: ['download_count'], message: 'download_count cannot be negative' },
  ],
  [
    'exports_completed_has_file',
    {
      table: 'exports',
      columns: ['status', 'file_path', 'completed_at'],
      message: 'a completed export needs its file_path and completed_at',
    },
  ],
  jsonObject('exports', 'manifest'),
  projectFk('exports', 'export'),
  [
    'exports_created_by_users_id_fk',
    {
      table: 'exports',
      columns: ['created_by'],
      message: 'the user who requests an export must exist',
      onParentDelete: "this user made exports of another user's project",
      hint: 'Delete those exports or projects, or keep the user.',
    },
  ],
]);
