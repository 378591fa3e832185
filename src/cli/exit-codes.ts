/**
 * Process exit codes of `jeex-db`, derived from the code registry (src/core/codes.ts, listed in
 * docs/errors.md). Scripts can tell the cases apart without parsing messages.
 */
export { EXIT, exitCodeFor } from '../index.ts';
