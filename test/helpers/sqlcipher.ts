/**
 * An independent SQLCipher for checking encrypted files: never the driver that wrote them
 * (better-sqlite3-multiple-ciphers, i.e. SQLite3MultipleCiphers), but
 *
 * - SQLCipher 4.5.5 itself, compiled with gcc from the amalgamation in the npm package
 *   @commapp/sqlcipher-amalgamation and linked with OpenSSL's libcrypto (Debian's libssl-dev),
 *   behind test/helpers/sqlcipher-check.c; `PRAGMA cipher_compatibility = 3` lets it read
 *   SQLCipher 3 files;
 * - Debian's `sqlcipher` CLI, SQLCipher 3.4.1, which predates SQLCipher 4 and so reads only
 *   SQLCipher 3 files (with its defaults).
 *
 * The key reaches them through stdin or the environment, never argv. The 4.5.5 build is compiled
 * once per source hash into a directory under os.tmpdir() (not .build-test, which every
 * `npm run build:test` empties); test files building at the same time share one build through a
 * lock directory, and a build lands under its final name only by rename.
 *
 * A missing gcc, libssl-dev or sqlcipher makes the calling test FAIL with what to install, never
 * skip: a check that silently does not run proves nothing. `.ci/run` installs them.
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fixturesDir, projectRoot } from "./paths.js";

const AMALGAMATION_DIR = join(projectRoot, "node_modules", "@commapp", "sqlcipher-amalgamation", "src");
const CHECK_SOURCE = join(projectRoot, "test", "helpers", "sqlcipher-check.c");
const DEBIAN_SQLCIPHER = "sqlcipher";
const CFLAGS = [
  "-O0",
  "-w",
  "-DSQLITE_HAS_CODEC",
  "-DSQLCIPHER_CRYPTO_OPENSSL",
  "-DSQLITE_TEMP_STORE=2",
  "-DSQLITE_THREADSAFE=0",
  "-DSQLITE_OMIT_LOAD_EXTENSION",
];
const LIBS = ["-lcrypto", "-lm"];
/** How long a waiting test file trusts another one's build to finish before building itself. */
const LOCK_PATIENCE_MS = 240_000;
/** Generous: the amalgamation takes 10-60 s on a busy two-core machine. */
export const SQLCIPHER_BUILD_TIMEOUT_MS = 300_000;

const INSTALL_HINT = "install gcc, libssl-dev and sqlcipher (apt-get install gcc libssl-dev sqlcipher; .ci/run does this)";

export type Row = Record<string, unknown>;

export class SqlcipherError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface QueryOptions {
  /** `PRAGMA cipher_compatibility = N` after the key: 3 reads SQLCipher 3 files. */
  compat?: 3 | 4;
}

/** SQLCipher 4.5.5, built from the amalgamation. */
export interface Sqlcipher4 {
  binary: string;
  /** Runs `sql` (statements separated by `;`) on `path` opened with `key`; one object per row. */
  query(path: string, key: string | null, sql: string, options?: QueryOptions): Row[];
  /** Like query, but returns the failure (its stderr) instead of throwing; null when it worked. */
  refusal(path: string, key: string | null, sql: string, options?: QueryOptions): string | null;
}

let building: Promise<Sqlcipher4> | null = null;

/** The 4.5.5 checker, compiled on first use (once per source hash, shared between test files). */
export function sqlcipher4(): Promise<Sqlcipher4> {
  building ??= buildChecker().then((binary) => ({
    binary,
    query: (path, key, sql, options) => runChecker(binary, path, key, sql, options),
    refusal: (path, key, sql, options) => {
      try {
        runChecker(binary, path, key, sql, options);
        return null;
      } catch (error) {
        if (error instanceof SqlcipherError) return error.stderr || error.message;
        throw error;
      }
    },
  }));
  return building;
}

function runChecker(binary: string, path: string, key: string | null, sql: string, options: QueryOptions = {}): Row[] {
  mustExist(path);
  const args = options.compat ? ["--compat", String(options.compat), path] : [path];
  const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" };
  if (key !== null) env["SQLCIPHER_CHECK_KEY"] = key;
  const result = spawnSync(binary, args, { input: sql, env, encoding: "utf8", timeout: 60_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new SqlcipherError(`SQLCipher 4.5.5 failed on ${path} (exit ${result.status}): ${result.stderr.trim()}`, result.stderr);
  }
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Row);
}

/**
 * Runs `sql` through Debian's sqlcipher 3.4.1 CLI with `PRAGMA key = '<key>'` first (both on
 * stdin). Returns the rows, each a list of column texts (tab-separated output; NULL reads as "").
 * Throws SqlcipherError when it fails (-bail: at the first error).
 */
export function sqlcipher3(path: string, key: string, sql: string): string[][] {
  requireDebianSqlcipher();
  mustExist(path);
  const script = `PRAGMA key = '${key.replaceAll("'", "''")}';\n${sql.trim().replace(/;?$/, ";")}\n`;
  const result = spawnSync(DEBIAN_SQLCIPHER, ["-batch", "-bail", "-separator", "\t", path], {
    input: script,
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: tmpdir() },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  if (result.status !== 0 || result.stderr.trim() !== "") {
    throw new SqlcipherError(`sqlcipher 3.4.1 failed on ${path} (exit ${result.status}): ${result.stderr.trim()}`, result.stderr);
  }
  return result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split("\t"));
}

/** Like sqlcipher3, but returns the failure's stderr instead of throwing; null when it worked. */
export function sqlcipher3Refusal(path: string, key: string, sql: string): string | null {
  try {
    sqlcipher3(path, key, sql);
    return null;
  } catch (error) {
    if (error instanceof SqlcipherError) return error.stderr || error.message;
    throw error;
  }
}

/** Throws, saying what to install, when Debian's sqlcipher CLI is not there. */
export function requireDebianSqlcipher(): void {
  const probe = spawnSync(DEBIAN_SQLCIPHER, ["-version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(`Debian's sqlcipher CLI is needed to check SQLCipher 3 files and was not found: ${INSTALL_HINT}`);
  }
}

// SQLite (like the CLI) would create a missing file: a check must never make the file it checks.
function mustExist(path: string): void {
  if (!existsSync(path)) throw new Error(`no file to check at ${path}`);
}

async function buildChecker(): Promise<string> {
  const amalgamation = join(AMALGAMATION_DIR, "sqlite3.c");
  if (!existsSync(amalgamation)) {
    throw new Error(`the SQLCipher 4.5.5 sources are missing (${amalgamation}): run npm ci (devDependency @commapp/sqlcipher-amalgamation)`);
  }
  requireTool("gcc", ["--version"]);
  if (!existsSync("/usr/include/openssl/evp.h") && !hasHeaderViaGcc("openssl/evp.h")) {
    throw new Error(`OpenSSL's headers (openssl/evp.h) are missing, needed to build SQLCipher 4.5.5: ${INSTALL_HINT}`);
  }
  const hash = createHash("sha256");
  for (const file of [CHECK_SOURCE, amalgamation, join(AMALGAMATION_DIR, "sqlite3.h")]) hash.update(readFileSync(file));
  hash.update(JSON.stringify([CFLAGS, LIBS, process.arch]));
  // Per user and private: the tests run this binary, so no other user may put one there.
  const dir = join(tmpdir(), `pywry-auth-sqlcipher-check-${process.getuid?.() ?? "user"}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const binary = join(dir, `sqlcipher-check-4.5.5-${hash.digest("hex").slice(0, 16)}`);
  if (existsSync(binary)) return binary;

  const lock = `${binary}.lock`;
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break; // ours to build
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (existsSync(binary)) return binary;
    // Another test file is building it; a lock older than our patience belongs to a dead run.
    if (Date.now() - started > LOCK_PATIENCE_MS || Date.now() - lockAge(lock) > LOCK_PATIENCE_MS) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  try {
    if (existsSync(binary)) return binary;
    const temporary = `${binary}.tmp-${process.pid}-${Date.now()}`;
    try {
      await promisify(execFile)(
        "gcc",
        [...CFLAGS, `-I${AMALGAMATION_DIR}`, "-o", temporary, CHECK_SOURCE, amalgamation, ...LIBS],
        { timeout: SQLCIPHER_BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (error) {
      rmSync(temporary, { force: true });
      const stderr = String((error as { stderr?: string }).stderr ?? "").trim().split("\n").slice(-5).join("\n");
      throw new Error(`building SQLCipher 4.5.5 failed (${INSTALL_HINT}):\n${stderr || (error as Error).message}`);
    }
    renameSync(temporary, binary);
    return binary;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function lockAge(lock: string): number {
  try {
    return statSync(lock).mtimeMs;
  } catch {
    return Date.now();
  }
}

function requireTool(command: string, args: string[]): void {
  const probe = spawnSync(command, args, { encoding: "utf8" });
  if (probe.error || probe.status !== 0) throw new Error(`${command} is needed to build SQLCipher 4.5.5 and was not found: ${INSTALL_HINT}`);
}

function hasHeaderViaGcc(header: string): boolean {
  const probe = spawnSync("gcc", ["-E", "-x", "c", "-"], { input: `#include <${header}>\n`, encoding: "utf8" });
  return probe.status === 0;
}

// ---- the fixtures of test/fixtures/sqlcipher (written by real SQLCipher; see its README.md) ----

export interface ManifestSession {
  session_id: string;
  user_id: string;
  roles: string[];
  created_at: number;
  expires_at: number | null;
  metadata: Record<string, unknown>;
}

export interface Manifest {
  secret: string;
  files: Record<string, { sqlcipher: string; key: string; salt_hex?: string; node?: number }>;
  role_permissions: Record<string, string[]>;
  sessions: ManifestSession[];
}

export const SQLCIPHER_FIXTURES = join(fixturesDir, "sqlcipher");
export const manifest = JSON.parse(readFileSync(join(SQLCIPHER_FIXTURES, "pywry-sqlcipher.json"), "utf8")) as Manifest;

/** The three encrypted fixtures, with the SQLCipher major version that wrote each. */
export const ENCRYPTED_FIXTURES = [
  { name: "pywry-sqlcipher4.db", version: 4 as const },
  { name: "pywry-sqlcipher3.db", version: 3 as const },
  { name: "pywry-salt-key.db", version: 4 as const },
].map((fixture) => ({ ...fixture, key: keyOf(fixture.name) }));

export function keyOf(name: string): string {
  const entry = manifest.files[name];
  if (!entry) throw new Error(`${name} is not in the manifest`);
  return entry.key;
}

/** Copies an encrypted fixture to `dir` as a private (0600) file; returns its path. */
export function copyEncryptedFixture(dir: string, name: string, as = name): string {
  const target = join(dir, as);
  copyFileSync(join(SQLCIPHER_FIXTURES, name), target);
  chmodSync(target, 0o600);
  return target;
}

/** Writes a key file (the key and a newline, as `echo` would) with the given mode. */
export function writeKeyFile(path: string, key: string, mode = 0o600): string {
  writeFileSync(path, `${key}\n`, { mode });
  chmodSync(path, mode);
  return path;
}

export const PLAIN_SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** The first 16 bytes of a file: "SQLite format 3\0" for plain SQLite, SQLCipher's random salt otherwise. */
export function firstBytes(path: string, length = 16): Buffer {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, 0);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Expired as pywry reads it: a non-zero expiry in the past. */
export function isExpired(session: { expires_at: number | null }, now = Date.now() / 1000): boolean {
  return session.expires_at !== null && session.expires_at !== 0 && session.expires_at < now;
}
