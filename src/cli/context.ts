/**
 * Where the CLI finds its secret, its store and its other settings, in the order
 * docs/configuration.md states. Nothing here loads SQLite until a command asks for the store.
 */
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { ConfigError, InvalidInputError, SecretError, StoreError, isPywryAuthError } from "../core/errors.js";
import { checkFileOwner, modeNote, notARegularFile, readSmallPrivateFile, writePrivateFile as writeFileAtomically, type FailWith, type WrittenFile } from "../files.js";
import type { AuthStore } from "../store/types.js";
import type { KeySourceOptions, ResolvedKey } from "../store/sqlite/key.js";
import { looksLikeCredential, redactUrl } from "../core/redact.js";
import { pythonStrip } from "../core/pystr.js";
import { AUTH_CONFIG_DEFAULTS, DEFAULT_WIDGET_TTL } from "../core/config.js";
import { DEFAULT_ROLES } from "../core/rbac.js";
import { configDir, configOrigin, pick, type Setting } from "./settings.js";
import { firstProblem, loadSettings, problemError, type LoadedSettings, type SettingName } from "./settings-schema.js";

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

export interface Secrets {
  /** Current secret first, then previous ones still accepted during a rotation. */
  all: string[];
  source: string;
}

export interface Context {
  options: GlobalOptions;
  env: NodeJS.ProcessEnv;
  /** Messages for the operator (stderr). */
  notice: (message: string) => void;
  /** Every setting from every source, read and checked on first use (settings-schema.ts). */
  settings?: LoadedSettings;
  /**
   * Whether a command runs despite invalid settings (`config show`, `doctor`, which list them):
   * then only a setting that is itself invalid fails, where it is used.
   */
  tolerateInvalidSettings?: boolean;
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

export const SECRET_BYTES = 32;

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

/**
 * Whether there is a store to consult (a Redis server is asked). Only pywry's default location may
 * be missing (tokens are then checked without one), or one that a command with `access` is about
 * to create (--create); a store that was named and is missing is otherwise an error, or a
 * mistyped --store would silently skip the revocation check.
 */
export function storeExists(context: Context, access: StoreAccess = "read"): boolean {
  const { value: location, origin } = storeSetting(context);
  if (location.kind === "redis" || existsSync(location.path)) return true;
  if (origin.startsWith("default") || mayCreateStore(context, access, origin)) return false;
  throw missingStore(location.path, origin, access);
}

/**
 * How a command uses the store. "read" needs an existing store and changes nothing (not even the
 * schema); "update" needs an existing store and may write; "mint" may also create a missing
 * SQLite store at the configured location, but not at one named by --store (a typo there must
 * not make a new database); "create" may create it anywhere (init, migrate into a new target).
 * --create lets any command that writes create the store. Creating one is said on stderr.
 */
export type StoreAccess = "read" | "update" | "mint" | "create";

/** Opens the store (loading its driver only now), runs `work`, and always closes it. */
export async function withStore<T>(context: Context, access: StoreAccess, work: (store: AuthStore) => Promise<T>): Promise<T> {
  const { value: location, origin } = storeSetting(context);
  const missing = location.kind === "sqlite" && !existsSync(location.path);
  const create = mayCreateStore(context, access, origin);
  if (missing && !create) throw missingStore(location.path, origin, access);
  if (location.kind === "sqlite") checkStoreFile(location.path);
  const store = await openStore(context, location, create ? "create" : access === "mint" ? "update" : access);
  if (missing) context.notice(`created a new session store at ${location.path} (mode 0600)`);
  // Commands that add to the store (mint, create, revoke, import) say when others can read it.
  if (location.kind === "sqlite" && (access === "create" || access === "mint")) warnIfStoreShared(location.path, context);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Fails as withStore would when the store is missing and may not be created (to check before asking anything). */
export function assertStoreAvailable(context: Context, access: StoreAccess): void {
  const { value: location, origin } = storeSetting(context);
  if (location.kind === "sqlite" && !existsSync(location.path) && !mayCreateStore(context, access, origin)) throw missingStore(location.path, origin, access);
}

function mayCreateStore(context: Context, access: StoreAccess, origin: string): boolean {
  if (access === "read") return false;
  if (access === "create" || context.options.create === true) return true;
  return access === "mint" && origin !== "--store";
}

/** A missing store: exit 3, naming the path, where it was configured, and how to create one. */
function missingStore(path: string, origin: string, access: StoreAccess): StoreError {
  const how = access === "read" ? "run `pywry-auth init` to set one up" : "run `pywry-auth init` to set one up, or repeat with --create to create it";
  return new StoreError(`no session store at ${path} (from ${origin}): ${how}`);
}

async function openStore(context: Context, location: StoreLocation, access: StoreAccess): Promise<AuthStore> {
  const mode = access === "read" ? "read" : "write";
  // How long to wait for the store (SQLite: another process's write lock; Redis: each command); unset, the stores' defaults.
  const timeoutMs = settingsFor(context, "store_timeout").env.PYWRY_AUTH_STORE_TIMEOUT_MS;
  if (location.kind === "redis") {
    const { RedisSessionStore } = await import("../store/redis/store.js");
    return RedisSessionStore.connect(location.url, { prefix: location.prefix, mode, commandTimeoutMs: timeoutMs });
  }
  const [{ SqliteSessionStore }, { sqliteFileFormat }] = await Promise.all([import("../store/sqlite/store.js"), import("../store/sqlite/connection.js")]);
  const format = sqliteFileFormat(location.path);
  const key = await storeKeyFor(context, location.path, format, access);
  if (key && format !== "encrypted") {
    context.notice(`creating the session store encrypted (SQLCipher 4), key from ${key.source}`);
  }
  return SqliteSessionStore.open(location.path, { mode, create: access === "create", key: key?.key, keySource: key?.source, busyTimeoutMs: timeoutMs });
}

/**
 * The key a SQLite store is opened with: an encrypted file needs one (ERR_STORE_KEY naming the
 * sources tried when none is found); a store about to be created gets one when a key is
 * configured, so that pywry with sqlcipher can open it; a plain file needs none, and then no
 * source (not even the keyring) is asked.
 */
async function storeKeyFor(
  context: Context,
  path: string,
  format: "missing" | "empty" | "plain" | "encrypted",
  access: StoreAccess,
): Promise<ResolvedKey | null> {
  if (format === "plain" || (format !== "encrypted" && (access !== "create" || context.options.createPlain))) return null;
  const { requireSqliteKey, resolveSqliteKey } = await import("../store/sqlite/key.js");
  const sources = sqliteKeySources(context);
  return format === "encrypted" ? requireSqliteKey(path, sources) : (await resolveSqliteKey(sources)).key;
}

export interface SqliteKeyStatus {
  format: "missing" | "empty" | "plain" | "encrypted";
  /** The key pywry-auth would use, by source only; null when no source has one. */
  source: string | null;
  /** Why each source asked gave nothing (empty when one did). */
  tried: string[];
  /** A key source that is configured but unusable (a missing or world-readable key file). */
  problem: string | null;
}

/** What `config show`, `doctor` and `init` say about a SQLite store's key: sources, never the key. */
export async function sqliteKeyStatus(context: Context, path: string): Promise<SqliteKeyStatus> {
  const [{ sqliteFileFormat }, { resolveSqliteKey }] = await Promise.all([import("../store/sqlite/connection.js"), import("../store/sqlite/key.js")]);
  const format = sqliteFileFormat(path);
  try {
    const { key, tried } = await resolveSqliteKey(sqliteKeySources(context));
    return { format, source: key?.source ?? null, tried, problem: null };
  } catch (error) {
    if (!isPywryAuthError(error)) throw error;
    return { format, source: null, tried: [], problem: error.message };
  }
}

/** Where the SQLite key may come from: --sqlite-key-file, PYWRY_SQLITE_KEY, the config file, the keyring, pywry's salt. */
export function sqliteKeySources(context: Context): KeySourceOptions {
  const flag = context.options.sqliteKeyFile;
  if (flag === "") throw new InvalidInputError("--sqlite-key-file needs a path", "ERR_USAGE");
  const fromConfig = loadedSettings(context).config.sqliteKeyFile;
  return {
    env: context.env,
    keyFile: flag ? { path: expandHome(flag, context.env), origin: "--sqlite-key-file" } : undefined,
    configKeyFile: fromConfig ? { path: expandHome(fromConfig, context.env), origin: configOrigin(context.env) } : undefined,
  };
}

export function generateSecret(): string {
  // Web Crypto's CSPRNG (the same source as node:crypto's randomBytes), reached through the
  // global so that commands which never mint a secret never load node:crypto (cold start).
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(SECRET_BYTES))).toString("hex");
}

/**
 * The configured secrets, or an ERR_NO_SECRET error saying how to configure one. Checking
 * commands call this; minting commands call `secretsForMinting`, which may create one.
 */
export function configuredSecrets(context: Context): Secrets {
  const found = findSecret(context);
  if (!found) {
    throw new SecretError(
      `no signing secret configured: pass --secret-file <path>, set PYWRY_AUTH_SECRET, or mint a token once to create ${defaultSecretPath(context.env)}`,
    );
  }
  return found;
}

/** The configured secrets, or null when none is configured (a broken configuration still throws). */
export function secretsIfConfigured(context: Context): Secrets | null {
  try {
    return configuredSecrets(context);
  } catch (error) {
    if (isPywryAuthError(error) && error.code === "ERR_NO_SECRET") return null;
    throw error;
  }
}

/**
 * For commands that check tokens: the configured secrets, or, at a terminal with none configured,
 * one typed at a hidden prompt (used for this run only, never stored or echoed).
 */
export async function checkingSecrets(context: Context): Promise<Secrets> {
  const found = findSecret(context);
  if (found || !process.stdin.isTTY || !process.stdout.isTTY) return found ?? configuredSecrets(context);
  const { password } = await import("@inquirer/prompts");
  const typed = await password({ message: "No signing secret is configured. Type it (hidden):" });
  if (pythonStrip(typed) === "") return configuredSecrets(context);
  return { all: [secretText(typed, "the secret typed"), ...splitList(context.env["PYWRY_AUTH_PREVIOUS_SECRETS"])], source: "the prompt" };
}

/** Like configuredSecrets, but on first use creates a new secret in the default location. */
export function secretsForMinting(context: Context): Secrets {
  const found = findSecret(context);
  if (found) return found;
  const path = defaultSecretPath(context.env);
  const written = writePrivateFile(path, `${generateSecret()}\n`, false);
  context.notice(
    `created a new signing secret in ${path} (${modeNote(written)}). Your pywry app must use the same value: ` +
      `AuthConfig(token_secret=open("${path}").read().strip())`,
  );
  return { all: [readSecretFile(path, context)], source: path };
}

/**
 * Writes a file only its owner can read, atomically, never through a symbolic link (see
 * files.ts); refuses to replace an existing one unless asked. Says what mode it really has.
 */
export function writePrivateFile(
  path: string,
  content: string,
  overwrite: boolean,
  fail: FailWith = (message) => new SecretError(message, "ERR_SECRET"),
): WrittenFile {
  return writeFileAtomically(path, content, overwrite, fail);
}

function findSecret(context: Context): Secrets | null {
  const previous = splitList(context.env["PYWRY_AUTH_PREVIOUS_SECRETS"]);
  const source = secretSetting(context).value;
  if (source.kind === "none") return null;
  if (source.kind === "env") {
    return { all: [secretText(context.env[source.name] ?? "", source.name), ...previous], source: source.name };
  }
  return { all: [readSecretFile(source.path, context), ...previous], source: source.path };
}

function readSecretFile(path: string, context: Context): string {
  let text: string;
  // `--secret-file <the secret itself>` by mistake: the error must not print it. Judged on the
  // path relative to here (the flag's value was resolved against the working directory); a
  // path outside it was typed as a path.
  const typed = relative(process.cwd(), path);
  const pathIsSecret = !typed.startsWith("..") && looksLikeCredential(typed);
  try {
    // A regular file of a sane size, owned by this user or root: never a FIFO (which would block)
    // or /dev/zero (which never ends), nor a file someone else could have written.
    text = readSmallPrivateFile(
      path,
      (message) => new SecretError(pathIsSecret ? message.split(path).join("(path not shown: it looks like a secret)") : message, "ERR_SECRET"),
      "secret file",
    );
  } catch (error) {
    if (isPywryAuthError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (pathIsSecret) {
      throw new SecretError(
        "cannot read the secret file: its path is not shown because it looks like a secret itself (--secret-file takes the path of a file holding the secret)",
        "ERR_SECRET",
      );
    }
    if (code === "EISDIR") {
      throw new SecretError(notARegularFile("secret file", path, "a directory"), "ERR_SECRET");
    }
    const reason = code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new SecretError(`cannot read secret file ${path}: ${reason}`, "ERR_SECRET");
  }
  warnIfShared(path, context);
  return secretText(text, `secret file ${path}`);
}

/**
 * The secret in `text`, read exactly as the pywry side reads it (`.strip()`: every surrounding
 * whitespace character Python knows, so "  S  \n", "S\r" and "S" sign alike). A line break
 * inside is refused: Python's text files turn "\r\n" and "\r" into "\n", so the two sides would
 * sign with different secrets.
 */
function secretText(text: string, where: string): string {
  const secret = pythonStrip(text);
  if (secret === "") throw new SecretError(`${where} is empty`, "ERR_SECRET");
  if (/[\r\n]/.test(secret)) throw new SecretError(`${where} holds more than one line: a secret is one line`, "ERR_SECRET");
  return secret;
}

function warnIfShared(path: string, context: Context): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    context.notice(`warning: secret file ${path} is readable by other users (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${path}`);
  }
}

/**
 * A SQLite store pre-created by another user (or a symbolic link to one planted in /tmp) would
 * hand them every session written to it: refused, as is anything but a regular file.
 */
// A store that is not a regular file (a FIFO, a directory) is refused by the format check, which says what it is.
function checkStoreFile(path: string): void {
  checkFileOwner(path, (message) => new StoreError(message), "session store");
}

const warnedStores = new Set<string>();

/** The database holds live credentials (pywry uses tokens as session ids): say so when others can read it. */
function warnIfStoreShared(path: string, context: Context): void {
  if (warnedStores.has(path)) return;
  warnedStores.add(path);
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return;
  }
  if (mode & 0o077) {
    context.notice(
      `warning: session store ${path} is readable by other users (mode ${mode.toString(8).padStart(4, "0")}) and holds live session ids; run: chmod 600 ${path}`,
    );
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

export function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === "~" || path.startsWith("~/")) return join(env["HOME"] || homedir(), path.slice(1));
  return resolve(path);
}
