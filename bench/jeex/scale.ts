/**
 * How much JEEX data the bench seeds. `--scale` is a factor (1 = the default) or a name:
 *
 *   tiny     0.02  ~40 users, ~80 projects, ~800 document versions (the CI smoke run)
 *   small    0.25  ~500 users, ~1,000 projects, ~10,000 versions
 *   default  1     ~2,000 users, ~4,000 projects, ~40,000 versions (~300 MB of markdown),
 *                  ~30,000 agent executions, ~4,000 exports
 *
 * Per project: 1-4 versions of each of the 4 document types (2-50 KiB each, log-normal around
 * 6 KiB); 1-4 user requests (correlation ids) of 2-4 agent executions each, with JSON input and
 * output of a few KiB; 0-2 exports. Each user owns 1-3 projects.
 */
export const SCALE_PRESETS = { tiny: 0.02, small: 0.25, default: 1 } as const;

export interface JeexScale {
  /** The name or the factor as given. */
  name: string;
  factor: number;
  users: number;
  /** Samples of content, input/output JSON and manifests the workload writes (bench_payloads). */
  payloads: number;
}

/** Users per unit of scale; everything else is drawn per user and per project. */
const USERS_PER_UNIT = 2000;

/** Parse `--scale`: a preset name or a number > 0. Returns an error message for bad input. */
export function parseScale(text: string): JeexScale | string {
  const preset = SCALE_PRESETS[text as keyof typeof SCALE_PRESETS];
  const factor = preset ?? Number(text);
  if (!Number.isFinite(factor) || factor <= 0) {
    return `--scale must be ${Object.keys(SCALE_PRESETS).join(', ')} or a number > 0 (1 = ${USERS_PER_UNIT} users), got ${JSON.stringify(text)}`;
  }
  return { name: text, factor, users: Math.max(10, Math.round(USERS_PER_UNIT * factor)), payloads: factor < 0.1 ? 64 : 256 };
}
