/**
 * Where the CLI finds its secret and its store. Resolution order: flags, then pywry-auth's
 * environment, then pywry's own environment, then defaults. Nothing here loads SQLite until a
 * command asks for the store.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { InvalidInputError, SecretError } from "../core/errors.js";
import type { AuthStore } from "../store/types.js";

export interface GlobalOptions {
  secretFile?: string;
  store?: string;
  redisPrefix?: string;
  json?: boolean;
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
}

export const SECRET_BYTES = 32;

export function configDir(env: NodeJS.ProcessEnv): string {
  const base = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(base, "pywry-auth");
}

export function defaultSecretPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), "secret");
}

/** Where the session store is: a SQLite file (pywry's default) or a Redis server (pywry's scale-out backend). */
export type StoreLocation = { kind: "sqlite"; path: string } | { kind: "redis"; url: string; prefix: string };

const REDIS_URL = /^rediss?:\/\//i;
const PYWRY_REDIS_DEFAULT = "redis://localhost:6379/0";

/**
 * --store (a path, or a redis:// or rediss:// URL), else pywry's own settings
 * (PYWRY_DEPLOY__STATE_BACKEND with PYWRY_DEPLOY__REDIS_URL or PYWRY_DEPLOY__SQLITE_PATH),
 * else pywry's default SQLite file.
 */
export function storeLocation(context: Context): StoreLocation {
  const flag = context.options.store;
  if (flag === "") throw new InvalidInputError("--store needs a path or a redis:// URL", "ERR_USAGE");
  if (flag) return REDIS_URL.test(flag) ? redisLocation(context, flag) : { kind: "sqlite", path: expandHome(flag, context.env) };
  if (context.env["PYWRY_DEPLOY__STATE_BACKEND"]?.trim().toLowerCase() === "redis") {
    return redisLocation(context, context.env["PYWRY_DEPLOY__REDIS_URL"] || PYWRY_REDIS_DEFAULT);
  }
  const path = context.env["PYWRY_DEPLOY__SQLITE_PATH"];
  return { kind: "sqlite", path: path ? expandHome(path, context.env) : join(context.env["HOME"] || homedir(), ".config", "pywry", "pywry.db") };
}

function redisLocation(context: Context, url: string): StoreLocation {
  const prefix = context.options.redisPrefix || context.env["PYWRY_DEPLOY__REDIS_PREFIX"] || "pywry";
  return { kind: "redis", url, prefix };
}

/** Whether there is a store to consult. A Redis server is asked; only a missing file is "none". */
export function storeExists(context: Context): boolean {
  const location = storeLocation(context);
  return location.kind === "redis" || existsSync(location.path);
}

/**
 * How a command uses the store. "read" needs an existing store and changes nothing (not even the
 * schema); "update" needs an existing store and may write; "create" may also create it (mode 0600).
 */
export type StoreAccess = "read" | "update" | "create";

/** Opens the store (loading its driver only now), runs `work`, and always closes it. */
export async function withStore<T>(context: Context, access: StoreAccess, work: (store: AuthStore) => Promise<T>): Promise<T> {
  const store = await openStore(storeLocation(context), access);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

async function openStore(location: StoreLocation, access: StoreAccess): Promise<AuthStore> {
  const mode = access === "read" ? "read" : "write";
  if (location.kind === "redis") {
    const { RedisSessionStore } = await import("../store/redis.js");
    return RedisSessionStore.connect(location.url, { prefix: location.prefix, mode });
  }
  const { SqliteSessionStore } = await import("../store/sqlite.js");
  return SqliteSessionStore.open(location.path, { mode, create: access === "create" });
}

export function generateSecret(): string {
  return randomBytes(SECRET_BYTES).toString("hex");
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

/** Like configuredSecrets, but on first use creates a new secret in the default location. */
export function secretsForMinting(context: Context): Secrets {
  const found = findSecret(context);
  if (found) return found;
  const path = defaultSecretPath(context.env);
  writePrivateFile(path, `${generateSecret()}\n`, false);
  context.notice(
    `created a new signing secret in ${path} (mode 0600). Your pywry app must use the same value: ` +
      `AuthConfig(token_secret=open("${path}").read().strip())`,
  );
  return { all: [readSecretFile(path, context)], source: path };
}

/** Writes a file only its owner can read; refuses to replace an existing one unless asked. */
export function writePrivateFile(path: string, content: string, overwrite: boolean): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, overwrite ? "w" : "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new InvalidInputError(`${path} already exists; pass --force to replace it`, "ERR_USAGE");
    }
    throw new SecretError(`cannot write ${path}: ${(error as Error).message}`, "ERR_SECRET");
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

function findSecret(context: Context): Secrets | null {
  const previous = splitList(context.env["PYWRY_AUTH_PREVIOUS_SECRETS"]);
  const flagFile = context.options.secretFile;
  if (flagFile === "") throw new InvalidInputError("--secret-file needs a path", "ERR_USAGE");
  if (flagFile) {
    const path = expandHome(flagFile, context.env);
    return { all: [readSecretFile(path, context), ...previous], source: path };
  }
  const fromEnv = context.env["PYWRY_AUTH_SECRET"];
  if (fromEnv !== undefined) {
    if (fromEnv.trim() === "") throw new SecretError("PYWRY_AUTH_SECRET is set but empty", "ERR_SECRET");
    return { all: [fromEnv, ...previous], source: "PYWRY_AUTH_SECRET" };
  }
  const path = defaultSecretPath(context.env);
  if (!existsSync(path)) return null;
  return { all: [readSecretFile(path, context), ...previous], source: path };
}

function readSecretFile(path: string, context: Context): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new SecretError(`cannot read secret file ${path}: ${reason}`, "ERR_SECRET");
  }
  warnIfShared(path, context);
  // Files written by editors and `echo` end in a newline that is not part of the secret.
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret.trim() === "") throw new SecretError(`secret file ${path} is empty`, "ERR_SECRET");
  return secret;
}

function warnIfShared(path: string, context: Context): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    context.notice(`warning: secret file ${path} is readable by other users (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${path}`);
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === "~" || path.startsWith("~/")) return join(env["HOME"] || homedir(), path.slice(1));
  return resolve(path);
}
