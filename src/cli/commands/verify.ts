/** `verify`: is this token valid (for this user or widget, at this time)? SQLite is loaded only when a store exists. */
import { verifyToken } from "../../auth.js";
import { asUsage, EXIT, UsageError } from "../errors.js";
import type { TokenValidation } from "../../core/token.js";
import type { Context } from "../context.js";
import { defineCommand } from "../command.js";
import { readTokenArgument, withPasteHint } from "../input.js";
import { checkingSecrets } from "../secrets.js";
import { withOptionalStore } from "../store-access.js";
import { isoTime, whenText, type Output } from "../output.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("verify")
      .description("check a token: exit 0 when valid, 1 when not")
      .argument("[token]", "the token, or - to read it from stdin")
      .option("--widget <id>", "require a widget token for this widget id")
      .option("--user <id>", "require a token for this user id")
      .option("--at <time>", "validate as of this time (ISO 8601 or Unix seconds)")
      .option("--offline", "do not consult the store for revocations")
      .option("--stdin", "verify many tokens, one per line on stdin: one NDJSON result per line on stdout, a summary on stderr; exit 0 only if all are valid"),
  examples: [
    "printf '%s\\n' \"$T\" | pywry-auth verify -",
    "printf '%s\\n' \"$W\" | pywry-auth --json verify --widget chart-1 -",
    "pywry-auth verify --stdin < tokens.txt > results.ndjson",
  ],
  fields: ["valid", "user_id", "issued_at", "expires_at", "signed_with_previous_secret", "error"],
  action: verify,
});

interface VerifyOptions {
  widget?: string;
  user?: string;
  at?: string;
  offline?: boolean;
  /** Many tokens, one per line on stdin, answered in NDJSON (see batch.ts). */
  stdin?: boolean;
}

export async function verify(context: Context, output: Output, tokenArgument: string | undefined, options: VerifyOptions): Promise<number> {
  if (options.widget !== undefined && options.user !== undefined) {
    throw new UsageError("--widget and --user cannot be combined: a token has one subject");
  }
  if (options.stdin) {
    if (tokenArgument !== undefined) throw new UsageError("--stdin reads the tokens from stdin: give no token argument");
    if (output.field !== undefined) throw new UsageError("--field does not apply to --stdin, which writes one JSON object per line");
    const { verifyBatch } = await import("./batch.js");
    const at = options.at === undefined ? undefined : await instant(options.at);
    return verifyBatch(context, output, { widget: options.widget, user: options.user, at, offline: options.offline });
  }
  if (tokenArgument === undefined) {
    throw new UsageError("missing required argument 'token': give a token, - to read one from stdin, or --stdin for one per line");
  }
  const token = await readTokenArgument(tokenArgument);
  const secrets = await checkingSecrets(context);
  const now = options.at === undefined ? context.clock.now() : await instant(options.at);
  const result = await withOptionalStore(context, !options.offline, (store) =>
    verifyToken(token, { secrets: secrets.all, store, now: () => now, subject: options.widget ?? options.user, kind: options.widget === undefined ? "session" : "widget" }),
  );
  const error = result.error === null ? null : { ...result.error, message: withPasteHint(result.error.message, token) };
  output.result(verifyText({ ...result, error }, now, output), {
    valid: result.valid,
    user_id: result.userId,
    issued_at: result.issuedAt,
    expires_at: result.expiresAt,
    signed_with_previous_secret: result.valid ? result.secretIndex !== 0 : null,
    error,
  });
  return result.valid ? EXIT.ok : EXIT.no;
}

/** --at as Unix seconds; the duration parser (and its `ms` dependency) loads only for --at. */
async function instant(text: string): Promise<number> {
  const { parseInstant } = await import("../../core/duration.js");
  return asUsage(parseInstant, text);
}

function verifyText(result: TokenValidation, now: number, output: Output): string {
  if (!result.valid) return `${output.verdict(false, "invalid")}: ${result.error?.message} (${result.error?.code})`;
  const lines = [
    `${output.verdict(true, "valid")}: token for ${JSON.stringify(result.userId)}`,
    `  issued   ${result.issuedAt === null ? "?" : isoTime(result.issuedAt)}`,
    `  expires  ${whenText(result.expiresAt, now)}`,
  ];
  if (result.secretIndex) lines.push(output.style.yellow("  signed with a previous secret: re-issue it before that secret is retired"));
  return lines.join("\n");
}

