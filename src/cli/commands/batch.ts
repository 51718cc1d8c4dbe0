/**
 * `verify --stdin`: many tokens, one per line, each answered by one NDJSON line on stdout, in
 * input order, streaming (a batch of lines is read only after the previous batch's results were
 * written). With a store, each batch's revocations are checked in one read transaction.
 */
import { revokedResult, wrongKindResult } from "../../auth.js";
import { EXIT, UsageError } from "../errors.js";
import { sha256Hex } from "../../core/handles.js";
import { MAX_TOKEN_LENGTH, validateToken, validateTokenFor, type TokenFailure, type TokenValidation } from "../../core/token.js";
import type { AuthStore, TokenKind } from "../../store/types.js";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import type { Context } from "../context.js";
import { configuredSecrets } from "../secrets.js";
import { storeExists, withStore } from "../store-access.js";
import { LineWriter, lineBatches } from "../lines.js";
import { stdoutStream, type Output } from "../output.js";

export interface BatchVerifyOptions {
  widget?: string;
  user?: string;
  /** Unix seconds to validate at; the clock (read once per batch) when absent. */
  at?: number;
  offline?: boolean;
}

/** Lines per batch: big enough to amortise the store's read transaction, small enough to stream. */
const BATCH_LINES = 1024;

type RevocationLookup = AuthStore["tokenRevocationStatuses"];
type KindLookup = AuthStore["registryKinds"];

export async function verifyBatch(
  context: Context,
  output: Output,
  options: BatchVerifyOptions,
  input: AsyncIterable<Buffer | string> & { isTTY?: boolean } = process.stdin,
  stdout: NodeJS.WritableStream = stdoutStream(),
): Promise<number> {
  if (input.isTTY) throw new UsageError("--stdin reads tokens from stdin, but stdin is a terminal: pipe them in, one per line");
  const secrets = configuredSecrets(context).all;
  const subject = options.widget ?? options.user;
  const started = performance.now();
  const tally = new Tally();

  const writer = new LineWriter(stdout);
  const youngGeneration = new YoungGenerationCap();
  const run = async (store: AuthStore | null): Promise<void> => {
    const lookup: RevocationLookup | null = store === null ? null : (tokens) => store.tokenRevocationStatuses(tokens);
    const kinds: KindLookup | null = store === null ? null : (tokenHashes) => store.registryKinds(tokenHashes);
    // As `verify` and the HTTP middleware decide: a token the registry recorded as the other kind fails.
    const expected: TokenKind = options.widget === undefined ? "session" : "widget";
    for await (const { first, lines } of lineBatches(input, { batchSize: BATCH_LINES, maxLineLength: MAX_TOKEN_LENGTH })) {
      const now = options.at ?? context.clock.now();
      const results: TokenValidation[] = new Array(lines.length);
      for (let index = 0; index < lines.length; index += 1) {
        const line = lines[index]!;
        results[index] =
          line === null ? TOO_LONG : subject === undefined ? validateToken(line, secrets, now) : validateTokenFor(line, subject, secrets, now);
      }
      if (lookup !== null) await applyRevocations(lookup, lines, results);
      if (kinds !== null) await applyKinds(kinds, expected, lines, results);
      for (let index = 0; index < results.length; index += 1) {
        const result = results[index]!;
        tally.add(result);
        writer.add(resultLine(first + index, result));
      }
      await writer.flush();
      youngGeneration.check();
    }
  };

  if (options.offline || !storeExists(context)) await run(null);
  else await withStore(context, "read", run);

  output.notice(tally.summary((performance.now() - started) / 1000));
  return tally.invalid === 0 ? EXIT.ok : EXIT.no;
}

/**
 * Keeps V8's young generation at YOUNG_GENERATION_CAP bytes: a running process cannot lower V8's
 * limit (2 x 16 MiB, a third of its memory here), but it can stop the doubling. The measurements
 * behind the cap and its size are in docs/performance.md ("3. Batch").
 */
class YoungGenerationCap {
  private capped = false;

  check(): void {
    if (this.capped) return;
    const young = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
    if (young === undefined || young.space_size < YOUNG_GENERATION_CAP) return;
    setFlagsFromString("--semi-space-growth-factor=1");
    this.capped = true;
  }
}

const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

async function applyKinds(lookup: KindLookup, expected: TokenKind, lines: ReadonlyArray<string | null>, results: TokenValidation[]): Promise<void> {
  const positions: number[] = [];
  const hashes: string[] = [];
  for (let index = 0; index < results.length; index += 1) {
    if (!results[index]!.valid) continue;
    positions.push(index);
    hashes.push(sha256Hex(lines[index]!));
  }
  if (hashes.length === 0) return;
  const kinds = await lookup(hashes);
  for (let slot = 0; slot < positions.length; slot += 1) {
    const kind = kinds[slot];
    if (kind && kind !== expected) results[positions[slot]!] = wrongKindResult(results[positions[slot]!]!, kind);
  }
}

async function applyRevocations(lookup: RevocationLookup, lines: ReadonlyArray<string | null>, results: TokenValidation[]): Promise<void> {
  const positions: number[] = [];
  const queries: Array<{ tokenHash: string; subject: string; issuedAt: number }> = [];
  for (let index = 0; index < results.length; index += 1) {
    const result = results[index]!;
    if (!result.valid) continue;
    positions.push(index);
    queries.push({ tokenHash: sha256Hex(lines[index]!), subject: result.userId ?? "", issuedAt: result.issuedAt ?? 0 });
  }
  if (queries.length === 0) return;
  const causes = await lookup(queries);
  for (let slot = 0; slot < positions.length; slot += 1) {
    const cause = causes[slot];
    if (cause) results[positions[slot]!] = revokedResult(results[positions[slot]!]!, cause);
  }
}

const TOO_LONG: TokenValidation = {
  valid: false,
  userId: null,
  issuedAt: null,
  expiresAt: null,
  secretIndex: null,
  error: { code: "ERR_TOKEN_MALFORMED", message: `token is longer than ${MAX_TOKEN_LENGTH} characters` },
};

// Error objects repeat (a handful of codes and messages): serialise each once.
const errorJson = new Map<string, string>();

function failureJson(error: TokenFailure): string {
  const key = `${error.code}\u0000${error.message}`;
  let json = errorJson.get(key);
  if (json === undefined) {
    json = JSON.stringify({ code: error.code, message: error.message });
    if (errorJson.size < 1000) errorJson.set(key, json);
  }
  return json;
}

/** One NDJSON line: `verify --json`'s fields, plus the input line number. */
function resultLine(line: number, result: TokenValidation): string {
  if (result.valid) {
    return `{"line":${line},"valid":true,"user_id":${JSON.stringify(result.userId)},"issued_at":${result.issuedAt},"expires_at":${result.expiresAt},"signed_with_previous_secret":${result.secretIndex !== 0},"error":null}\n`;
  }
  return `{"line":${line},"valid":false,"user_id":null,"issued_at":${result.issuedAt},"expires_at":${result.expiresAt},"signed_with_previous_secret":null,"error":${result.error === null ? "null" : failureJson(result.error)}}\n`;
}

/** Counts for the summary line on stderr. */
class Tally {
  total = 0;
  invalid = 0;
  private readonly byCode = new Map<string, number>();

  add(result: TokenValidation): void {
    this.total += 1;
    if (result.valid) return;
    this.invalid += 1;
    const code = result.error?.code ?? "ERR_TOKEN_MALFORMED";
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }

  summary(seconds: number): string {
    const codes = [...this.byCode].sort(([a], [b]) => a.localeCompare(b)).map(([code, count]) => `${code} ${count}`);
    const rate = seconds > 0 ? ` (${Math.round(this.total / seconds)} tokens/s)` : "";
    return (
      `verified ${this.total} token${this.total === 1 ? "" : "s"}: ${this.total - this.invalid} valid, ${this.invalid} invalid` +
      `${codes.length > 0 ? ` (${codes.join(", ")})` : ""} in ${seconds.toFixed(2)} s${rate}`
    );
  }
}
