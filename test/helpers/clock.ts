/** A CLI clock for tests: its time moves only when the code under test sleeps, and at once. */
import type { CliClock } from "../../src/cli/clock.js";

export interface FakeClock extends CliClock {
  /** Every wait asked for, in milliseconds, in order. */
  readonly slept: number[];
}

export function fakeClock(start: number): FakeClock {
  let now = start;
  const slept: number[] = [];
  return {
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms / 1000;
    },
    slept,
  };
}
