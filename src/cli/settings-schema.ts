/**
 * The schema of every setting pywry-auth reads (flags, PYWRY_AUTH_* and the PYWRY_DEPLOY__*
 * variables it shares with pywry, the config file), checked in one place when settings load. An
 * invalid value is never skipped for the next source or a default: it is a problem that names
 * where it came from and which key, and commands refuse to run with one (exit 2 for a flag, 3 for
 * the environment or the config file). `config show` and `doctor` list them instead.
 *
 * Validation uses valibot (small, and only the parts used are bundled into the CLI).
 */
import { existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { readDuration, readDurationSeconds } from "../core/duration.js";
import type { PywryAuthError } from "../core/errors.js";
import { ConfigError, UsageError } from "./errors.js";
import { looksLikeCredential, redactUrl } from "../core/redact.js";
import { parseRedisUrl } from "../store/redis/url.js";
import { configFilePath } from "./settings.js";

/** The settings `config show` lists, by the name it shows them under. */
export type SettingName =
  | "config_file"
  | "store"
  | "redis_prefix"
  | "secret"
  | "session_ttl"
  | "widget_ttl"
  | "default_roles"
  | "sqlite_key_file"
  | "store_timeout";

export interface SettingProblem {
  setting: SettingName;
  kind: "flag" | "env" | "config";
  /** Where the value came from: "--store", "env PYWRY_AUTH_SESSION_TTL", "config /path/config.json key sessionTtl". */
  source: string;
  message: string;
}

/** The config file's keys, with the values as the program uses them (durations in seconds). */
export interface ConfigFile {
  store?: string;
  secretFile?: string;
  redisPrefix?: string;
  sessionTtl?: number;
  widgetTtl?: number;
  defaultRoles?: string[];
  /** Where the SQLCipher key of an encrypted store is kept (a path). */
  sqliteKeyFile?: string;
}

/** Thrown by the readers below: why a value cannot be used. */
class Unusable extends Error {}

/** A value as it may appear in a message: never one that looks like a credential. */
export function shownValue(text: string): string {
  return looksLikeCredential(text) ? "(value not shown: it looks like a token or secret)" : JSON.stringify(text);
}

function duration(text: string): number {
  const seconds = readDuration(text);
  if (typeof seconds === "string") throw new Unusable(seconds);
  return seconds;
}

/** pywry's own TTL variables are pydantic ints with ge=60: whole seconds, at least a minute. */
function pywrySeconds(text: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new Unusable(`${shownValue(text)}: pywry reads whole seconds here (e.g. 86400)`);
  const seconds = Number(text);
  if (seconds < 60) throw new Unusable(`${seconds}: pywry requires at least 60 seconds`);
  return seconds;
}

/** PYWRY_AUTH_STORE_TIMEOUT_MS: whole milliseconds, from 1 ms to 10 minutes. */
function storeTimeoutMs(text: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new Unusable(`${shownValue(text)}: give whole milliseconds (e.g. 5000)`);
  const ms = Number(text);
  if (ms < 1 || ms > MAX_STORE_TIMEOUT_MS) throw new Unusable(`${ms}: give 1 to ${MAX_STORE_TIMEOUT_MS} milliseconds`);
  return ms;
}

const MAX_STORE_TIMEOUT_MS = 600_000;

function nonEmpty(what: string): (text: string) => string {
  return (text) => {
    if (text.trim() === "") throw new Unusable(`is set but empty: give ${what}, or unset it`);
    return text;
  };
}

const ROLE_NAME = /^[^\s\p{Cc}]+$/u;

function roleNames(names: readonly unknown[], raw: string): string[] {
  if (names.length === 0) throw new Unusable("names no role: give at least one (e.g. viewer)");
  for (const name of names) {
    if (typeof name !== "string" || !ROLE_NAME.test(name)) {
      throw new Unusable(`${shownValue(raw)}: role names are non-empty, without whitespace or control characters`);
    }
  }
  return [...new Set(names as string[])];
}

/** PYWRY_AUTH_DEFAULT_ROLES: comma-separated names, or a JSON list of them. */
function rolesText(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Unusable(`${shownValue(text)} starts like a JSON list but is not one: use ["viewer","editor"] or viewer,editor`);
    }
    if (!Array.isArray(parsed)) throw new Unusable(`${shownValue(text)} is not a JSON list of role names`);
    return roleNames(parsed, text);
  }
  return roleNames(splitCommas(trimmed), text);
}

/** PYWRY_DEPLOY__DEFAULT_ROLES: pywry splits it on commas and never reads JSON. */
function pywryRolesText(text: string): string[] {
  if (text.trim().startsWith("[")) {
    throw new Unusable(`${shownValue(text)}: pywry reads comma-separated names here, not JSON (it would make a role named ${JSON.stringify(splitCommas(text)[0])}); use viewer,editor`);
  }
  return roleNames(splitCommas(text), text);
}

function splitCommas(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/**
 * A store: a SQLite file's path or a redis:// / rediss:// URL. Any other scheme (mysql://x would
 * be the file ./mysql:/x) and a path ending in "/" (a directory, not a file) are refused.
 */
export function storeSpecProblem(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === "") return "needs a SQLite path or a redis:// URL";
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  if (scheme && !/^rediss?$/i.test(scheme[1] ?? "")) {
    return `${shownValue(redactUrl(trimmed))}: unknown scheme ${scheme[1]}://; a store is a SQLite file's path or a redis:// or rediss:// URL`;
  }
  if (scheme) {
    try {
      parseRedisUrl(trimmed);
    } catch (error) {
      return (error as Error).message;
    }
    return null;
  }
  if (/[/\\]$/.test(trimmed)) return `${shownValue(trimmed)} ends in "/": a store is a SQLite file, not a directory (e.g. ${trimmed.replace(/[/\\]+$/, "")}/pywry.db)`;
  return null;
}

function sqlitePath(text: string): string {
  nonEmpty("a path")(text);
  if (/[/\\]$/.test(text.trim())) throw new Unusable(`${shownValue(text)} ends in "/": the SQLite store is a file, not a directory`);
  return text;
}

function storeSpec(text: string): string {
  const problem = storeSpecProblem(text);
  if (problem) throw new Unusable(problem === "needs a SQLite path or a redis:// URL" ? "is set but empty: give a SQLite path or a redis:// URL, or unset it" : problem);
  return text;
}

const STATE_BACKENDS = ["memory", "sqlite", "redis"] as const;
export type StateBackend = (typeof STATE_BACKENDS)[number];

function stateBackend(text: string): StateBackend {
  const value = text.trim().toLowerCase();
  const known = STATE_BACKENDS.find((backend) => backend === value);
  if (!known) {
    const hint = closest(value, STATE_BACKENDS);
    throw new Unusable(`${shownValue(text)} is not one of pywry's backends (${STATE_BACKENDS.join(", ")})${hint ? `; did you mean ${hint}?` : ""}`);
  }
  return known;
}

function redisUrl(text: string): string {
  if (!/^rediss?:\/\//i.test(text.trim())) {
    throw new Unusable(`${shownValue(redactUrl(text))}: pywry-auth reaches Redis by redis:// or rediss:// URLs`);
  }
  return text.trim();
}

/** A valibot schema of a string read by `read`, whose Unusable errors become issues. */
function textSetting<T>(read: (text: string) => T) {
  return v.pipe(
    v.string("must be a string"),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        return read(dataset.value);
      } catch (error) {
        if (!(error instanceof Unusable)) throw error;
        addIssue({ message: error.message });
        return NEVER;
      }
    }),
  );
}

const durationSetting = v.pipe(
  v.union([v.number(), v.string()], "must be a duration: whole seconds (3600) or a string such as \"1h30m\""),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const value = dataset.value;
    const seconds = typeof value === "number" ? readDurationSeconds(value) : readDuration(value);
    if (typeof seconds === "number") return seconds;
    addIssue({ message: seconds });
    return NEVER;
  }),
);

const pathSetting = textSetting(nonEmpty("a path"));

/** The config file: every key pywry-auth knows, with how its value is read. */
const CONFIG_SCHEMA = v.object({
  store: v.optional(textSetting(storeSpec)),
  secretFile: v.optional(pathSetting),
  redisPrefix: v.optional(textSetting(nonEmpty("a key prefix"))),
  sessionTtl: v.optional(durationSetting),
  widgetTtl: v.optional(durationSetting),
  defaultRoles: v.optional(
    v.pipe(
      v.array(v.string("must be a list of role names"), "must be a list of role names, e.g. [\"viewer\"]"),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        try {
          return roleNames(dataset.value, JSON.stringify(dataset.value));
        } catch (error) {
          addIssue({ message: (error as Error).message });
          return NEVER;
        }
      }),
    ),
  ),
  sqliteKeyFile: v.optional(pathSetting),
});

export const CONFIG_KEYS = Object.keys(CONFIG_SCHEMA.entries) as ReadonlyArray<keyof ConfigFile>;

const CONFIG_SETTING: Record<keyof ConfigFile, SettingName> = {
  store: "store",
  secretFile: "secret",
  redisPrefix: "redis_prefix",
  sessionTtl: "session_ttl",
  widgetTtl: "widget_ttl",
  defaultRoles: "default_roles",
  sqliteKeyFile: "sqlite_key_file",
};

/** The environment variables read as settings, with how each is read. */
const ENV_SCHEMA = {
  PYWRY_AUTH_STORE: { setting: "store", read: storeSpec },
  PYWRY_AUTH_REDIS_PREFIX: { setting: "redis_prefix", read: nonEmpty("a key prefix") },
  PYWRY_AUTH_SECRET_FILE: { setting: "secret", read: nonEmpty("the path of a file holding the secret") },
  PYWRY_AUTH_SESSION_TTL: { setting: "session_ttl", read: duration },
  PYWRY_AUTH_WIDGET_TTL: { setting: "widget_ttl", read: duration },
  PYWRY_AUTH_DEFAULT_ROLES: { setting: "default_roles", read: rolesText },
  PYWRY_AUTH_STORE_TIMEOUT_MS: { setting: "store_timeout", read: storeTimeoutMs },
  PYWRY_DEPLOY__STATE_BACKEND: { setting: "store", read: stateBackend },
  PYWRY_DEPLOY__SQLITE_PATH: { setting: "store", read: sqlitePath },
  PYWRY_DEPLOY__REDIS_URL: { setting: "store", read: redisUrl },
  PYWRY_DEPLOY__REDIS_PREFIX: { setting: "redis_prefix", read: nonEmpty("a key prefix") },
  PYWRY_DEPLOY__SESSION_TTL: { setting: "session_ttl", read: pywrySeconds },
  PYWRY_DEPLOY__DEFAULT_ROLES: { setting: "default_roles", read: pywryRolesText },
} as const satisfies Record<string, { setting: SettingName; read: (text: string) => unknown }>;

type EnvSchema = typeof ENV_SCHEMA;
/** The environment's settings, read: only valid values are here. */
export type EnvSettings = { -readonly [Name in keyof EnvSchema]?: ReturnType<EnvSchema[Name]["read"]> };

/** Flags that name a setting for every command; the per-command ones (--ttl, --roles) are read by their commands. */
const FLAG_SCHEMA = {
  store: { flag: "--store", setting: "store", read: storeSpec },
  secretFile: { flag: "--secret-file", setting: "secret", read: nonEmpty("a path") },
  redisPrefix: { flag: "--redis-prefix", setting: "redis_prefix", read: nonEmpty("a key prefix") },
} as const satisfies Record<string, { flag: string; setting: SettingName; read: (text: string) => unknown }>;

export type SettingFlags = { [Key in keyof typeof FLAG_SCHEMA]?: string };

export interface LoadedSettings {
  configPath: string;
  /** Whether a config file was found and read. */
  configRead: boolean;
  config: ConfigFile;
  env: EnvSettings;
  problems: SettingProblem[];
}

/** Reads and checks every setting from every source; invalid values are left out and listed. */
export function loadSettings(env: NodeJS.ProcessEnv, flags: SettingFlags): LoadedSettings {
  const problems: SettingProblem[] = [];
  for (const [key, spec] of Object.entries(FLAG_SCHEMA) as Array<[keyof SettingFlags, (typeof FLAG_SCHEMA)[keyof SettingFlags]]>) {
    const value = flags[key];
    if (value === undefined) continue;
    const problem = whyUnusable(spec.read, value);
    if (problem) problems.push({ setting: spec.setting, kind: "flag", source: spec.flag, message: problem.replace(/^is set but empty: give (.*), or unset it$/, "needs $1") });
  }
  const envValues: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENV_SCHEMA)) {
    const text = env[name];
    if (text === undefined) continue;
    // pywry reads its Redis URL only for the Redis backend; a leftover one is not an error.
    if (name === "PYWRY_DEPLOY__REDIS_URL" && envValues["PYWRY_DEPLOY__STATE_BACKEND"] !== "redis") continue;
    try {
      envValues[name] = spec.read(text);
    } catch (error) {
      if (!(error instanceof Unusable)) throw error;
      problems.push({ setting: spec.setting, kind: "env", source: `env ${name}`, message: error.message });
    }
  }
  if (env["PYWRY_AUTH_SECRET"] !== undefined && env["PYWRY_AUTH_SECRET"].trim() === "") {
    problems.push({ setting: "secret", kind: "env", source: "env PYWRY_AUTH_SECRET", message: "is set but empty: give the secret, or unset it" });
  }
  const { configPath, configRead, config } = readConfig(env, problems);
  return { configPath, configRead, config, env: envValues as EnvSettings, problems };
}

function whyUnusable(read: (text: string) => unknown, text: string): string | null {
  try {
    read(text);
    return null;
  } catch (error) {
    if (!(error instanceof Unusable)) throw error;
    return error.message;
  }
}

function readConfig(env: NodeJS.ProcessEnv, problems: SettingProblem[]): { configPath: string; configRead: boolean; config: ConfigFile } {
  const named = env["PYWRY_AUTH_CONFIG"];
  const configPath = configFilePath(env);
  const none = { configPath, configRead: false, config: {} };
  if (named !== undefined && named.trim() === "") {
    problems.push({ setting: "config_file", kind: "env", source: "env PYWRY_AUTH_CONFIG", message: "is set but empty: give the config file's path, or unset it" });
    return none;
  }
  if (!existsSync(configPath)) {
    // The default location may be absent (nothing configured yet); a file named on purpose may not.
    if (named !== undefined) {
      problems.push({ setting: "config_file", kind: "env", source: "env PYWRY_AUTH_CONFIG", message: `no such file: ${configPath}` });
    }
    return none;
  }
  const source = `config ${configPath}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (error) {
    problems.push({ setting: "config_file", kind: "config", source, message: `cannot be read: ${(error as Error).message}` });
    return none;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    problems.push({ setting: "config_file", kind: "config", source, message: "must hold a JSON object, e.g. {\"store\": \"/srv/pywry.db\"}" });
    return none;
  }
  const entries = parsed as Record<string, unknown>;
  for (const key of Object.keys(entries)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) continue;
    const hint = closest(key, CONFIG_KEYS);
    problems.push({
      setting: "config_file",
      kind: "config",
      source: `${source} key ${looksLikeCredential(key) ? "(not shown: it looks like a token or secret)" : key}`,
      message: `unknown key: ${hint ? `did you mean ${hint}?` : `the keys are ${CONFIG_KEYS.join(", ")}`}`,
    });
  }
  const config: ConfigFile = {};
  for (const key of CONFIG_KEYS) {
    if (!(key in entries)) continue;
    const result = v.safeParse(CONFIG_SCHEMA.entries[key], entries[key]);
    if (result.success) (config as Record<string, unknown>)[key] = result.output;
    else problems.push({ setting: CONFIG_SETTING[key], kind: "config", source: `${source} key ${key}`, message: result.issues[0].message });
  }
  return { configPath, configRead: true, config };
}

/** One problem as an error: a usage error (exit 2) for a flag, a configuration error (exit 3) otherwise. */
export function problemError(problem: SettingProblem, others = 0): PywryAuthError<string> {
  const more = others > 0 ? ` (and ${others} more invalid setting${others === 1 ? "" : "s"}: pywry-auth config show lists them)` : "";
  const message = `invalid setting: ${problem.source}: ${problem.message}${more}`;
  return problem.kind === "flag" ? new UsageError(message) : new ConfigError(message);
}

/** Flag problems first (they are the user's latest word), then the environment, then the file. */
export function firstProblem(problems: readonly SettingProblem[]): SettingProblem | undefined {
  const order = { flag: 0, env: 1, config: 2 } as const;
  return [...problems].sort((a, b) => order[a.kind] - order[b.kind])[0];
}

/** The candidate closest to `word` (case-insensitive edit distance), if one is close enough to be meant. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(best.candidate.length / 3)) ? best.candidate : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = rows[i] as number[];
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
