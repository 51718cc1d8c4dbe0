/**
 * The command line's clock: what time it is, and waiting. Every command takes it from its
 * Context, so a test can hand in a clock of its own and never wait for the next second.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { systemClock, type Clock } from "../core/clock.js";

export interface CliClock {
  /** The current time, in (fractional) Unix seconds. */
  now: Clock;
  /** Waits `ms` milliseconds (a test's clock moves its time on instead). */
  sleep: (ms: number) => Promise<void>;
}

export const systemCliClock: CliClock = { now: systemClock, sleep: (ms) => sleep(ms) };
