/**
 * Seeded randomness for the benchmarks: the same seed gives the same data and the same request
 * stream, so two runs are comparable.
 */

/**
 * A small seeded generator (mulberry32), uniform in [0, 1). Consecutive seeds give unrelated
 * streams; a plain LCG's first outputs for seeds 1, 2, 3... differ by a constant step, which
 * lined up 200 clients into one burst.
 */
export function seededRandom(seed: number): () => number {
  let state = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A whole number from `min` to `max`, both included. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** A standard normal deviate (Box-Muller). */
export function randomNormal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Log-normal around `median` (sigma of the underlying normal), clamped to [min, max]. */
export function randomLogNormal(random: () => number, median: number, sigma: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, median * Math.exp(sigma * randomNormal(random))));
}

/** Exponentially distributed with the given mean: the gaps of a Poisson arrival process. */
export function randomExponential(random: () => number, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/**
 * A UUIDv7 whose time is `ms` and whose other bits come from `random`: seeded rows get the same
 * ids on every run, in time order like the ones the application makes.
 */
export function seededUuidv7(ms: number, random: () => number): string {
  const hex = (bits: number, digits: number) => Math.floor(random() * 2 ** bits).toString(16).padStart(digits, '0');
  const time = ms.toString(16).padStart(12, '0');
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(12, 3)}-${variant}${hex(12, 3)}-${hex(24, 6)}${hex(24, 6)}`;
}
