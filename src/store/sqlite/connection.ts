/**
 * Opening a pywry database file, plain or encrypted the way pywry encrypts it: SQLCipher with the
 * key as a passphrase (`PRAGMA key = '<key>'`, SQLCipher's default key derivation). Files in the
 * field are SQLCipher 4 (the sqlcipher3 wheels) or SQLCipher 3 (Debian's libsqlcipher under
 * pysqlcipher3); the driver, SQLite3MultipleCiphers, reads and writes both, and keeps each file in
 * the format it has.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3-multiple-ciphers";
import { StoreError } from "../../core/errors.js";

/** How a file is encrypted: null for a plain SQLite file. */
export type SqliteEncryption = { cipher: "sqlcipher"; version: 3 | 4 } | null;

/** What a path holds, judged from its first bytes only. */
export type SqliteFileFormat = "missing" | "empty" | "plain" | "encrypted";

const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");
/** Newest first: a new encrypted file is made with SQLCipher 4's defaults, as pywry's sqlcipher3 does. */
const SQLCIPHER_VERSIONS = [4, 3] as const;

/**
 * Plain SQLite files begin with a fixed header; SQLCipher encrypts the whole first page, header
 * included, so anything else that is not empty is taken for encrypted (or not a database at all,
 * which decrypting then says).
 */
export function sqliteFileFormat(path: string): SqliteFileFormat {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch (error) {
    return missingOrUnreadable(path, error);
  }
  if (!stat.isFile()) throw new StoreError(`${path} is not a SQLite database: it is ${kindOfFile(stat)}`);
  // Asked before the file is opened: see openInThisProcess.
  const known = formatHeldOpen(stat);
  if (known) return known;
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, which may never come;
    // it changes nothing for a regular file. (Windows has no FIFOs and no such flag.)
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    return missingOrUnreadable(path, error);
  }
  try {
    const opened = fstatSync(fd);
    if (!opened.isFile()) throw new StoreError(`${path} is not a SQLite database: it is ${kindOfFile(opened)}`);
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const read = readSync(fd, head, 0, head.length, 0);
    if (read === 0) return "empty";
    return read === head.length && head.equals(SQLITE_HEADER) ? "plain" : "encrypted";
  } finally {
    closeSync(fd);
  }
}

function missingOrUnreadable(path: string, error: unknown): "missing" {
  const code = (error as NodeJS.ErrnoException).code;
  // ENOTDIR: a file where a parent directory should be; there is no store, and creating one says why not.
  if (code === "ENOENT" || code === "ENOTDIR") return "missing";
  throw new StoreError(`cannot read ${path}: ${code === "EACCES" ? "permission denied" : (error as Error).message}`, { cause: error });
}

/**
 * The connections this process holds, by file (device and inode). Closing any descriptor of a
 * file drops every POSIX lock the process holds on it, SQLite's included ("How To Corrupt An
 * SQLite Database File", 2.2): reading the header of a file that one of our connections has open
 * would leave that connection unlocked, and pywry's process could then take itself for the last
 * connection and checkpoint and delete the WAL under it. For such a file the format is known
 * already, so the file is not opened again outside SQLite.
 */
const openInThisProcess = new Map<string, Array<{ db: Database.Database; format: "plain" | "encrypted" }>>();

function fileId(stat: Stats): string {
  return `${stat.dev}:${stat.ino}`;
}

function formatHeldOpen(stat: Stats): "plain" | "encrypted" | null {
  const held = (openInThisProcess.get(fileId(stat)) ?? []).filter((entry) => entry.db.open);
  if (held.length === 0) openInThisProcess.delete(fileId(stat));
  else openInThisProcess.set(fileId(stat), held);
  return held[0]?.format ?? null;
}

function remember(path: string, connection: Connection): Connection {
  const id = fileId(statSync(path));
  const held = (openInThisProcess.get(id) ?? []).filter((entry) => entry.db.open);
  held.push({ db: connection.db, format: connection.encryption ? "encrypted" : "plain" });
  openInThisProcess.set(id, held);
  return connection;
}

function kindOfFile(stat: Stats): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isFIFO()) return "a FIFO (named pipe)";
  if (stat.isSocket()) return "a socket";
  return "a device, not a regular file";
}

export interface Connection {
  db: Database.Database;
  encryption: SqliteEncryption;
}

export interface ConnectOptions {
  /** The SQLCipher passphrase. An empty (new) file given a key becomes a SQLCipher 4 file. */
  key?: string;
  /** Where the key came from, for messages (never the key). */
  keySource?: string;
}

/** Opens an existing file (possibly empty), decrypting it when it is encrypted. */
export function connect(path: string, options: ConnectOptions = {}): Connection {
  const connection = openConnection(path, options);
  try {
    return remember(path, connection);
  } catch (error) {
    connection.db.close();
    throw error;
  }
}

function openConnection(path: string, options: ConnectOptions): Connection {
  const format = sqliteFileFormat(path);
  if (format === "missing") throw new StoreError(`no session store at ${path}`);
  const { key } = options;
  if (format === "plain" || (format === "empty" && key === undefined)) {
    return { db: new Database(path, { fileMustExist: true }), encryption: null };
  }
  if (key === undefined) {
    throw new StoreError(`${path} is not a plain SQLite database, and no SQLCipher key was given to open it as an encrypted one`, {
      code: "ERR_STORE_KEY",
    });
  }
  if (format === "empty") return { db: keyed(path, 4, key), encryption: { cipher: "sqlcipher", version: 4 } };
  for (const version of SQLCIPHER_VERSIONS) {
    const db = keyed(path, version, key);
    if (decrypts(db)) return { db, encryption: { cipher: "sqlcipher", version } };
    db.close();
  }
  const from = options.keySource ? ` from ${options.keySource}` : "";
  throw new StoreError(
    `cannot open ${path} with the key${from}: the key is wrong, or the file is not a SQLCipher 3 or 4 database, or it is damaged`,
    { code: "ERR_STORE_KEY" },
  );
}

function keyed(path: string, version: 3 | 4, key: string): Database.Database {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma(`legacy = ${version}`);
    // pywry's `PRAGMA key = '<key>'`; quotes doubled so that any key is one SQL string.
    db.pragma(`key = '${key.replaceAll("'", "''")}'`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** SQLCipher checks the key only when the first page is read. */
function decrypts(db: Database.Database): boolean {
  try {
    db.prepare("SELECT count(*) FROM sqlite_master").pluck().get();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "SQLITE_NOTADB") return false;
    throw error;
  }
}

/** Creates an empty store file, owner-only from birth: the database holds live credentials (pywry uses tokens as session ids). */
export function createPrivateFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, "wx", 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw new StoreError(`cannot create session store at ${path}: ${(error as Error).message}`, { cause: error });
  }
}
