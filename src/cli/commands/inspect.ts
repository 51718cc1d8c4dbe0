/** `inspect`: what a token says, without needing its secret; its signature checked when a secret is configured. */
import { TokenError } from "../../core/errors.js";
import { handleForHash, sha256Hex } from "../../core/handles.js";
import { decodeToken, signingSecretIndex } from "../../core/token.js";
import type { Revocation, RevocationCause, TokenRecord } from "../../store/types.js";
import { defineCommand } from "../command.js";
import type { Context } from "../context.js";
import { pasteProblem, readTokenArgument, withPasteHint } from "../input.js";
import { isoTime, whenText, type Output } from "../output.js";
import { EXIT } from "../errors.js";
import { secretsIfConfigured, type Secrets } from "../secrets.js";
import { withOptionalStore } from "../store-access.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("inspect")
      .description("decode a token without needing its secret; check the signature when a secret is configured")
      .argument("<token>", "the token, or - to read it from stdin"),
  examples: ["printf '%s\\n' \"$T\" | pywry-auth inspect -"],
  fields: ["subject", "issued_at", "expires_at", "expired", "signature", "signed_with_previous_secret", "accessor", "revoked", "revoked_by", "registry"],
  action: inspect,
});

/** Exit 1 when the signature was checked and is invalid, as `verify` would answer. */
async function inspect(context: Context, output: Output, tokenArgument: string): Promise<number> {
  const token = await readTokenArgument(tokenArgument);
  const decoded = decodeToken(token);
  if (!decoded.ok) throw new TokenError(decoded.error.code, withPasteHint(`cannot decode: ${decoded.error.message}`, token));
  const { claims } = decoded;
  const now = context.clock.now();
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
