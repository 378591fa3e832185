import { connect } from '../../db/connect.ts';
import { LOCAL_DATABASE, LOCAL_ROLES } from '../../local/files.ts';
import { bootstrapDatabase, secretLogins } from '../bootstrap.ts';
import { urlFor } from '../local-urls.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { Preflight } from './preflight.ts';
import type { Ready } from './ready.ts';
import type { Secrets } from './secrets.ts';
import type { Tls } from './tls.ts';
import { withSuperuser } from './superuser.ts';

/**
 * The roles and the application database, brought in line (`roles apply` with the passwords of
 * secrets.json and the role settings). Nothing to undo: what it changes is what the cluster should
 * have, and the next `up` applies the same.
 */
export const roles: UpStep<UpContext & Pick<Preflight, 'port'> & Secrets & Tls & Pick<Ready, 'urls'>, { roleWarnings: string[] }> = {
  name: 'roles',
  async run({ progress, port, secrets, roleSettings, tls, urls }) {
    progress('creating roles and the application database');
    return withSuperuser(urls.superuser, async (admin) => {
      const result = await bootstrapDatabase(admin, (database) => connect(urlFor(secrets.superuser, port, database, tls.url), { max: 1, onnotice: () => {} }), {
        database: LOCAL_DATABASE,
        ...secretLogins(secrets),
        owner: LOCAL_ROLES.owner,
        settings: roleSettings,
      });
      if (result.changes.length > 0) progress(`roles: ${result.changes.length} change(s) applied (\`jeex-db roles apply\` lists them)`);
      return { roleWarnings: result.warnings };
    });
  },
};
