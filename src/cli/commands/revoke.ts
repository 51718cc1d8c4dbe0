/** `revoke`: by token, accessor or session. Deletes the session so pywry stops honouring it at once. */
import { InvalidInputError, NotFoundError, TokenError } from "../../core/errors.js";
import { handleFor, sha256Hex } from "../../core/handles.js";
import { decodeToken } from "../../core/token.js";
import type { AuthStore, Revocation, RevokeResult } from "../../store/types.js";
import { assertStoreAvailable, withStore, type Context } from "../context.js";
import { confirmDestructive } from "../confirm.js";
import { readTokenArgument } from "../input.js";
import { isoTime, whenText, type Output } from "../output.js";

interface RevokeOptions {
  accessor?: string;
  session?: string;
  user?: string;
  reason?: string;
  yes?: boolean;
}

type RevocationRequest = Omit<Revocation, "revokedAt" | "accessor">;

export async function revoke(context: Context, output: Output, tokenArgument: string | undefined, options: RevokeOptions): Promise<void> {
  const targets = [tokenArgument, options.accessor, options.session, options.user].filter((target) => target !== undefined);
  if (targets.length === 0 && process.stdin.isTTY && process.stdout.isTTY) {
    // At a terminal, `revoke` alone offers a searchable pick of live sessions.
    return revokePicked(context, output, options.reason ?? null);
  }
  if (targets.length !== 1) {
    throw new InvalidInputError(
      "name exactly one thing to revoke: a token (or - for stdin), --accessor <id>, --session <id> or --user <id>",
      "ERR_USAGE",
    );
  }
  const reason = options.reason ?? null;
  if (options.user !== undefined) return revokeUser(context, output, options.user, reason, Boolean(options.yes));
  const token = tokenArgument === undefined ? undefined : await readTokenArgument(tokenArgument);
  // A malformed token is refused before the store is opened (or created).
  const tokenRequest = token === undefined ? undefined : requestForToken(token, reason);
  await withStore(context, "update", async (store) => {
    const request =
      tokenRequest !== undefined
        ? tokenRequest
        : options.accessor !== undefined
          ? await requestForAccessor(store, options.accessor, reason)
          : await requestForSession(store, options.session ?? "", reason);
    const result = await store.revokeToken(request);
    report(output, result);
  });
}

async function revokePicked(context: Context, output: Output, reason: string | null): Promise<void> {
  await withStore(context, "update", async (store) => {
    const sessions = await store.listSessions();
    if (sessions.length === 0) throw new NotFoundError("no live sessions to revoke");
    const now = Date.now() / 1000;
    const { search } = await import("@inquirer/prompts");
    const chosen = await search<string>({
      message: "Revoke which session? (type to filter by user, role or handle)",
      source: (term) => {
        const needle = (term ?? "").toLowerCase();
        return sessions
          .map((session) => ({
            value: session.sessionId,
            name: `${handleFor(session.sessionId)}  ${session.userId}  [${session.roles.join(",")}]  expires ${whenText(session.expiresAt, now)}`,
          }))
          .filter((choice) => choice.name.toLowerCase().includes(needle));
      },
    });
    report(output, await store.revokeToken(await requestForSession(store, chosen, reason)));
  });
}

/**
 * Everything of one user: all sessions go (pywry then rejects the user's bearer tokens, which need
 * a live session), and a cut-off makes every token issued until now fail verification for good.
 */
async function revokeUser(context: Context, output: Output, userId: string, reason: string | null, yes: boolean): Promise<void> {
  if (userId.length === 0) throw new InvalidInputError("--user needs a user id", "ERR_USAGE");
  assertStoreAvailable(context, "update");
  await confirmDestructive(`revoke every session and token of user ${JSON.stringify(userId)}`, { yes });
  await withStore(context, "update", async (store) => {
    const result = await store.revokeUser(userId, reason);
    const sessions = `${result.sessionsDeleted} session${result.sessionsDeleted === 1 ? "" : "s"} deleted`;
    output.result(
      `${output.verdict(true, "revoked")} user ${JSON.stringify(userId)}: ${sessions}; tokens issued up to ${isoTime(result.cutoffAt)} are rejected from now on`,
      { revoked: true, user_id: userId, cutoff_at: result.cutoffAt, sessions_deleted: result.sessionsDeleted },
    );
  });
}

function requestForToken(token: string, reason: string | null): RevocationRequest {
  const decoded = decodeToken(token);
  if (!decoded.ok) throw new TokenError("ERR_TOKEN_MALFORMED", `not a pywry token: ${decoded.error.message}`);
  // A token cut short (a truncated paste) would be "revoked" while the real one stays valid.
  if (!/^[0-9a-fA-F]{64}$/.test(decoded.signature)) {
    throw new TokenError("ERR_TOKEN_MALFORMED", "not a pywry token: its signature must be 64 hex characters (was it cut short?); nothing was revoked");
  }
  return { tokenHash: sha256Hex(token), subject: decoded.claims.subject, expiresAt: decoded.claims.expiresAt, reason };
}

async function requestForAccessor(store: AuthStore, accessor: string, reason: string | null): Promise<RevocationRequest> {
  const record = await store.findToken({ accessor });
  if (!record) throw new NotFoundError(`no token with accessor ${accessor} in the registry`);
  return { tokenHash: record.tokenHash, subject: record.subject, expiresAt: record.expiresAt, reason };
}

async function requestForSession(store: AuthStore, idOrHandle: string, reason: string | null): Promise<RevocationRequest> {
  const session = await store.findSession(idOrHandle);
  if (!session) throw new NotFoundError("no session with that id or handle");
  const asToken = decodeToken(session.sessionId);
  const expiresAt = asToken.ok ? asToken.claims.expiresAt : session.expiresAt === null ? null : Math.ceil(session.expiresAt);
  return { tokenHash: sha256Hex(session.sessionId), subject: session.userId, expiresAt, reason };
}

function report(output: Output, result: RevokeResult): void {
  const { revocation } = result;
  const who = revocation.subject === null ? "" : ` for ${JSON.stringify(revocation.subject)}`;
  const sessions = `${result.sessionsDeleted} session${result.sessionsDeleted === 1 ? "" : "s"} deleted`;
  const human = result.alreadyRevoked
    ? `already revoked ${revocation.accessor}${who} on ${isoTime(revocation.revokedAt)}; ${sessions}`
    : `${output.verdict(true, "revoked")} ${revocation.accessor}${who}; ${sessions}`;
  output.result(human, {
    revoked: true,
    already_revoked: result.alreadyRevoked,
    accessor: revocation.accessor,
    subject: revocation.subject,
    revoked_at: revocation.revokedAt,
    sessions_deleted: result.sessionsDeleted,
  });
}
