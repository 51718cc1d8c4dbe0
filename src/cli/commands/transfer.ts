/**
 * `session export` and `session import`: sessions as NDJSON, one pywry `sessions` row per line
 * (`{"session_id", "user_id", "roles", "created_at", "expires_at", "metadata"}`), streamed both
 * ways. Import writes through the store's importRecords (the same atomic, idempotent, audited
 * step `migrate` uses), one batch of lines per transaction, so a batch is all or nothing and
 * running the same import again resumes it: sessions already there are counted unchanged.
 */
import { createReadStream, createWriteStream, existsSync, type WriteStream } from "node:fs";
import { once } from "node:events";
import { InvalidInputError, PywryAuthError, StoreError } from "../../core/errors.js";
import { EXIT, pagesAfterFlag, UsageError } from "../errors.js";
import { PythonNumber, jsonText, parsePythonJson, type JsonStyle } from "../../core/pyjson.js";
import type { UserSession } from "../../core/session.js";
import type { AuthStore } from "../../store/types.js";
import type { Context } from "../context.js";
import { expandHome } from "../settings.js";
import { assertStoreAvailable, withStore } from "../store-access.js";
import { openPrivateTemporary } from "../../files.js";
import { parseListFlags, type ListFlags } from "../input.js";
import { LineWriter, Progress, lineBatches } from "../lines.js";
import { describeError, stdoutStream, type Output } from "../output.js";
import { NDJSON_OUTPUT, defineCommand, withListFlags } from "../command.js";

export const sessionExportCommand = defineCommand({
  declare: (session) =>
    withListFlags(
      session
        .command("export")
        .description("write every session (expired ones too) as NDJSON, one pywry sessions row per line, streaming; the ids are credentials")
        .option("--user <id>", "only this user's sessions")
        .option("--out <file>", "write to this new file (mode 0600) instead of stdout"),
      "sessions",
    ),
  examples: ["pywry-auth session export --out sessions.ndjson", "pywry-auth --store old.db session export | pywry-auth --store new.db --create session import"],
  fields: NDJSON_OUTPUT,
  action: sessionExport,
});

export const sessionImportCommand = defineCommand({
  declare: (session) =>
    session
      .command("import")
      .description("read sessions as NDJSON (session export's format) and write them in batched transactions; bad lines are reported and skipped; running it again resumes it")
      .argument("[file]", "the NDJSON file, or - (the default) for stdin")
      .option("--batch-size <n>", "lines per transaction, all or nothing (default 5000)")
      .option("--dry-run", "check every line and count what would change, write nothing"),
  examples: ["pywry-auth session import sessions.ndjson", "pywry-auth session import --dry-run < sessions.ndjson"],
  fields: ["lines", "batches", "dry_run", "added", "updated", "unchanged", "rejected", "errors"],
  action: sessionImport,
});

/** The fields of a line, as pywry names its columns. */
const FIELDS = new Set(["session_id", "user_id", "roles", "created_at", "expires_at", "metadata"]);
const DEFAULT_BATCH = 5000;
const MAX_BATCH = 100_000;
/** A session line longer than this is refused without being held in memory. */
const MAX_LINE = 1024 * 1024;
/** At most this many line errors are kept for the --json summary (all are counted and printed). */
const KEPT_ERRORS = 1000;

/**
 * A session as one NDJSON line, in pywry's column names and encodings. Numbers in metadata are
 * written as pywry stored them (Python's JSON: NaN, Infinity, integers of any size, 1.0), so an
 * import restores them exactly; Python's json.loads reads every line.
 */
export function sessionLine(session: UserSession): string {
  return `${jsonText({
    session_id: session.sessionId,
    user_id: session.userId,
    roles: session.roles,
    created_at: session.createdAt,
    expires_at: session.expiresAt,
    metadata: session.metadata,
  }, LINE_STYLE)}\n`;
}

const LINE_STYLE: JsonStyle = { layout: "compact", nonFinite: "python" };

/** Reads one line of the export format; throws InvalidInputError saying what is wrong. */
export function parseSessionLine(line: string): UserSession {
  let value: unknown;
  try {
    value = parsePythonJson(line);
  } catch (error) {
    throw new InvalidInputError(`not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new InvalidInputError("not a JSON object");
  const row = value as Record<string, unknown>;
  for (const key of Object.keys(row)) {
    if (!FIELDS.has(key)) throw new InvalidInputError(`unknown field ${JSON.stringify(key)} (fields: ${[...FIELDS].join(", ")})`);
  }
  const { session_id: sessionId, user_id: userId, roles, metadata = {} } = row;
  // Times are numbers (a time written as 1.0 is read as the number it is).
  const createdAt = plainNumber(row["created_at"]);
  const expiresAt = plainNumber(row["expires_at"] ?? null);
  if (typeof sessionId !== "string" || sessionId.length === 0) throw new InvalidInputError("session_id must be a non-empty string");
  if (typeof userId !== "string" || userId.length === 0) throw new InvalidInputError("user_id must be a non-empty string");
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === "string" && role.length > 0)) {
    throw new InvalidInputError("roles must be a list of non-empty strings");
  }
  if (typeof createdAt !== "number" || !Number.isFinite(createdAt)) throw new InvalidInputError("created_at must be a number (Unix seconds)");
  if (expiresAt !== null && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) {
    throw new InvalidInputError("expires_at must be a number (Unix seconds) or null");
  }
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata) || metadata instanceof PythonNumber) {
    throw new InvalidInputError("metadata must be a JSON object");
  }
  return { sessionId, userId, roles: roles as string[], createdAt, expiresAt: expiresAt as number | null, metadata: metadata as Record<string, unknown> };
}

function plainNumber(value: unknown): unknown {
  return value instanceof PythonNumber ? Number(value.text) : value;
}

interface ExportOptions extends ListFlags {
  user?: string;
  out?: string;
}

export async function sessionExport(context: Context, output: Output, options: ExportOptions): Promise<void> {
  // --json-lines is accepted for symmetry with the other lists: an export is always NDJSON.
  const request = parseListFlags(options);
  const toFile = options.out !== undefined;
  if (!toFile && process.stdout.isTTY) {
    throw new UsageError("session export writes session ids, which are credentials: redirect it to a file (> sessions.ndjson) or use --out <file>");
  }
  const outPath = toFile ? expandHome(options.out!, context.env) : null;
  if (outPath !== null && existsSync(outPath)) throw new UsageError(`${outPath} already exists; choose another --out file`);
  const limit = request.limit ?? Number.POSITIVE_INFINITY;
  let exported = 0;
  let next: string | null = null;
  await withStore(context, "read", async (store) => {
    const pages = pagesAfterFlag(store.sessionPages({ userId: options.user, includeExpired: true }, { after: request.after }))[Symbol.asyncIterator]();
    // The first page is read before the file is made: a bad cursor leaves no file behind.
    let page = await pages.next();
    // Created only once the store opened, so a bad --store leaves no empty file behind; written
    // to a temporary file beside it that takes its name only when complete (see files.ts).
    const file = outPath !== null ? openPrivateTemporary(outPath, (message) => new UsageError(message), "--out file", "choose another --out file") : null;
    const target: NodeJS.WritableStream = file !== null ? createWriteStream("", { fd: file.fd, autoClose: false }) : stdoutStream();
    const writer = new LineWriter(target);
    let complete = false;
    try {
      for (; !page.done; page = await pages.next()) {
        const { rows, cursors } = page.value;
        const take = Math.min(rows.length, limit - exported);
        for (let index = 0; index < take; index += 1) writer.add(sessionLine(rows[index]!));
        exported += take;
        await writer.flush();
        if (exported >= limit) {
          const more = take < rows.length || !(await pages.next()).done;
          if (more) next = cursors[take - 1] ?? null;
          break;
        }
      }
      complete = true;
    } finally {
      await pages.return?.();
      if (file !== null) {
        (target as WriteStream).end();
        await once(target, "finish").catch(() => (complete = false));
        if (complete) file.commit();
        else file.abort();
      }
    }
  });
  const more = next === null ? "" : `; more follow: add --after ${next} (same options) for the next ones`;
  output.notice(`exported ${exported} session${exported === 1 ? "" : "s"}${toFile ? ` to ${options.out}` : ""}${more}`);
}

interface ImportOptions {
  batchSize?: string;
  dryRun?: boolean;
}

interface LineError {
  line: number;
  code: string;
  message: string;
}

export async function sessionImport(context: Context, output: Output, file: string | undefined, options: ImportOptions): Promise<number> {
  const batchSize = parseBatchSize(options.batchSize);
  const fromStdin = file === undefined || file === "-";
  if (fromStdin && process.stdin.isTTY) {
    throw new UsageError("session import reads NDJSON from stdin, but stdin is a terminal: give a file or pipe it in");
  }
  // A store that is missing (and may not be created) is said before any line is read.
  assertStoreAvailable(context, options.dryRun ? "read" : "mint");
  const source = fromStdin ? "stdin" : file;
  const input = fromStdin ? process.stdin : await openInput(expandHome(file, context.env));
  const totals = { added: 0, updated: 0, unchanged: 0, skipped: 0 };
  const errors: LineError[] = [];
  let rejected = 0;
  let lines = 0;
  let committedThrough = 0;
  let batches = 0;
  const progress = new Progress();

  const reject = (line: number, error: unknown): void => {
    rejected += 1;
    const code = error instanceof PywryAuthError ? error.code : describeError(error).code;
    const message = error instanceof Error ? error.message : String(error);
    output.notice(`line ${line}: ${message}`);
    if (errors.length < KEPT_ERRORS) errors.push({ line, code, message });
  };

  try {
    await withStore(context, options.dryRun ? "read" : "mint", async (store) => {
      for await (const batch of lineBatches(input, { batchSize, maxLineLength: MAX_LINE })) {
        const sessions: UserSession[] = [];
        batch.lines.forEach((text, index) => {
          const line = batch.first + index;
          if (text === null) return reject(line, new InvalidInputError(`line is longer than ${MAX_LINE} characters`));
          // Blank lines carry no session (an editor's or a concatenation's): skip them.
          if (text.trim() === "") return;
          try {
            sessions.push(parseSessionLine(text));
          } catch (error) {
            reject(line, error);
          }
        });
        lines = batch.first + batch.lines.length - 1;
        if (sessions.length > 0) {
          const counts = await store.importRecords(sessionsOnly(sessions), { dryRun: options.dryRun, source: `session import (${source})` });
          totals.added += counts.sessions.added;
          totals.updated += counts.sessions.updated;
          totals.unchanged += counts.sessions.unchanged;
          totals.skipped += counts.sessions.skipped;
          batches += 1;
        }
        committedThrough = lines;
        progress.update(`importing: line ${lines}, ${totals.added + totals.updated + totals.unchanged} sessions`);
      }
    });
  } catch (error) {
    progress.done();
    if (error instanceof StoreError && !options.dryRun) {
      throw new StoreError(
        `${error.message}. Lines 1-${committedThrough} were imported (each batch of ${batchSize} lines is all or nothing); ` +
          "run the same import again to finish it: sessions already imported are left as they are",
        { cause: error },
      );
    }
    throw error;
  }
  progress.done();

  const imported = totals.added + totals.updated;
  const verb = options.dryRun ? "would import" : "imported";
  output.result(
    [
      `${verb} ${imported} session${imported === 1 ? "" : "s"} (${totals.added} new, ${totals.updated} updated, ${totals.unchanged} already there) from ${lines} line${lines === 1 ? "" : "s"}` +
        (options.dryRun ? "; dry run: nothing was written" : ""),
      ...(totals.skipped > 0
        ? [`${totals.skipped} session${totals.skipped === 1 ? " was" : "s were"} skipped: revoked (the token was revoked, or its user was cut off after the session was made)`]
        : []),
      ...(rejected > 0 ? [`${rejected} line${rejected === 1 ? " was" : "s were"} rejected (see above)`] : []),
    ],
    { lines, batches, dry_run: Boolean(options.dryRun), added: totals.added, updated: totals.updated, unchanged: totals.unchanged, skipped: totals.skipped, rejected, errors },
  );
  return rejected === 0 ? EXIT.ok : EXIT.no;
}

function sessionsOnly(sessions: UserSession[]): Parameters<AuthStore["importRecords"]>[0] {
  return { roles: new Map(), sessions, tokens: [], revocations: [], cutoffs: [] };
}

function parseBatchSize(text: string | undefined): number {
  if (text === undefined) return DEFAULT_BATCH;
  const size = Number(text);
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH) {
    throw new UsageError(`--batch-size must be a whole number from 1 to ${MAX_BATCH}`);
  }
  return size;
}

async function openInput(path: string): Promise<AsyncIterable<Buffer>> {
  const stream = createReadStream(path);
  try {
    await once(stream, "open");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new UsageError(`cannot read ${path}: ${reason}`);
  }
  return stream;
}
