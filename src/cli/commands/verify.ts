/** `verify` and `inspect`: the token-only commands. SQLite is loaded only when a store exists. */
import { verifyToken } from "../../auth.js";
import { InvalidInputError, TokenError } from "../../core/errors.js";
import { handleForHash, sha256Hex } from "../../core/handles.js";
import { decodeToken, signingSecretIndex, type TokenValidation } from "../../core/token.js";
import type { AuthStore, Revocation, RevocationCause, TokenRecord } from "../../store/types.js";
import type { Context } from "../context.js";
import { checkingSecrets, secretsIfConfigured, type Secrets } from "../secrets.js";
import { withStore, storeExists } from "../store-access.js";
import { pasteProblem, readTokenArgument, withPasteHint } from "../input.js";
import { EXIT, isoTime, whenText, type Output } from "../output.js";

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
    throw new InvalidInputError("--widget and --user cannot be combined: a token has one subject", "ERR_USAGE");
  }
  if (options.stdin) {
    if (tokenArgument !== undefined) throw new InvalidInputError("--stdin reads the tokens from stdin: give no token argument", "ERR_USAGE");
    if (output.field !== undefined) throw new InvalidInputError("--field does not apply to --stdin, which writes one JSON object per line", "ERR_USAGE");
    const { verifyBatch } = await import("./batch.js");
    const at = options.at === undefined ? undefined : await instant(options.at);
    return verifyBatch(context, output, { widget: options.widget, user: options.user, at, offline: options.offline });
  }
  if (tokenArgument === undefined) {
    throw new InvalidInputError("missing required argument 'token': give a token, - to read one from stdin, or --stdin for one per line", "ERR_USAGE");
  }
  const token = await readTokenArgument(tokenArgument);
  const secrets = await checkingSecrets(context);
  const now = options.at === undefined ? Date.now() / 1000 : await instant(options.at);
  const result = await withOptionalStore(context, !options.offline, (store) =>
    verifyToken(token, { secrets: secrets.all, store, now, subject: options.widget ?? options.user, kind: options.widget === undefined ? "session" : "widget" }),
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

/** Exit 1 when the signature was checked and is invalid, as `verify` would answer. */
export async function inspect(context: Context, output: Output, tokenArgument: string): Promise<number> {
  const token = await readTokenArgument(tokenArgument);
  const decoded = decodeToken(token);
  if (!decoded.ok) throw new TokenError(decoded.error.code, withPasteHint(`cannot decode: ${decoded.error.message}`, token));
  const { claims } = decoded;
  const now = Date.now() / 1000;
  const secrets = secretsIfConfigured(context);
  const signerIndex = secrets ? signingSecretIndex(token, secrets.all) : null;
  const signature = !secrets ? "unchecked" : signerIndex === null ? "invalid" : "valid";
  const tokenHash = sha256Hex(token);
  const { record, revocation, revokedBy } = await withOptionalStore(context, true, async (store) => ({
    record: store ? await store.findToken({ tokenHash }) : null,
    revocation: store ? await store.findRevocation(tokenHash) : null,
    revokedBy: store ? await store.tokenRevocationStatus({ tokenHash, subject: claims.subject, issuedAt: claims.issuedAt }) : null,
  }));
  const expired = claims.expiresAt !== null && claims.expiresAt < now;
  output.result(
    inspectText({ claims, now, signature, secrets, signerIndex, record, revocation, revokedBy, expired, output }),
    {
      subject: claims.subject,
      issued_at: claims.issuedAt,
      expires_at: claims.expiresAt,
      expired,
      signature,
      signed_with_previous_secret: signerIndex === null ? null : signerIndex !== 0,
      accessor: handleForHash(tokenHash),
      revoked: revokedBy !== null,
      revoked_by: revokedBy,
      registry: record && {
        accessor: record.accessor,
        kind: record.kind,
        label: record.label,
        roles: record.roles,
        created_at: record.createdAt,
        revoked_at: record.revokedAt,
      },
    },
  );
  if (signature !== "invalid") return EXIT.ok;
  const hint = pasteProblem(token);
  if (hint !== null) output.notice(`likely cause of the invalid signature: ${hint}`);
  return EXIT.no;
}

/** --at as Unix seconds; the duration parser (and its `ms` dependency) loads only for --at. */
async function instant(text: string): Promise<number> {
  const { parseInstant } = await import("../../core/duration.js");
  return parseInstant(text);
}

/** Runs `work` with the store when one exists (and is wanted), else with null. */
async function withOptionalStore<T>(context: Context, wanted: boolean, work: (store: AuthStore | null) => Promise<T>): Promise<T> {
  if (!wanted || !storeExists(context)) return work(null);
  return withStore(context, "read", work);
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

interface InspectView {
  claims: { subject: string; issuedAt: number; expiresAt: number | null };
  now: number;
  signature: "valid" | "invalid" | "unchecked";
  secrets: Secrets | null;
  signerIndex: number | null;
  record: TokenRecord | null;
  revocation: Revocation | null;
  revokedBy: RevocationCause | null;
  expired: boolean;
  output: Output;
}

function inspectText(view: InspectView): string[] {
  const { claims, now, output } = view;
  const signatureText = {
    valid: output.verdict(true, view.signerIndex ? "valid (signed with a previous secret)" : "valid"),
    invalid: output.verdict(false, `INVALID for the secret from ${view.secrets?.source}`),
    unchecked: output.style.yellow("not checked (no secret configured)"),
  }[view.signature];
  const lines = [
    `subject    ${JSON.stringify(claims.subject)}`,
    `issued     ${isoTime(claims.issuedAt)}`,
    `expires    ${whenText(claims.expiresAt, now)}${view.expired ? ` ${output.verdict(false, "EXPIRED")}` : ""}`,
    `signature  ${signatureText}`,
  ];
  if (view.revocation) lines.push(`revoked    ${output.verdict(false, `yes, ${isoTime(view.revocation.revokedAt)}`)}`);
  else if (view.revokedBy === "user") lines.push(`revoked    ${output.verdict(false, "yes, by a user-wide revocation")}`);
  if (view.record) {
    lines.push(`accessor   ${view.record.accessor} (${view.record.kind} token${view.record.label ? `, label ${JSON.stringify(view.record.label)}` : ""})`);
  } else {
    lines.push(`registry   ${output.style.dim("not in the registry")}`);
  }
  return lines;
}
