/**
 * Every setting with where it came from, found in the one order docs/configuration.md states.
 * `config show` prints the result, like `git config --show-origin`.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";

export interface ConfigFile {
  store?: string;
  secretFile?: string;
  /** A file holding the SQLCipher key of an encrypted pywry database. */
  sqliteKeyFile?: string;
  redisPrefix?: string;
  sessionTtl?: number;
  widgetTtl?: number;
  defaultRoles?: string[];
}

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

/** The config file's contents, or {} when there is none. A file that cannot be read is an error. */
export function readConfigFile(env: NodeJS.ProcessEnv): ConfigFile {
  const path = configFilePath(env);
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as ConfigFile;
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

/** A number from the environment, or undefined when unset or not a positive number. */
export function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === "") return undefined;
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

export function envList(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const text = env[name];
  if (text === undefined) return undefined;
  // pywry reads list settings as comma-separated strings or JSON lists.
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String).filter((item) => item.length > 0);
    } catch {
      // fall through to comma-separated
    }
  }
  const items = trimmed.split(",").map((item) => item.trim()).filter((item) => item.length > 0);
  return items.length > 0 ? items : undefined;
}
