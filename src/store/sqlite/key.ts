/**
 * Where the SQLCipher key of a pywry database comes from, found the way pywry finds it
 * (pywry/state/sqlite.py, `_resolve_encryption_key`), but read-only: pywry creates a keyring
 * entry or a salt file when it finds none, pywry-auth never does. An explicit key file (for
 * scripts) comes first and in between, as documented in docs/encrypted-stores.md.
 *
 * The key is a credential: nothing here puts it in a message. Messages name sources, never values.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { StoreError } from "../../core/errors.js";
import { checkFileOwner } from "../../files.js";
import { pythonNode } from "./node-id.js";

export const KEY_ENV = "PYWRY_SQLITE_KEY";
export const KEYRING_SERVICE = "pywry";
export const KEYRING_USER = "sqlite_key";
const KEY_FILE_MAX_BYTES = 4096;
const DEFAULT_KEYRING_TIMEOUT_MS = 2000;

export interface KeyFile {
  path: string;
  /** Where the path was given, e.g. "--sqlite-key-file" or "config ~/.config/pywry-auth/config.json". */
  origin: string;
}

export interface KeySourceOptions {
  env?: NodeJS.ProcessEnv;
  /** A key file named on the command line: it wins over everything else. */
  keyFile?: KeyFile;
  /** A key file from a config file: after PYWRY_SQLITE_KEY, before the keyring. */
  configKeyFile?: KeyFile;
  /** Ask the OS keyring (default true; needs the optional @napi-rs/keyring). */
  keyring?: boolean;
  keyringTimeoutMs?: number;
  /** The machine's `uuid.getnode()`; computed from its interfaces by default. */
  node?: bigint | null;
}

export interface ResolvedKey {
  key: string;
  /** Says where the key came from, never what it is. */
  source: string;
}

export interface KeyResolution {
  key: ResolvedKey | null;
  /** Each source asked, with why it gave nothing, for the error that names them. */
  tried: string[];
}

/** pywry's key, from the first source that has one; `key` is null when none does. */
export async function resolveSqliteKey(options: KeySourceOptions = {}): Promise<KeyResolution> {
  const env = options.env ?? process.env;
  const tried: string[] = [];
  if (options.keyFile) return { key: readKeyFile(options.keyFile), tried };
  const fromEnv = env[KEY_ENV];
  if (fromEnv) return { key: { key: fromEnv, source: `env ${KEY_ENV}` }, tried };
  // pywry takes an empty variable for an unset one; so must we, or we would use another key than it.
  tried.push(fromEnv === "" ? `env ${KEY_ENV} (set but empty, which pywry ignores)` : `env ${KEY_ENV} (not set)`);
  if (options.configKeyFile) return { key: readKeyFile(options.configKeyFile), tried };
  tried.push("--sqlite-key-file (not given)");
  if (options.keyring !== false) {
    const answer = await keyringPassword(env, options.keyringTimeoutMs ?? DEFAULT_KEYRING_TIMEOUT_MS);
    if (answer.kind === "found") return { key: { key: answer.password, source: `OS keyring (service ${KEYRING_SERVICE}, user ${KEYRING_USER})` }, tried };
    if (answer.kind === "empty") {
      // A working keyring is where pywry keeps its key: it never falls back to the salt then.
      tried.push(`OS keyring (no ${KEYRING_SERVICE}/${KEYRING_USER} entry)`);
      return { key: null, tried };
    }
    tried.push(`OS keyring (${answer.reason})`);
  }
  const home = env["HOME"] || homedir();
  const saltPath = join(home, ".config", "pywry", ".salt");
  const salted = saltKey(saltPath, options.node === undefined ? pythonNode() : options.node);
  if ("key" in salted) return { key: salted, tried };
  tried.push(salted.reason);
  return { key: null, tried };
}

/** How to give a key, for messages. */
export const HOW_TO_GIVE_A_KEY = `set ${KEY_ENV}, or pass --sqlite-key-file <file> (or sqliteKeyFile in the config file)`;

/** Like resolveSqliteKey, but a missing key is an ERR_STORE_KEY error naming the sources tried. */
export async function requireSqliteKey(path: string, options: KeySourceOptions = {}): Promise<ResolvedKey> {
  const { key, tried } = await resolveSqliteKey(options);
  if (key) return key;
  throw new StoreError(`${path} is not a plain SQLite database, and no SQLCipher key was found to open it as an encrypted one (tried: ${tried.join("; ")}): ${HOW_TO_GIVE_A_KEY}`, {
    code: "ERR_STORE_KEY",
  });
}

/** sha256(str(uuid.getnode()).encode() + salt).hexdigest(), pywry's key when no keyring works. */
export function pywrySaltKey(node: bigint, salt: Uint8Array): string {
  return createHash("sha256").update(Buffer.concat([Buffer.from(node.toString(), "utf8"), salt])).digest("hex");
}

function saltKey(saltPath: string, node: bigint | null): ResolvedKey | { reason: string } {
  let salt: Buffer;
  try {
    salt = readSmallRegularFile(saltPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { reason: code === "ENOENT" ? `salt file ${saltPath} (none)` : `salt file ${saltPath} (${describeReadError(error)})` };
  }
  if (node === null) return { reason: `salt file ${saltPath} (this machine has no hardware address for uuid.getnode())` };
  return { key: pywrySaltKey(node, salt), source: `pywry's salt file ${saltPath} and this machine's hardware address` };
}

function readKeyFile(file: KeyFile): ResolvedKey {
  let bytes: Buffer;
  try {
    bytes = readSmallRegularFile(file.path, { private: true });
  } catch (error) {
    throw new StoreError(`cannot use the SQLite key file ${file.path} (from ${file.origin}): ${describeReadError(error)}`, { code: "ERR_STORE_KEY" });
  }
  // As Python's str.strip(): what an editor or `echo` adds around the key is not part of it.
  const key = bytes.toString("utf8").trim();
  if (key === "") throw new StoreError(`the SQLite key file ${file.path} (from ${file.origin}) is empty`, { code: "ERR_STORE_KEY" });
  return { key, source: `key file ${file.path} (${file.origin})` };
}

class FileRefused extends Error {}

/** A regular file of at most a few KiB: a FIFO, a device or a directory is refused before reading. */
function readSmallRegularFile(path: string, options: { private?: boolean } = {}): Buffer {
  // A key or salt someone else could have planted or can change is no key of ours.
  checkFileOwner(path, (message) => new FileRefused(message), options.private ? "the key file" : "the salt file");
  // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, which may never come;
  // it changes nothing for a regular file. (Windows has no FIFOs and no such flag.)
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new FileRefused("not a regular file");
    if (stat.size > KEY_FILE_MAX_BYTES) throw new FileRefused(`larger than ${KEY_FILE_MAX_BYTES} bytes`);
    if (options.private && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
      throw new FileRefused(`readable by other users (mode ${mode}); run: chmod 600 ${path}`);
    }
    const buffer = Buffer.alloc(stat.size);
    const read = readSync(fd, buffer, 0, stat.size, 0);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function describeReadError(error: unknown): string {
  if (error instanceof FileRefused) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "not a regular file";
  return (error as Error).message;
}

type KeyringAnswer = { kind: "found"; password: string } | { kind: "empty" } | { kind: "unavailable"; reason: string };

/**
 * pywry's keyring entry, through @napi-rs/keyring (an optional dependency, loaded only here). On
 * Linux the Secret Service is asked, as Python's keyring does; a machine without the binding, a
 * D-Bus session or a keyring daemon gives "unavailable" at once, and a keyring that does not
 * answer is given up after a timeout, so resolution never hangs.
 */
async function keyringPassword(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<KeyringAnswer> {
  // The Secret Service is reached over the D-Bus session bus, found through this variable (by
  // libdbus and by Python's keyring alike): without it there is nothing to ask.
  if (process.platform === "linux" && !env["DBUS_SESSION_BUS_ADDRESS"]) {
    return { kind: "unavailable", reason: "unavailable: no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)" };
  }
  let binding: typeof import("@napi-rs/keyring");
  try {
    binding = await import("@napi-rs/keyring");
  } catch {
    return { kind: "unavailable", reason: "not available: the optional @napi-rs/keyring is not installed" };
  }
  try {
    const entry = new binding.AsyncEntry(KEYRING_SERVICE, KEYRING_USER, { linux: { store: "secret-service" } });
    const password = await entry.getPassword(AbortSignal.timeout(timeoutMs));
    return password ? { kind: "found", password } : { kind: "empty" };
  } catch (error) {
    const name = (error as Error).name;
    if (name === "AbortError" || name === "TimeoutError") return { kind: "unavailable", reason: `did not answer within ${timeoutMs} ms` };
    return { kind: "unavailable", reason: `unavailable: ${firstLine((error as Error).message)}` };
  }
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").slice(0, 120);
}
