/**
 * Every setting with where it came from, found in the one order docs/configuration.md states
 * (flag, environment, config file, pywry's environment, default). `config show` prints the
 * result, like `git config --show-origin`. What each source may hold, and how it is checked, is
 * settings-schema.ts; the secret itself is read by secrets.ts, the store opened by store-access.ts.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { AUTH_CONFIG_DEFAULTS, DEFAULT_WIDGET_TTL } from "../core/config.js";
import { DEFAULT_ROLES } from "../core/rbac.js";
import { redactUrl } from "../core/redact.js";
import type { Context } from "./context.js";
import { ConfigError } from "./errors.js";
import { firstProblem, loadSettings, problemError, type LoadedSettings, type SettingName } from "./settings-schema.js";

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

/** Where the signing secret comes from; "none" when nothing is configured yet. */
export type SecretSource = { kind: "file"; path: string } | { kind: "env"; name: string } | { kind: "none"; path: string };

/**
 * The settings, checked: any invalid one (any, not only `setting`: a mistake anywhere is reported
 * before anything is done) is an error naming its source and key.
 */
export function settingsFor(context: Context, setting: SettingName): LoadedSettings {
  const settings = loadedSettings(context);
  const { problems } = settings;
  const relevant = context.tolerateInvalidSettings ? problems.filter((problem) => problem.setting === setting) : problems;
  const first = firstProblem(relevant);
  if (first) throw problemError(first, relevant.length - 1);
  return settings;
}

/** Every setting as read, with the invalid ones listed rather than thrown (for `config show` and `doctor`). */
export function loadedSettings(context: Context): LoadedSettings {
  context.settings ??= loadSettings(context.env, {
    store: context.options.store,
    secretFile: context.options.secretFile,
    redisPrefix: context.options.redisPrefix,
  });
  return context.settings;
}

export function defaultSecretPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), "secret");
}

/** Where the session store is: a SQLite file (pywry's default) or a Redis server (pywry's scale-out backend). */
export type StoreLocation = { kind: "sqlite"; path: string } | { kind: "redis"; url: string; prefix: string };

const REDIS_URL = /^rediss?:\/\//i;
const PYWRY_REDIS_DEFAULT = "redis://localhost:6379/0";

/** The store setting with its origin (see settings.ts for the order). */
export function storeSetting(context: Context): Setting<StoreLocation> {
  const { env } = context;
  const settings = settingsFor(context, "store");
  const chosen = pick<string>(
    [
      [context.options.store, "--store"],
      [settings.env.PYWRY_AUTH_STORE, "env PYWRY_AUTH_STORE"],
      [settings.config.store, configOrigin(env)],
    ],
    { value: "", origin: "" },
  );
  if (chosen.value) return { value: locationOf(context, chosen.value), origin: chosen.origin };
  const backend = settings.env.PYWRY_DEPLOY__STATE_BACKEND;
  if (backend === "memory") {
    throw new ConfigError(
      "env PYWRY_DEPLOY__STATE_BACKEND=memory: pywry keeps those sessions inside its own process, where pywry-auth cannot reach them; pass --store or set PYWRY_AUTH_STORE",
    );
  }
  if (backend === "redis") {
    const url = settings.env.PYWRY_DEPLOY__REDIS_URL;
    return {
      value: redisLocation(context, url || PYWRY_REDIS_DEFAULT),
      origin: url ? "env PYWRY_DEPLOY__REDIS_URL" : "env PYWRY_DEPLOY__STATE_BACKEND (pywry's default URL)",
    };
  }
  const path = settings.env.PYWRY_DEPLOY__SQLITE_PATH;
  if (path) return { value: { kind: "sqlite", path: expandHome(path, env) }, origin: "env PYWRY_DEPLOY__SQLITE_PATH" };
  return { value: { kind: "sqlite", path: join(env["HOME"] || homedir(), ".config", "pywry", "pywry.db") }, origin: "default (pywry's)" };
}

/**
 * --store (a path, or a redis:// or rediss:// URL), PYWRY_AUTH_STORE, the config file, then
 * pywry's own settings (PYWRY_DEPLOY__STATE_BACKEND with PYWRY_DEPLOY__REDIS_URL or
 * PYWRY_DEPLOY__SQLITE_PATH), else pywry's default SQLite file.
 */
export function storeLocation(context: Context): StoreLocation {
  return storeSetting(context).value;
}

function locationOf(context: Context, spec: string): StoreLocation {
  return REDIS_URL.test(spec) ? redisLocation(context, spec) : { kind: "sqlite", path: expandHome(spec, context.env) };
}

function redisLocation(context: Context, url: string): StoreLocation {
  return { kind: "redis", url, prefix: redisPrefixSetting(context).value };
}

export function redisPrefixSetting(context: Context): Setting<string> {
  const { env } = context;
  const settings = settingsFor(context, "redis_prefix");
  return pick(
    [
      [context.options.redisPrefix, "--redis-prefix"],
      [settings.env.PYWRY_AUTH_REDIS_PREFIX, "env PYWRY_AUTH_REDIS_PREFIX"],
      [settings.config.redisPrefix, configOrigin(env)],
      [settings.env.PYWRY_DEPLOY__REDIS_PREFIX, "env PYWRY_DEPLOY__REDIS_PREFIX"],
    ],
    { value: "pywry", origin: "default (pywry's)" },
  );
}

/** How long `token create` and `session create` make things live when no --ttl is given. */
export function sessionTtlSetting(context: Context): Setting<number> {
  const { env } = context;
  const settings = settingsFor(context, "session_ttl");
  return pick(
    [
      [settings.env.PYWRY_AUTH_SESSION_TTL, "env PYWRY_AUTH_SESSION_TTL"],
      [settings.config.sessionTtl, configOrigin(env)],
      [settings.env.PYWRY_DEPLOY__SESSION_TTL, "env PYWRY_DEPLOY__SESSION_TTL"],
    ],
    { value: AUTH_CONFIG_DEFAULTS.sessionTtl, origin: "default (pywry's session_ttl)" },
  );
}

export function widgetTtlSetting(context: Context): Setting<number> {
  const { env } = context;
  const settings = settingsFor(context, "widget_ttl");
  return pick(
    [
      [settings.env.PYWRY_AUTH_WIDGET_TTL, "env PYWRY_AUTH_WIDGET_TTL"],
      [settings.config.widgetTtl, configOrigin(env)],
    ],
    { value: DEFAULT_WIDGET_TTL, origin: "default (pywry's generate_widget_token)" },
  );
}

/** Roles for new sessions when --roles is not given (pywry's DEFAULT_ROLES). */
export function defaultRolesSetting(context: Context): Setting<string[]> {
  const { env } = context;
  const settings = settingsFor(context, "default_roles");
  return pick(
    [
      [settings.env.PYWRY_AUTH_DEFAULT_ROLES, "env PYWRY_AUTH_DEFAULT_ROLES"],
      [settings.config.defaultRoles, configOrigin(env)],
      [settings.env.PYWRY_DEPLOY__DEFAULT_ROLES, "env PYWRY_DEPLOY__DEFAULT_ROLES"],
    ],
    { value: [...DEFAULT_ROLES], origin: "default (pywry's)" },
  );
}

/** Where the secret comes from, without reading it. */
export function secretSetting(context: Context): Setting<SecretSource> {
  const { env } = context;
  const settings = settingsFor(context, "secret");
  const flagFile = context.options.secretFile;
  if (flagFile) return { value: { kind: "file", path: expandHome(flagFile, env) }, origin: "--secret-file" };
  if (env["PYWRY_AUTH_SECRET"] !== undefined) return { value: { kind: "env", name: "PYWRY_AUTH_SECRET" }, origin: "env PYWRY_AUTH_SECRET" };
  const fileFromEnv = settings.env.PYWRY_AUTH_SECRET_FILE;
  if (fileFromEnv) return { value: { kind: "file", path: expandHome(fileFromEnv, env) }, origin: "env PYWRY_AUTH_SECRET_FILE" };
  const fromConfig = settings.config.secretFile;
  if (fromConfig) return { value: { kind: "file", path: expandHome(fromConfig, env) }, origin: configOrigin(env) };
  const path = defaultSecretPath(env);
  return existsSync(path)
    ? { value: { kind: "file", path }, origin: "default" }
    : { value: { kind: "none", path }, origin: "default" };
}

/** A store as people may see it: the path, or the URL with any password hidden. */
export function describeStore(location: StoreLocation): string {
  return location.kind === "sqlite" ? location.path : redactUrl(location.url);
}

export function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === "~" || path.startsWith("~/")) return join(env["HOME"] || homedir(), path.slice(1));
  return resolve(path);
}
