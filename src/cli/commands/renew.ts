/** `token renew`: a fresh token for the same subject and roles; the old one is revoked with its session. */
import { verifyToken } from "../../auth.js";
import { parseTtl } from "../../core/duration.js";
import { NotFoundError, TokenError } from "../../core/errors.js";
import { UsageError, asUsage } from "../errors.js";
import { handleForHash, sha256Hex } from "../../core/handles.js";
import { mintToken } from "../../core/token.js";
import type { AuthStore, TokenKind } from "../../store/types.js";
import { defineCommand } from "../command.js";
import type { Context } from "../context.js";
import { mintAndRecord, registryRecord, waitPastUserCutoff } from "../mint.js";
import { checkingSecrets, secretsForMinting } from "../secrets.js";
import { defaultRolesSetting, sessionTtlSetting, widgetTtlSetting } from "../settings.js";
import { withStore } from "../store-access.js";
import { readTokenArgument } from "../input.js";
import type { Output } from "../output.js";

export default defineCommand({
  declare: (token, defaults) =>
    token
      .command("renew")
      .description("mint a fresh token for the same subject and roles, move the session to it, revoke the old one")
      .argument("[token]", "the token to renew, or - to read it from stdin")
      .option("--accessor <accessor>", "renew the registry token with this accessor")
      .option("--ttl <duration>", `lifetime of the new token: seconds or 15m, 24h, 7d (default ${defaults.sessionTtl})`),
  examples: ["printf '%s\\n' \"$T\" | pywry-auth token renew --ttl 24h -", "pywry-auth token renew --accessor 8da57535580c77fe"],
  fields: ["token", "user_id", "issued_at", "expires_at", "accessor", "replaced", "session_id", "roles"],
  action: tokenRenew,
});

interface RenewOptions {
  accessor?: string;
  ttl?: string;
}

/** What is known of the token being replaced. */
interface OldToken {
  tokenHash: string;
  subject: string;
  expiresAt: number | null;
  kind: TokenKind;
  roles: string[] | null;
  label: string | null;
}

export async function tokenRenew(context: Context, output: Output, tokenArgument: string | undefined, options: RenewOptions): Promise<void> {
  if ((tokenArgument === undefined) === (options.accessor === undefined)) {
    throw new UsageError("name the token to renew: a token (or - for stdin) or --accessor <id>, not both");
  }
  const ttlText = options.ttl;
  const token = tokenArgument === undefined ? undefined : await readTokenArgument(tokenArgument);
  await withStore(context, "update", async (store) => {
    const old = token !== undefined ? await describeToken(context, store, token) : await describeAccessor(store, options.accessor ?? "", context.clock.now());
    const ttl =
      ttlText !== undefined ? asUsage(parseTtl, ttlText, "--ttl") : (old.kind === "widget" ? widgetTtlSetting(context) : sessionTtlSetting(context)).value;
    const session = await store.findSession(handleForHash(old.tokenHash));
    const roles = session?.roles ?? old.roles ?? defaultRolesSetting(context).value;
    const secret = secretsForMinting(context).all[0] ?? "";
    await waitPastUserCutoff(store, context.clock, old.subject);
    const { minted, recorded: created } = await mintAndRecord(
      store,
      context.clock,
      (at) => mintToken({ subject: old.subject, secret, now: at, expiresAt: at + ttl, subjectLabel: "subject" }),
      (fresh, now) =>
        store.renewToken(
          { tokenHash: old.tokenHash, subject: old.subject, expiresAt: old.expiresAt, reason: "renewed" },
          registryRecord(fresh, old.kind, now, old.label ?? undefined, old.kind === "widget" ? null : roles),
          old.kind === "widget" ? null : { sessionId: fresh.token, userId: fresh.subject, roles, ttl },
        ),
      old.tokenHash,
    );
    output.result(minted.token, {
      token: minted.token,
      user_id: minted.subject,
      issued_at: minted.issuedAt,
      expires_at: minted.expiresAt,
      accessor: handleForHash(sha256Hex(minted.token)),
      replaced: handleForHash(old.tokenHash),
      session_id: created ? minted.token : null,
      roles: created ? roles : null,
    });
  });
}

/** Only a token that would verify now may be renewed: never a forged, revoked or expired one. */
async function describeToken(context: Context, store: AuthStore, token: string): Promise<OldToken> {
  const result = await verifyToken(token, { secrets: (await checkingSecrets(context)).all, store });
  if (!result.valid || result.userId === null) {
    const error = result.error ?? { code: "ERR_TOKEN_MALFORMED" as const, message: "invalid token" };
    throw new TokenError(error.code, `cannot renew: ${error.message} (${error.code})`);
  }
  const tokenHash = sha256Hex(token);
  const record = await store.findToken({ tokenHash });
  return {
    tokenHash,
    subject: result.userId,
    expiresAt: result.expiresAt,
    kind: record?.kind ?? "session",
    roles: record?.roles ?? null,
    label: record?.label ?? null,
  };
}

async function describeAccessor(store: AuthStore, accessor: string, now: number): Promise<OldToken> {
  const record = await store.findToken({ accessor });
  if (!record) throw new NotFoundError(`no token with accessor ${accessor} in the registry`);
  const revokedBy = await store.tokenRevocationStatus({ tokenHash: record.tokenHash, subject: record.subject, issuedAt: record.issuedAt });
  if (revokedBy !== null) throw new TokenError("ERR_TOKEN_REVOKED", `cannot renew: token ${accessor} has been revoked`);
  if (record.expiresAt !== null && record.expiresAt < now) {
    throw new TokenError("ERR_TOKEN_EXPIRED", `cannot renew: token ${accessor} has expired`);
  }
  return record;
}
