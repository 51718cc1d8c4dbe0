/** Reading operator input: tokens from argv or stdin, lists, times. */
import { UsageError } from "./errors.js";
import { MAX_TOKEN_LENGTH } from "../core/token.js";

/** A token argument; "-" reads one token from stdin (so it stays out of argv and shell history). */
export async function readTokenArgument(argument: string): Promise<string> {
  if (argument !== "-") return argument;
  const text = await readStdin(MAX_TOKEN_LENGTH * 2);
  // Only line endings are stripped: a leading space is part of a (different, invalid) token.
  const token = text.replace(/[\r\n]+$/, "");
  if (token.length === 0) throw new UsageError("no token on stdin");
  if (/[\r\n]/.test(token)) throw new UsageError("expected one token on stdin, found several lines");
  return token;
}

/**
 * What is likely wrong with a token that failed, when the paste brought something along: a
 * "Bearer " prefix, quotes, or whitespace. The verdict stays strict (such text is not the token);
 * this only names the cause, which "invalid signature" would hide.
 */
export function pasteProblem(token: string): string | null {
  if (/^bearer\s/i.test(token.trim())) return 'it starts with "Bearer ": give the token alone, without the Authorization header\'s scheme';
  const inner = token.trim();
  if (inner.length >= 2 && /^(["'`]).*\1$/s.test(inner)) return "it is wrapped in quotes: give the token without them";
  if (inner !== token) return "it has whitespace around it (from the paste?): give the token alone";
  if (/\s/.test(token)) return "it contains whitespace (was it wrapped across lines?): give the token on one line";
  return null;
}

/** `message`, followed by the likely cause when the token looks mangled by a paste. */
export function withPasteHint(message: string, token: string): string {
  const problem = pasteProblem(token);
  return problem === null ? message : `${message}; likely cause: ${problem}`;
}

/** Comma-separated role or permission names, validated and de-duplicated. */
export function splitNames(text: string | undefined, what: string): string[] {
  const names = (text ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  return validateNames(names, what);
}

/** Role and permission names: non-empty, no whitespace or control characters. De-duplicated. */
export function validateNames(names: readonly string[], what: string): string[] {
  for (const name of names) {
    if (name.length === 0 || /[\s\p{Cc}]/u.test(name)) {
      throw new UsageError(`invalid ${what} ${JSON.stringify(name)}: names must be non-empty, without whitespace or control characters`);
    }
  }
  return [...new Set(names)];
}

/** The paging flags every list command takes. */
export interface ListFlags {
  limit?: string;
  after?: string;
  jsonLines?: boolean;
}

export interface ListRequest {
  limit?: number;
  after?: string;
  jsonLines: boolean;
}

/** --limit, --after and --json-lines, checked before the store is opened. */
export function parseListFlags(flags: ListFlags): ListRequest {
  const request: ListRequest = { jsonLines: Boolean(flags.jsonLines) };
  if (flags.limit !== undefined) request.limit = parseLimit(flags.limit);
  if (flags.after !== undefined) {
    // The store checks the cursor's shape; the text is never echoed (it may be a pasted secret).
    if (flags.after.trim() === "" || flags.after !== flags.after.trim()) {
      throw new UsageError("invalid --after cursor: use the cursor a previous page printed");
    }
    request.after = flags.after;
  }
  return request;
}

export function parseLimit(text: string): number {
  const trimmed = text.trim();
  const limit = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(limit) || limit <= 0) {
    throw new UsageError(`invalid --limit '${text}': use a positive whole number`);
  }
  return limit;
}

/** A resource as pywry keys it, `type:id` (the id may itself contain ':'). */
export function parseResource(text: string): { type: string; id: string; key: string } {
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) {
    throw new UsageError(`invalid resource ${JSON.stringify(text)}: use type:id, e.g. widget:w1`);
  }
  return { type: text.slice(0, colon), id: text.slice(colon + 1), key: text };
}

async function readStdin(limit: number): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("'-' reads the token from stdin, but stdin is a terminal");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new UsageError("stdin is too large to hold a token");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
