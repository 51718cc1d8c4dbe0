/**
 * Shared by the security suites: the heavy switch, a seeded random source whose seed every test
 * reports (so a failure can be replayed), and fast-check settings.
 *
 *   PYWRY_AUTH_HEAVY=1        the heavier variants (more runs, more processes, more kill points)
 *   PYWRY_AUTH_SEED=<int>     replay: the seed for the random kill points and fast-check
 */
import { randomInt } from "node:crypto";

export const HEAVY = process.env["PYWRY_AUTH_HEAVY"] === "1";

/** The seed of this run: PYWRY_AUTH_SEED when given, else a fresh one (reported by each test). */
export const SEED: number = (() => {
  const given = process.env["PYWRY_AUTH_SEED"];
  if (given !== undefined && /^\d+$/.test(given)) return Number(given) >>> 0;
  return randomInt(0, 2 ** 31);
})();

/** Default runs for the default variant, and 20 times as many for the heavy one. */
export function runs(defaultRuns: number): number {
  return HEAVY ? defaultRuns * 20 : defaultRuns;
}

/** fast-check parameters: seeded, bounded. */
export function fcParams(defaultRuns: number): { numRuns: number; seed: number } {
  return { numRuns: runs(defaultRuns), seed: SEED };
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How to replay a failure, for t.diagnostic(). */
export function replayHint(): string {
  return `seed ${SEED} (replay with PYWRY_AUTH_SEED=${SEED}${HEAVY ? " PYWRY_AUTH_HEAVY=1" : ""})`;
}
