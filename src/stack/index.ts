/**
 * `jeex-db/local`: the local stack of `jeex-db up`: PostgreSQL 18 from embedded binaries, tuned
 * for the machine, with TLS, PgBouncer, the roles, the WAL archive and the migrations; where it
 * lives (`.jeex-db`) and the URLs of its roles.
 *
 * @example
 * import { up, down, localLayout, localUrl } from 'jeex-db/local';
 * const started = await up({ dataDir: '.jeex-db' });
 * const superuser = localUrl(localLayout('.jeex-db'), 'superuser');
 * await down({ dataDir: '.jeex-db' });
 */
export { up, down, whenServerExits, DEFAULT_PORT, type UpOptions, type UpResult, type DownResult, type LocalLayout, type RunAs } from './up.ts';
export { runForeground, type ForegroundOptions } from './foreground.ts';
export { applyLocalRoles } from './roles.ts';
export { localLayout, resolveDataDir, DATA_DIR_ENV, DEFAULT_DATA_DIR } from '../local/layout.ts';
export { readLocalState, localUrl, LOCAL_LOGIN_ROLES, type LocalRole, type LocalState } from '../local/state.ts';
export { serverOsUser, DEFAULT_OS_USER } from '../platform/os-user.ts';
export { deriveSettings, renderConf, humanBytes, type Machine, type Setting } from '../cluster/tuning.ts';
export { detectMachine } from '../cluster/machine.ts';
export { parseBytes } from '../core/units.ts';
export { createStandby, type StandbyOptions, type StandbyResult } from './standby.ts';
export { promote, type PromoteOptions, type PromoteResult } from './promote.ts';
export { readReplication, type ReplicationRole, type PrimaryRef } from '../local/replication.ts';
