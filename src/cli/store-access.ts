/**
 * Opening the session store a command uses: where settings.ts says it is, created only when the
 * command may create it, with its SQLCipher key. Nothing here loads SQLite or Redis until a
 * command asks for the store.
 */
import { existsSync, statSync } from "node:fs";
import { StoreError, isPywryAuthError } from "../core/errors.js";
import { UsageError } from "./errors.js";
import { checkFileOwner } from "../files.js";
import type { AuthStore } from "../store/types.js";
import type { KeySourceOptions, ResolvedKey } from "../store/sqlite/key.js";
import type { Context } from "./context.js";
import { configOrigin, expandHome, loadedSettings, settingsFor, storeSetting, type StoreLocation } from "./settings.js";

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

/** Runs `work` with the store when one exists (and is wanted), else with null. */
export async function withOptionalStore<T>(context: Context, wanted: boolean, work: (store: AuthStore | null) => Promise<T>): Promise<T> {
  if (!wanted || !storeExists(context)) return work(null);
  return withStore(context, "read", work);
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
    return RedisSessionStore.connect(location.url, { prefix: location.prefix, mode, now: context.clock.now, commandTimeoutMs: timeoutMs });
  }
  const [{ SqliteSessionStore }, { sqliteFileFormat }] = await Promise.all([import("../store/sqlite/store.js"), import("../store/sqlite/connection.js")]);
  const format = sqliteFileFormat(location.path);
  const key = await storeKeyFor(context, location.path, format, access);
  if (key && format !== "encrypted") {
    context.notice(`creating the session store encrypted (SQLCipher 4), key from ${key.source}`);
  }
  return SqliteSessionStore.open(location.path, { mode, create: access === "create", key: key?.key, keySource: key?.source, busyTimeoutMs: timeoutMs, now: context.clock.now });
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
  if (flag === "") throw new UsageError("--sqlite-key-file needs a path");
  const fromConfig = loadedSettings(context).config.sqliteKeyFile;
  return {
    env: context.env,
    keyFile: flag ? { path: expandHome(flag, context.env), origin: "--sqlite-key-file" } : undefined,
    configKeyFile: fromConfig ? { path: expandHome(fromConfig, context.env), origin: configOrigin(context.env) } : undefined,
  };
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
