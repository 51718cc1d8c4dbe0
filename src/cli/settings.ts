/**
 * Every setting with where it came from, found in the one order docs/configuration.md states.
 * `config show` prints the result, like `git config --show-origin`. What each source may hold,
 * and how it is checked, is settings-schema.ts.
 */
import { homedir } from "node:os";
import { join } from "node:path";

// The config file's shape lives with its schema; this name stays for the code that imports it from here.
export type { ConfigFile } from "./settings-schema.js";

export interface Setting<T> {
  value: T;
  /** e.g. "--store", "env PYWRY_AUTH_STORE", "config ~/.config/pywry-auth/config.json", "default". */
  origin: string;
}

export function configDir(env: NodeJS.ProcessEnv): string {
  const base = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(base, "pywry-auth");
}

export function configFilePath(env: NodeJS.ProcessEnv): string {
  return env["PYWRY_AUTH_CONFIG"] || join(configDir(env), "config.json");
}

/** The first source that has a value, with its origin; `fallback` when none does. */
export function pick<T>(candidates: ReadonlyArray<[T | undefined | null | "", string]>, fallback: Setting<T>): Setting<T> {
  for (const [value, origin] of candidates) {
    if (value !== undefined && value !== null && value !== "") return { value, origin };
  }
  return fallback;
}

export function configOrigin(env: NodeJS.ProcessEnv): string {
  return `config ${configFilePath(env)}`;
}
