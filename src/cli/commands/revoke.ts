/** `revoke`: by token, accessor or session. Deletes the session so pywry stops honouring it at once. */
import { NotFoundError, TokenError } from "../../core/errors.js";
import { UsageError } from "../errors.js";
import { handleFor, sha256Hex } from "../../core/handles.js";
import { decodeToken, signingSecretIndex } from "../../core/token.js";
import type { UserSession } from "../../core/session.js";
import type { AuthStore, Revocation, RevokeResult } from "../../store/types.js";
import type { Context } from "../context.js";
import { secretsIfConfigured } from "../secrets.js";
import { describeStore, storeLocation } from "../settings.js";
import { assertStoreAvailable, storeExists, withStore } from "../store-access.js";
import { confirmDestructive } from "../confirm.js";
import { pasteProblem, readTokenArgument, withPasteHint } from "../input.js";
import { isoTime, whenText, type Output } from "../output.js";
import { defineCommand } from "../command.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("revoke")
      .description("revoke a token: delete its session and record the revocation (idempotent)")
      .argument("[token]", "the token, or - to read it from stdin")
      .option("--accessor <accessor>", "revoke the registry token with this accessor")
      .option("--session <id>", "revoke the session with this id or handle")
      .option("--user <id>", "revoke everything of this user: all sessions, and every token issued until now")
      .option("--reason <text>", "why, kept with the revocation")
      .option("-y, --yes", "do not ask for confirmation (needed without a terminal)")
      .option("--force", "record the revocation even when the store does not know the token or user (and no configured secret signed the token)"),
  examples: [
    "printf '%s\\n' \"$T\" | pywry-auth revoke --reason leaked -",
    "pywry-auth revoke --accessor 8da57535580c77fe",
    "pywry-auth revoke --user dave --yes",
  ],
  fields: ["revoked", "already_revoked", "known", "accessor", "subject", "user_id", "revoked_at", "cutoff_at", "sessions_deleted"],
  action: revoke,
});

interface RevokeOptions {
  accessor?: string;
  session?: string;
  user?: string;
  reason?: string;
  yes?: boolean;
  /** Record a revocation even for a token or user this store does not know. */
  force?: boolean;
}

type RevocationRequest = Omit<Revocation, "revokedAt" | "accessor">;

export async function revoke(context: Context, output: Output, tokenArgument: string | undefined, options: RevokeOptions): Promise<void> {
  const targets = [tokenArgument, options.accessor, options.session, options.user].filter((target) => target !== undefined);
  if (targets.length === 0 && process.stdin.isTTY && process.stdout.isTTY) {
    // At a terminal, `revoke` alone offers a searchable pick of live sessions.
    return revokePicked(context, output, options.reason ?? null, Boolean(options.yes));
  }
  if (targets.length !== 1) {
    throw new UsageError("name exactly one thing to revoke: a token (or - for stdin), --accessor <id>, --session <id> or --user <id>");
  }
  const reason = options.reason ?? null;
  const force = Boolean(options.force);
  if (options.user !== undefined) return revokeUser(context, output, options.user, reason, { yes: Boolean(options.yes), force });
  if (tokenArgument !== undefined) return revokeTokenText(context, output, await readTokenArgument(tokenArgument), reason, force);
  await withStore(context, "update", async (store) => {
    const request =
      options.accessor !== undefined
        ? await requestForAccessor(store, options.accessor, reason)
        : await requestForSession(store, options.session ?? "", reason);
    report(output, await store.revokeToken(request), true);
  });
}

/**
 * A token given as text. One that no configured secret signed and that the store has never seen
 * (no session, no registry entry, no revocation) is most likely a wrong --store or secret, or a
 * mangled paste: recording its hash would change nothing that matters and report a success that
 * is not one. Only --force records it.
 */
async function revokeTokenText(context: Context, output: Output, token: string, reason: string | null, force: boolean): Promise<void> {
  // A malformed token is refused before the store is opened (or created).
  const request = requestForToken(token, reason);
  const secrets = secretsIfConfigured(context);
  const signed = secrets !== null && signingSecretIndex(token, secrets.all) !== null;
  const unknown = () =>
    new NotFoundError(
      withPasteHint(
        `nothing was revoked: ${secrets === null ? "no secret is configured to check this token" : "no configured secret signed this token"}, ` +
          `and the store (${describeStore(storeLocation(context))}) has no session, registry entry or revocation for it; ` +
          "check --store, the secret and the pasted text, or pass --force to record its hash as revoked anyway",
        token,
      ),
    );
  // revoke never creates a store: one that is missing is a typo or the wrong machine (exit 3).
  assertStoreAvailable(context, "update");
  if (!signed && !force && !storeExists(context, "update")) throw unknown();
  await withStore(context, "update", async (store) => {
    const known = signed || (await storeKnowsToken(store, token, request.tokenHash));
    if (!known && !force) throw unknown();
    report(output, await store.revokeToken(request), known);
  });
}

async function storeKnowsToken(store: AuthStore, token: string, tokenHash: string): Promise<boolean> {
  return (
    (await store.findSession(token)) !== null ||
    (await store.findToken({ tokenHash })) !== null ||
    (await store.findRevocation(tokenHash)) !== null
  );
}


async function revokePicked(context: Context, output: Output, reason: string | null, yes: boolean): Promise<void> {
  await withStore(context, "update", async (store) => {
    const sessions = await store.listSessions();
    if (sessions.length === 0) throw new NotFoundError("no live sessions to revoke");
    const rows = pickerRows(sessions, context.clock.now());
    const { search, Separator } = await import("@inquirer/prompts");
    // The header is a separator, which cannot be chosen; its leading space lines it up with the
    // choices, which follow the prompt's two-character cursor column.
    const header = new Separator(` ${rows.header}`);
    const chosen = await search<string>({
      message: "Revoke which session? (type to filter by user, role or handle)",
      source: (term) => {
        const needle = (term ?? "").toLowerCase();
        const matching = rows.choices.filter((choice) => choice.name.toLowerCase().includes(needle));
        return matching.length === 0 ? [] : [header, ...matching];
      },
    });
    const session = sessions.find((candidate) => candidate.sessionId === chosen);
    const roles = session && session.roles.length > 0 ? `roles ${session.roles.join(", ")}` : "no roles";
    await confirmDestructive(`revoke session ${handleFor(chosen)} of user ${JSON.stringify(session?.userId ?? "")} (${roles})`, { yes });
    report(output, await store.revokeToken(await requestForSession(store, chosen, reason)), true);
  });
}

/** The picker's lines: a header and one choice per session, in columns padded to the widest value. */
function pickerRows(sessions: readonly UserSession[], now: number): { header: string; choices: Array<{ value: string; name: string }> } {
  const cells = sessions.map((session) => [handleFor(session.sessionId), session.userId, session.roles.join(",") || "-", whenText(session.expiresAt, now)]);
  const titles = ["HANDLE", "USER", "ROLES", "EXPIRES"];
  const widths = titles.map((title, column) => Math.max(title.length, ...cells.map((row) => (row[column] ?? "").length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ");
  return { header: line(titles), choices: sessions.map((session, index) => ({ value: session.sessionId, name: line(cells[index] ?? []) })) };
}

/**
 * Everything of one user: all sessions go (pywry then rejects the user's bearer tokens, which need
 * a live session), and a cut-off makes every token issued until now fail verification for good.
 */
async function revokeUser(
  context: Context,
  output: Output,
  userId: string,
  reason: string | null,
  options: { yes: boolean; force: boolean },
): Promise<void> {
  if (userId.length === 0) throw new UsageError("--user needs a user id");
  const who = `user ${JSON.stringify(userId)}`;
  assertStoreAvailable(context, "update");
  const exists = storeExists(context, "update");
  const unknown = (prompted: boolean) =>
    new NotFoundError(
      `${who} is unknown to the store (${describeStore(storeLocation(context))}): no sessions, issued tokens or earlier revocation; ` +
        `nothing was revoked${prompted ? "" : "; check the name and --store, or pass --force to record a cut-off for this user anyway"}`,
    );
  if (!exists && !options.force && !interactive()) throw unknown(false);
  // A user the store has never seen is most likely a typo: recording a cut-off for them would
  // report a success that revoked nothing. Only --force, or a "yes" to a question that says so.
  let known = exists;
  if (exists) known = await withStore(context, "read", (store) => storeKnowsUser(store, userId));
  if (known) {
    await confirmDestructive(`revoke every session and token of ${who}`, { yes: options.yes });
  } else if (!options.force) {
    if (!interactive()) throw unknown(false);
    await confirmDestructive(`${who} is unknown to the store: record a cut-off anyway`, {});
  }
  await withStore(context, "update", async (store) => {
    const result = await store.revokeUser(userId, reason);
    const sessions = `${result.sessionsDeleted} session${result.sessionsDeleted === 1 ? "" : "s"} deleted`;
    if (!known) output.warn(`${who} was unknown to the store; recorded a cut-off anyway`);
    output.result(
      `${output.verdict(true, "revoked")} ${who}: ${sessions}; tokens issued up to ${isoTime(result.cutoffAt)} are rejected from now on`,
      { revoked: true, known, user_id: userId, cutoff_at: result.cutoffAt, sessions_deleted: result.sessionsDeleted },
    );
  });
}

function interactive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

async function storeKnowsUser(store: AuthStore, userId: string): Promise<boolean> {
  return (
    (await store.listSessions({ userId, includeExpired: true })).length > 0 ||
    (await store.listTokens({ subject: userId, all: true })).length > 0 ||
    (await store.findUserCutoff(userId)) !== null
  );
}

function requestForToken(token: string, reason: string | null): RevocationRequest {
  const decoded = decodeToken(token);
  if (!decoded.ok) throw new TokenError("ERR_TOKEN_MALFORMED", withPasteHint(`not a pywry token: ${decoded.error.message}`, token));
  // A token cut short (a truncated paste) would be "revoked" while the real one stays valid.
  if (!/^[0-9a-fA-F]{64}$/.test(decoded.signature)) {
    const cause = pasteProblem(token) ?? "was it cut short?";
    throw new TokenError("ERR_TOKEN_MALFORMED", `not a pywry token: its signature must be 64 hex characters (${cause}); nothing was revoked`);
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

function report(output: Output, result: RevokeResult, known: boolean): void {
  const { revocation } = result;
  const who = revocation.subject === null ? "" : ` for ${JSON.stringify(revocation.subject)}`;
  const sessions = `${result.sessionsDeleted} session${result.sessionsDeleted === 1 ? "" : "s"} deleted`;
  const human = result.alreadyRevoked
    ? `already revoked ${revocation.accessor}${who} on ${isoTime(revocation.revokedAt)}; ${sessions}`
    : known
      ? `${output.verdict(true, "revoked")} ${revocation.accessor}${who}; ${sessions}`
      : `recorded the hash of ${revocation.accessor}${who} as revoked (--force): no configured secret signed it and the store did not know it; ${sessions}`;
  output.result(human, {
    revoked: true,
    already_revoked: result.alreadyRevoked,
    known,
    accessor: revocation.accessor,
    subject: revocation.subject,
    revoked_at: revocation.revokedAt,
    sessions_deleted: result.sessionsDeleted,
  });
}
