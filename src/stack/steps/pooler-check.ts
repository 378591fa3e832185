import { writeLocalState } from '../../local/files.ts';
import { checkThroughPooler } from '../../ops/pooler/local.ts';
import type { UpContext, UpStep } from '../step.ts';
import type { Pooler } from './pooler.ts';
import type { Ready } from './ready.ts';

/**
 * When PgBouncer runs: log in through it as the app role and run a query (the whole path a
 * service uses), then record it in state.json, so `jeex-db url app` and createDb() go through it.
 * Nothing of its own to undo (the pooler step stops a PgBouncer it started).
 */
export const poolerCheck: UpStep<UpContext & Pick<Ready, 'state'> & Pick<Pooler, 'running' | 'appUrl'>, void> = {
  name: 'pooler-check',
  async run({ layout, state, running, appUrl }) {
    if (!running) return;
    await checkThroughPooler(appUrl, running.preparedStatements);
    await writeLocalState(layout, { ...state, pooler: running });
  },
};
