/**
 * What every command is given: the global options, the environment, where notices go, the clock,
 * and the settings once read. Settings resolution is settings.ts, the secret secrets.ts, the store
 * store-access.ts.
 */
import type { CliClock } from "./clock.js";
import type { LoadedSettings } from "./settings-schema.js";

export interface GlobalOptions {
  secretFile?: string;
  sqliteKeyFile?: string;
  /** Create a missing SQLite store unencrypted even when a key is configured (migrate --to-plain). */
  createPlain?: boolean;
  store?: string;
  /** Create the session store when it is missing. */
  create?: boolean;
  redisPrefix?: string;
  json?: boolean;
  field?: string;
  color?: boolean;
}

export interface Context {
  options: GlobalOptions;
  env: NodeJS.ProcessEnv;
  /** Messages for the operator (stderr). */
  notice: (message: string) => void;
  /** The time, and waiting for it (clock.ts): the system's, or a test's. */
  clock: CliClock;
  /** Every setting from every source, read and checked on first use (settings-schema.ts). */
  settings?: LoadedSettings;
  /**
   * Whether a command runs despite invalid settings (`config show`, `doctor`, which list them):
   * then only a setting that is itself invalid fails, where it is used.
   */
  tolerateInvalidSettings?: boolean;
}
