/** `token create`, `widget-token`, `token list`: minting and the registry. */
import { parseInstant, parseTtl } from "../../core/duration.js";
import { InvalidInputError } from "../../core/errors.js";
import { handleForHash, sha256Hex } from "../../core/handles.js";
import { MAX_EXPIRY, assertMintableSubject, mintToken, mintWidgetToken, type MintedToken } from "../../core/token.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { AuthStore, TokenKind, TokenRecord } from "../../store/types.js";
import type { Context } from "../context.js";
import { secretsForMinting } from "../secrets.js";
import { defaultRolesSetting, sessionTtlSetting, widgetTtlSetting } from "../settings.js";
import { withStore } from "../store-access.js";
import { parseListFlags, splitNames, type ListFlags } from "../input.js";
import { checkRolesDefined } from "../known-names.js";
import { isoTime, whenText, type Output } from "../output.js";

interface TokenCreateOptions {
  user: string;
  roles?: string;
  ttl?: string;
  expiresAt?: string;
  expiry: boolean;
  label?: string;
  session: boolean;
}

export async function tokenCreate(context: Context, output: Output, options: TokenCreateOptions): Promise<void> {
  const roles = splitNames(options.roles, "role");
  const sessionRoles = roles.length > 0 ? roles : defaultRolesSetting(context).value;
  const defaultTtl = sessionTtlSetting(context).value;
  // Check every input before anything is created: bad input must leave no secret and no store behind.
  chooseExpiry(options, Date.now() / 1000, defaultTtl);
  assertMintableSubject(options.user, "user id");
  if (options.session && roles.length > 0) await checkRolesDefined(context, output, roles);
  const secret = secretsForMinting(context).all[0] ?? "";
  const mint = (now: number) =>
    mintToken({ subject: options.user, secret, now, expiresAt: chooseExpiry(options, now, defaultTtl), subjectLabel: "user id" });
  const minted = !options.session
    ? mint(Date.now() / 1000)
    : await withStore(context, "mint", async (store) => {
        await waitPastUserCutoff(store, options.user);
        const { minted: fresh } = await mintAndRecord(store, mint, (token, now) =>
          store.recordIssuedToken(registryRecord(token, "session", now, options.label, sessionRoles), {
            sessionId: token.token,
            userId: token.subject,
            roles: sessionRoles,
            ttl: token.expiresAt === null ? null : token.expiresAt - now,
          }),
        );
        return fresh;
      });
  output.result(minted.token, {
    token: minted.token,
    user_id: minted.subject,
    issued_at: minted.issuedAt,
    expires_at: minted.expiresAt,
    session_id: options.session ? minted.token : null,
    accessor: accessorOf(minted),
    roles: options.session ? sessionRoles : null,
  });
}

/**
 * A user-wide revocation rejects the user's tokens issued up to its cut-off, and tokens carry
 * whole seconds: a token minted in the cut-off's own second would be born revoked. Wait it out.
 */
export async function mintUnused(
  store: AuthStore,
  mint: (now: number) => MintedToken,
  avoidHash?: string,
): Promise<{ minted: MintedToken; now: number }> {
  // Tokens carry whole seconds: the same subject and lifetime minted twice within one second is
  // the same token. Wait for the next second rather than hand out (and register) a duplicate,
  // whether the registry has it or a session has it as its id (a pywry login, which the
  // registry never sees).
  for (;;) {
    const now = Date.now() / 1000;
    const minted = mint(now);
    const tokenHash = sha256Hex(minted.token);
    if (tokenHash !== avoidHash && !(await tokenInUse(store, minted.token))) return { minted, now };
    await sleep(1000 - (Date.now() % 1000) + 5);
  }
}

/**
 * Mints a token nobody holds yet and records it with `record`. Another process minting for the
 * same subject and lifetime in the same second makes the very same token, and may record it
 * between our check and our write: our write then fails (the registry already has it), and we
 * mint again in the next second instead of reporting a store error.
 */
export async function mintAndRecord<T>(
  store: AuthStore,
  mint: (now: number) => MintedToken,
  record: (minted: MintedToken, now: number) => Promise<T>,
  avoidHash?: string,
): Promise<{ minted: MintedToken; now: number; recorded: T }> {
  for (;;) {
    const { minted, now } = await mintUnused(store, mint, avoidHash);
    try {
      return { minted, now, recorded: await record(minted, now) };
    } catch (error) {
      if (!(await inUseAfterAll(store, minted.token))) throw error;
    }
  }
}

/** Whether the registry holds the token or a session (expired ones included) has it as its id. */
async function tokenInUse(store: AuthStore, token: string): Promise<boolean> {
  return (await store.findToken({ tokenHash: sha256Hex(token) })) !== null || (await store.findSession(token)) !== null;
}

async function inUseAfterAll(store: AuthStore, token: string): Promise<boolean> {
  try {
    return await tokenInUse(store, token);
  } catch {
    return false;
  }
}

export async function waitPastUserCutoff(store: AuthStore, userId: string): Promise<void> {
  const cutoff = await store.findUserCutoff(userId);
  if (cutoff === null) return;
  const waitMs = (Math.floor(cutoff) + 1) * 1000 - Date.now();
  if (waitMs > 0 && waitMs <= 1000) await sleep(waitMs + 5);
}

interface WidgetTokenOptions {
  ttl?: string;
  label?: string;
  record: boolean;
}

export async function widgetToken(context: Context, output: Output, widgetId: string, options: WidgetTokenOptions): Promise<void> {
  const ttl = options.ttl === undefined ? widgetTtlSetting(context).value : parseTtl(options.ttl, "--ttl");
  assertMintableSubject(widgetId, "widget id");
  const secret = secretsForMinting(context).all[0] ?? "";
  const mint = (now: number) => mintWidgetToken({ widgetId, secret, ttl, now });
  const minted = !options.record
    ? mint(Date.now() / 1000)
    : await withStore(context, "mint", async (store) => {
        const { minted: fresh } = await mintAndRecord(store, mint, (token, now) =>
          store.recordIssuedToken(registryRecord(token, "widget", now, options.label, null)),
        );
        return fresh;
      });
  output.result(minted.token, {
    token: minted.token,
    widget_id: minted.subject,
    issued_at: minted.issuedAt,
    expires_at: minted.expiresAt,
    accessor: accessorOf(minted),
  });
}

interface TokenListOptions extends ListFlags {
  user?: string;
  kind?: TokenKind;
  all?: boolean;
}

export async function tokenList(context: Context, output: Output, options: TokenListOptions): Promise<void> {
  const request = parseListFlags(options);
  const now = Date.now() / 1000;
  await withStore(context, "read", async (store) => {
    const pages = store.tokenPages({ subject: options.user, kind: options.kind, all: options.all }, { after: request.after });
    await output.list(pages, {
      noun: "token",
      columns: ["ACCESSOR", "KIND", "SUBJECT", "ISSUED", "EXPIRES", "STATUS", "LABEL"],
      cells: (record) => [
        record.accessor,
        record.kind,
        record.subject,
        isoTime(record.issuedAt),
        whenText(record.expiresAt, now),
        tokenStatus(record, now, output),
        record.label ?? "",
      ],
      json: (record, cursor) => tokenJson(record, now, cursor),
      limit: request.limit,
      jsonLines: request.jsonLines,
    });
  });
}

export function tokenJson(record: TokenRecord, now: number, cursor?: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    accessor: record.accessor,
    kind: record.kind,
    subject: record.subject,
    issued_at: record.issuedAt,
    expires_at: record.expiresAt,
    label: record.label,
    roles: record.roles,
    created_at: record.createdAt,
    revoked_at: record.revokedAt,
    status: rawStatus(record, now),
  };
  // Listings add where the row is, for --after.
  if (cursor !== undefined) json["cursor"] = cursor;
  return json;
}

function chooseExpiry(options: TokenCreateOptions, now: number, defaultTtl: number): number | null {
  if (!options.expiry) return null;
  if (options.expiresAt !== undefined) {
    const at = parseInstant(options.expiresAt);
    if (at <= now) throw new InvalidInputError(`--expires-at ${options.expiresAt} is in the past`, "ERR_USAGE");
    // Checked here too, before the store is opened (or created), not only when minting.
    if (Math.trunc(at) > MAX_EXPIRY) throw new InvalidInputError("expiry is after the year 9999: use no expiry instead");
    return at;
  }
  const ttl = options.ttl === undefined ? defaultTtl : parseTtl(options.ttl, "--ttl");
  return now + ttl;
}

export function registryRecord(
  minted: MintedToken,
  kind: TokenKind,
  now: number,
  label: string | undefined,
  roles: string[] | null,
): TokenRecord {
  const tokenHash = sha256Hex(minted.token);
  return {
    accessor: handleForHash(tokenHash),
    tokenHash,
    kind,
    subject: minted.subject,
    issuedAt: minted.issuedAt,
    expiresAt: minted.expiresAt,
    label: label ?? null,
    roles,
    createdAt: now,
    revokedAt: null,
  };
}

function accessorOf(minted: MintedToken): string {
  return handleForHash(sha256Hex(minted.token));
}

function rawStatus(record: TokenRecord, now: number): "revoked" | "expired" | "active" {
  if (record.revokedAt !== null) return "revoked";
  if (record.expiresAt !== null && record.expiresAt < now) return "expired";
  return "active";
}

function tokenStatus(record: TokenRecord, now: number, output: Output): string {
  const status = rawStatus(record, now);
  return status === "active" ? output.verdict(true, status) : output.verdict(false, status);
}
