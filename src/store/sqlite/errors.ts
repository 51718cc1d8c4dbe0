/** The one-line, actionable error for anything the SQLite driver throws. */
import { PywryAuthError, StoreError } from "../../core/errors.js";

export function toStoreError(error: unknown, path: string): PywryAuthError {
  if (error instanceof PywryAuthError) return error;
  const code = (error as { code?: string }).code ?? "";
  const detail = (error as Error).message ?? String(error);
  if (detail.includes("Could not locate the bindings file") || code === "ERR_DLOPEN_FAILED") {
    return new StoreError(
      "the SQLite driver (better-sqlite3-multiple-ciphers) is not built for this Node.js: run `npm rebuild better-sqlite3-multiple-ciphers` where pywry-auth is installed",
      { cause: error },
    );
  }
  const explanations: Record<string, string> = {
    SQLITE_NOTADB: `${path} is not a SQLite database (nor a SQLCipher one that the key opens)`,
    SQLITE_BUSY: `${path} is locked by another process (gave up waiting)`,
    SQLITE_CORRUPT: `${path} is corrupt: ${detail}`,
    // Before SQLITE_READONLY, which prefixes it: a WAL database needs its -shm file beside it.
    SQLITE_READONLY_DIRECTORY:
      `cannot use ${path}: SQLite must create ${path}-shm beside it (the database is in WAL mode), but this user cannot write to its directory; ` +
      `run pywry-auth as the database's owner, or copy the file and pass --store <copy>`,
    SQLITE_READONLY: `${path} is read-only for this user (${detail}): run pywry-auth as the database's owner, or fix its permissions`,
    SQLITE_CANTOPEN: `cannot open ${path}: ${detail}`,
  };
  const explained = Object.entries(explanations).find(([prefix]) => code.startsWith(prefix));
  return new StoreError(explained ? explained[1] : `session store ${path}: ${detail}`, { cause: error });
}

/** Tables of a newer pywry-auth: refused rather than read as if they were ours. */
export function newerSchemaError(path: string, version: number, known: number): StoreError {
  return new StoreError(`${path} was written by a newer pywry-auth (schema ${version}, this one knows ${known}); upgrade pywry-auth`, {
    code: "ERR_STORE_VERSION",
  });
}
