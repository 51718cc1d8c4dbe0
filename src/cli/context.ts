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

export function storePath(context: Context): string {
  if (context.options.store === "") throw new InvalidInputError("--store needs a path", "ERR_USAGE");
  const chosen = context.options.store || context.env["PYWRY_DEPLOY__SQLITE_PATH"];
  if (chosen) return expandHome(chosen, context.env);
  return join(context.env["HOME"] || homedir(), ".config", "pywry", "pywry.db");
}

export function storeExists(context: Context): boolean {
  return existsSync(storePath(context));
}

/**
 * How a command uses the store. "read" needs an existing store and changes nothing (not even the
 * schema); "update" needs an existing store and may write; "create" may also create it (mode 0600).
 */
export type StoreAccess = "read" | "update" | "create";

/** Opens the SQLite store (loading SQLite only now), runs `work`, and always closes it. */
export async function withStore<T>(context: Context, access: StoreAccess, work: (store: AuthStore) => Promise<T>): Promise<T> {
  const { SqliteSessionStore } = await import("../store/sqlite.js");
  const store = SqliteSessionStore.open(storePath(context), {
    mode: access === "read" ? "read" : "write",
    create: access === "create",
  });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
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
