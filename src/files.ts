/**
 * Files that hold credentials (secrets, keys, the store, the config, exports), written and read
 * the way ssh, kubectl and Vault treat theirs: written whole or not at all, owner-only, never
 * through a planted symbolic link; read only when they are what they claim to be (a regular
 * file, of a sane size, that nobody else could have written).
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { InvalidInputError } from "./core/errors.js";

/** Makes the error a caller reports (its class gives the exit code: 3 for secrets, stores, config). */
export type FailWith = (message: string) => Error;

export interface WrittenFile {
  /** The file's permission bits as written: 0o600, unless the filesystem keeps no Unix modes. */
  mode: number;
}

/**
 * Writes `content` to `path` atomically and owner-only: a temporary file created with O_EXCL
 * beside it, written, fchmod 0600, fsynced, then renamed over the target (or, without
 * `overwrite`, linked to it, which fails if anything is there). A symbolic link at `path` is
 * refused rather than followed, and so is anything that is not a regular file. A reader sees the
 * old file or the new one, never half of one; a crash leaves at most the temporary file.
 */
export function writePrivateFile(path: string, content: string, overwrite: boolean, fail: FailWith, what = "file"): WrittenFile {
  const directory = dirname(path);
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fail(`cannot write ${path}: ${(error as Error).message}`);
  }
  checkWriteTarget(path, overwrite, fail, what);
  const { fd, temporary } = createTemporary(directory, basename(path), fail);
  let mode: number;
  try {
    writeAll(fd, Buffer.from(content, "utf8"));
    mode = finishPrivate(fd);
  } catch (error) {
    closeSync(fd);
    removeQuietly(temporary);
    throw fail(`cannot write ${path}: ${(error as Error).message}`);
  }
  closeSync(fd);
  publish(temporary, path, overwrite, fail, what);
  return { mode };
}

/**
 * A file to stream into (exports): created like writePrivateFile's temporary file; `commit()`
 * fsyncs it and links it into place (never over an existing file), `abort()` removes it.
 */
export function openPrivateTemporary(
  path: string,
  fail: FailWith,
  what = "file",
  ifExists = EXISTS_HINT,
): { fd: number; commit: () => WrittenFile; abort: () => void } {
  const directory = dirname(path);
  checkWriteTarget(path, false, fail, what, ifExists);
  const { fd, temporary } = createTemporary(directory, basename(path), fail);
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    fd,
    commit: () => {
      let mode: number;
      try {
        mode = finishPrivate(fd);
      } catch (error) {
        close();
        removeQuietly(temporary);
        throw fail(`cannot write ${path}: ${(error as Error).message}`);
      }
      close();
      publish(temporary, path, false, fail, what, ifExists);
      return { mode };
    },
    abort: () => {
      close();
      removeQuietly(temporary);
    },
  };
}

/** "(mode 0600)", or what the mode really is when the filesystem did not keep it. */
export function modeNote(written: WrittenFile): string {
  return written.mode === 0o600
    ? "mode 0600"
    : `mode ${written.mode.toString(8).padStart(4, "0")}: this filesystem does not keep Unix permissions, so other users may read it`;
}

const EXISTS_HINT = "pass --force to replace it";

/**
 * Refuses, before anything else is done, a target writePrivateFile would refuse: a symbolic link,
 * anything but a regular file, or (without `overwrite`) an existing file.
 */
export function checkWriteTarget(path: string, overwrite: boolean, fail: FailWith, what: string, ifExists = EXISTS_HINT): void {
  let existing: Stats;
  try {
    existing = lstatSync(path);
  } catch {
    return;
  }
  if (existing.isSymbolicLink()) {
    throw fail(`${what} ${path} is a symbolic link: refusing to write through it (it may have been planted); remove it, or give the real path`);
  }
  if (!existing.isFile()) throw fail(`${what} ${path} exists and is not a regular file: refusing to replace it`);
  if (!overwrite) throw new InvalidInputError(`${path} already exists; ${ifExists}`);
}

function createTemporary(directory: string, name: string, fail: FailWith): { fd: number; temporary: string } {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
  for (let attempt = 0; ; attempt += 1) {
    const suffix = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(6))).toString("hex");
    const temporary = join(directory, `.${name}.${suffix}.tmp`);
    try {
      return { fd: openSync(temporary, flags, 0o600), temporary };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && attempt < 5) continue;
      throw fail(`cannot write in ${directory}: ${(error as Error).message}`);
    }
  }
}

/** fchmod 0600 (whatever the umask or an old file said), fsync; the mode the file really has. */
function finishPrivate(fd: number): number {
  fchmodSync(fd, 0o600);
  fsyncSync(fd);
  return fstatSync(fd).mode & 0o777;
}

function publish(temporary: string, path: string, overwrite: boolean, fail: FailWith, what: string, ifExists = EXISTS_HINT): void {
  try {
    if (overwrite) {
      // rename() replaces a symbolic link planted meanwhile; it never writes through one.
      renameSync(temporary, path);
    } else {
      linkSync(temporary, path);
      unlinkSync(temporary);
    }
  } catch (error) {
    removeQuietly(temporary);
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new InvalidInputError(`${path} already exists; ${ifExists}`);
    }
    throw fail(`cannot write ${what} ${path}: ${(error as Error).message}`);
  }
  syncDirectory(dirname(path));
}

/** Makes the rename itself durable; best effort (some filesystems cannot fsync a directory). */
function syncDirectory(directory: string): void {
  try {
    const fd = openSync(directory, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not durable across a power loss on such a filesystem; the write itself succeeded.
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Refuses a credential file that someone else could have planted or can change: one owned by
 * another user who is not root, or a symbolic link in a world-writable sticky directory (/tmp,
 * where anyone can create one). Missing files are the caller's business (returns null).
 */
export function checkFileOwner(path: string, fail: FailWith, what: string): Stats | null {
  let link: Stats;
  try {
    link = lstatSync(path);
  } catch {
    return null;
  }
  if (link.isSymbolicLink()) {
    let directory: Stats | null = null;
    try {
      directory = statSync(dirname(path));
    } catch {
      // unreadable directory: the stat below fails the same way
    }
    if (directory !== null && (directory.mode & 0o1002) === 0o1002) {
      throw fail(
        `${what} ${path} is a symbolic link in ${dirname(path)}, a directory anyone can write to: anyone could have planted it, so it is not followed; give the real path`,
      );
    }
  }
  let target: Stats;
  try {
    target = statSync(path);
  } catch {
    return null;
  }
  const me = typeof process.getuid === "function" ? process.getuid() : null;
  if (me !== null && target.uid !== me && target.uid !== 0) {
    throw fail(
      `${what} ${path} is owned by another user (uid ${target.uid}), who can change it: refusing to use it; run pywry-auth as that user, or copy it to a file of your own (mode 0600)`,
    );
  }
  return target;
}

/** The most a secret or key file may hold: a secret is 64 hex digits, a key about as long. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Reads a small credential file (a secret, a key): it must be a regular file (not a FIFO, which
 * would block, nor a device such as /dev/zero, which never ends) of at most `maxBytes`, owned by
 * this user or root. Opened non-blocking and checked on the open descriptor, so it cannot be
 * swapped for something else in between. ENOENT and the like are thrown as they are.
 */
export function readSmallPrivateFile(path: string, fail: FailWith, what: string, maxBytes = MAX_SECRET_FILE_BYTES): string {
  checkFileOwner(path, fail, what);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw fail(notARegularFile(what, path, fileKind(stats)));
    if (stats.size > maxBytes) throw fail(`${what} ${path} is ${stats.size} bytes, more than a ${what} can be (at most ${maxBytes})`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > maxBytes) throw fail(`${what} ${path} is more than ${maxBytes} bytes, more than a ${what} can be`);
    }
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** One wording for a credential path that names something other than a file, whoever notices it. */
export function notARegularFile(what: string, path: string, kind: string): string {
  return `${what} ${path} is ${kind}, not a regular file: give the path of a file holding the ${what.replace(/ file$/, "")}`;
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a named pipe";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  if (stats.isSocket()) return "a socket";
  return "a special file";
}
