/**
 * The `session` group: `session create|list|show|refresh|purge|delete` here, with grant and
 * ungrant (grants.ts), export and import (transfer.ts). Session ids are credentials: `create` prints
 * the new id (and nothing else) on stdout; everything else names sessions by handle and shows ids
 * only with --reveal.
 */
import { randomBytes } from "node:crypto";
import { parseTtl } from "../../core/duration.js";
import { NotFoundError } from "../../core/errors.js";
import { UsageError, asUsage, pagesAfterFlag } from "../errors.js";
import { handleFor } from "../../core/handles.js";
import { jsonText, unreadableReason } from "../../core/pyjson.js";
import { isSessionLive, type UserSession } from "../../core/session.js";
import { assertMintableSubject } from "../../core/token.js";
import type { Context } from "../context.js";
import { defaultRolesSetting, sessionTtlSetting } from "../settings.js";
import { withStore } from "../store-access.js";
import { confirmDestructive } from "../confirm.js";
import { parseListFlags, splitNames, type ListFlags } from "../input.js";
import { checkRolesDefined } from "../known-names.js";
import { filterPages } from "../../store/paging.js";
import type { AuthStore } from "../../store/types.js";
import { isoTime, whenText, type Output } from "../output.js";
import { Option } from "commander";
import { LISTED, defineCommand, defineGroup, withListFlags } from "../command.js";
import { sessionGrantCommand, sessionUngrantCommand } from "./grants.js";
import { sessionExportCommand, sessionImportCommand } from "./transfer.js";

/** The fields of a session's --json. */
const SESSION_FIELDS = ["handle", "session_id", "user_id", "roles", "created_at", "expires_at", "expired", "metadata"];

const sessionCreateCommand = defineCommand({
  declare: (session, defaults) =>
    session
      .command("create")
      .description("create a session with a random id (printed on stdout)")
      .requiredOption("--user <id>", "user id")
      .option("--roles <roles>", "comma-separated roles (default: the configured default roles, pywry's viewer)")
      .addOption(new Option("--ttl <duration>", `lifetime: seconds or 15m, 24h, 7d (default ${defaults.sessionTtl})`).conflicts(["expiry"]))
      .option("--no-expiry", "a session that never expires")
      .option("--metadata <key=value...>", "metadata entries (repeatable)"),
  examples: ["S=$(pywry-auth session create --user bob --roles editor --ttl 8h --metadata team=infra)"],
  fields: ["session_id", "handle", "user_id", "roles", "created_at", "expires_at", "metadata"],
  action: sessionCreate,
});

const sessionListCommand = defineCommand({
  declare: (session) =>
    withListFlags(
      session
        .command("list")
        .description("sessions, by handle (ids are credentials: --reveal shows them), newest first")
        .option("--user <id>", "only this user's sessions")
        .option("--role <role>", "only sessions with this role")
        .option("--expiring-within <duration>", "only sessions that expire within this time (e.g. 1h)")
        .option("--expired", "only expired sessions")
        .option("--all", "include expired sessions")
        .option("--reveal", "show raw session ids"),
      "sessions",
    ),
  examples: [
    "pywry-auth session list --user bob",
    "pywry-auth session list --expiring-within 1h",
    "pywry-auth session list --expired",
    "pywry-auth session list --limit 50            # then: --limit 50 --after <the cursor it prints>",
    "pywry-auth session list --json-lines | jq -r .user_id",
  ],
  fields: [...SESSION_FIELDS, LISTED],
  action: sessionList,
});

const sessionRefreshCommand = defineCommand({
  declare: (session, defaults) =>
    session
      .command("refresh")
      .description("extend a live session (pywry's refresh_session)")
      .argument("<id>", "session id or handle")
      .option("--ttl <duration>", `new lifetime from now (default ${defaults.sessionTtl})`),
  examples: ["pywry-auth session refresh 8da57535580c77fe --ttl 2h"],
  fields: ["handle", "expires_at"],
  action: sessionRefresh,
});

const sessionPurgeCommand = defineCommand({
  declare: (session) =>
    session
      .command("purge")
      .description("delete expired sessions")
      .option("--dry-run", "only show what would be deleted")
      .option("-y, --yes", "do not ask for confirmation (needed without a terminal)"),
  examples: ["pywry-auth session purge --dry-run", "pywry-auth session purge --yes"],
  fields: ["purged", "dry_run", "sessions"],
  action: sessionPurge,
});

const sessionShowCommand = defineCommand({
  declare: (session) =>
    session.command("show").description("one session, by id or handle").argument("<id>", "session id or handle").option("--reveal", "show the raw session id"),
  examples: ["pywry-auth session show 8da57535580c77fe"],
  fields: SESSION_FIELDS,
  action: sessionShow,
});

const sessionDeleteCommand = defineCommand({
  declare: (session) =>
    session.command("delete").description("delete a session, by id or handle (pywry's delete_session)").argument("<id>", "session id or handle"),
  examples: ["pywry-auth session delete 8da57535580c77fe"],
  fields: ["deleted", "handle", "user_id"],
  action: sessionDelete,
});

export default defineGroup({
  declare: (program) => program.command("session").description("sessions in the store"),
  examples: ["pywry-auth session list", "S=$(pywry-auth session create --user bob --roles editor)", "pywry-auth help session purge"],
  commands: [
    sessionCreateCommand,
    sessionListCommand,
    sessionRefreshCommand,
    sessionPurgeCommand,
    sessionGrantCommand,
    sessionUngrantCommand,
    sessionShowCommand,
    sessionDeleteCommand,
    sessionExportCommand,
    sessionImportCommand,
  ],
});

/** pywry inserts this permanent admin session into an empty store; its id is a well-known cookie. */
const PYWRY_LOCAL_SESSION = "local";

/** 32 random bytes: 256 bits, as much as the HMAC key behind a token; 43 base64url characters. */
const SESSION_ID_BYTES = 32;

/**
 * A random session id that no command line takes for an option: base64url may begin with '-'
 * (1 in 64), and `session refresh -x...` would then fail. Such draws are redrawn.
 */
export function newSessionId(): string {
  for (;;) {
    const id = randomBytes(SESSION_ID_BYTES).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

interface SessionCreateOptions {
  user: string;
  roles?: string;
  ttl?: string;
  /** false with --no-expiry. */
  expiry?: boolean;
  metadata?: string[];
}

export async function sessionCreate(context: Context, output: Output, options: SessionCreateOptions): Promise<void> {
  // Everything is checked before the store is opened, so a typo never creates a store file.
  assertMintableSubject(options.user, "user id");
  const roles = options.roles === undefined ? defaultRolesSetting(context).value : splitNames(options.roles, "role");
  if (roles.length === 0) throw new UsageError("--roles needs at least one role, e.g. --roles viewer");
  const ttl = chooseTtl(options.ttl, options.expiry !== false, sessionTtlSetting(context).value);
  const metadata = parseMetadata(options.metadata ?? []);
  if (options.roles !== undefined) await checkRolesDefined(context, output, roles);
  const sessionId = newSessionId();

  const session = await withStore(context, "mint", (store) => store.createSession(sessionId, options.user, roles, ttl, metadata));
  output.result(session.sessionId, {
    session_id: session.sessionId,
    handle: handleFor(session.sessionId),
    user_id: session.userId,
    roles: session.roles,
    created_at: session.createdAt,
    expires_at: session.expiresAt,
    metadata: session.metadata,
  });
}

interface SessionListOptions extends ListFlags {
  user?: string;
  role?: string;
  expiringWithin?: string;
  expired?: boolean;
  all?: boolean;
  reveal?: boolean;
}

export async function sessionList(context: Context, output: Output, options: SessionListOptions): Promise<void> {
  if (options.expired && options.expiringWithin !== undefined) {
    throw new UsageError("--expired and --expiring-within cannot be combined: expired sessions expire within no time");
  }
  const within = options.expiringWithin === undefined ? undefined : asUsage(parseTtl, options.expiringWithin, "--expiring-within");
  const request = parseListFlags(options);
  const reveal = Boolean(options.reveal);
  const now = context.clock.now();
  let warned = false;
  const wanted = (session: UserSession): boolean => {
    if (options.role !== undefined && !session.roles.includes(options.role)) return false;
    if (options.expired && isSessionLive(session, now)) return false;
    // Sessions without an expiry never expire, so they are never "expiring within" anything.
    if (within !== undefined && (!session.expiresAt || session.expiresAt > now + within)) return false;
    if (!warned && session.sessionId === PYWRY_LOCAL_SESSION && session.expiresAt === null) {
      warned = true;
      output.warn(
        `session ${handleFor(PYWRY_LOCAL_SESSION)} is pywry's built-in permanent admin session "local": ` +
          `anyone who sends the cookie value "local" is admin. Delete it unless this is a single-user desktop app.`,
      );
    }
    return true;
  };
  await withStore(context, "read", async (store) => {
    const pages = pagesAfterFlag(store.sessionPages({ userId: options.user, includeExpired: Boolean(options.all || options.expired) }, { after: request.after }));
    await output.list(filterPages(pages, wanted), {
      noun: "session",
      columns: ["HANDLE", "USER", "ROLES", "CREATED", "EXPIRES", ...(reveal ? ["SESSION ID"] : [])],
      cells: (session) => [
        handleFor(session.sessionId),
        session.userId,
        session.roles.join(","),
        isoTime(session.createdAt),
        expiryText(session, now, output),
        ...(reveal ? [session.sessionId] : []),
      ],
      json: (session, cursor) => sessionJson(session, now, reveal, cursor),
      limit: request.limit,
      jsonLines: request.jsonLines,
    });
  });
}

export async function sessionShow(context: Context, output: Output, idOrHandle: string, options: { reveal?: boolean }): Promise<void> {
  const session = await withStore(context, "read", (store) => store.findSession(idOrHandle));
  if (!session) throw new NotFoundError("no session with that id or handle");
  const now = context.clock.now();
  const lines = [
    `handle    ${handleFor(session.sessionId)}`,
    ...(options.reveal ? [`id        ${session.sessionId}`] : []),
    `user      ${JSON.stringify(session.userId)}`,
    `roles     ${session.roles.join(", ") || "(none)"}`,
    `created   ${isoTime(session.createdAt)}`,
    `expires   ${expiryText(session, now, output)}`,
    `metadata  ${metadataText(session.metadata)}`,
  ];
  output.result(lines, sessionJson(session, now, Boolean(options.reveal)));
}

export async function sessionRefresh(context: Context, output: Output, idOrHandle: string, options: { ttl?: string }): Promise<void> {
  const ttl = options.ttl === undefined ? sessionTtlSetting(context).value : asUsage(parseTtl, options.ttl, "--ttl");
  await withStore(context, "update", async (store) => {
    const session = await store.findSession(idOrHandle);
    if (!session) throw new NotFoundError("no session with that id or handle");
    const handle = handleFor(session.sessionId);
    if (!(await store.refreshSession(session.sessionId, ttl))) {
      const now = context.clock.now();
      if (!isSessionLive(session, now)) {
        throw new NotFoundError(
          `session ${handle} expired ${whenText(session.expiresAt, now)}; pywry cannot refresh an expired session: create a new one`,
        );
      }
      // Deleted (or expired) by someone else between the look-up and the refresh.
      throw new NotFoundError(`session ${handle} no longer exists`);
    }
    const refreshed = await store.findSession(session.sessionId);
    const expiresAt = refreshed?.expiresAt ?? null;
    const now = context.clock.now();
    if (session.expiresAt === null) {
      output.warn(`session ${handle} never expired; it now expires ${whenText(expiresAt, now)}`);
    }
    output.result(`refreshed session ${handle} of ${JSON.stringify(session.userId)}: expires ${whenText(expiresAt, now)}`, {
      handle,
      expires_at: expiresAt,
    });
  });
}

export async function sessionPurge(context: Context, output: Output, options: { dryRun?: boolean; yes?: boolean }): Promise<void> {
  const dryRun = Boolean(options.dryRun);
  await withStore(context, dryRun ? "read" : "update", async (store) => {
    if (!dryRun) return purgeInBatches(store, output, options);
    // The store's own dry run: exactly the rows a purge would delete now.
    const expired = await store.purgeExpired({ dryRun: true });
    if (expired.length === 0) {
      output.result("no expired sessions", { purged: 0, dry_run: dryRun, sessions: [] });
      return;
    }
    const rows = expired.map((session) => [handleFor(session.sessionId), session.userId, expiredText(session, context.clock.now())]);
    const columns = ["HANDLE", "USER", "EXPIRED"].map((header) => ({ header }));
    const table = await output.table(columns, rows, "expired session");
    output.result([table, `dry run: would purge ${countText(expired.length)}; nothing was deleted`], purgeJson(0, true, expired));
  });
}

/**
 * The purge itself: counts instead of loading every expired row, deletes in the store's batches
 * (SQLite's are transactions of thousands: a pywry app sharing the file waits for one batch at
 * most), shows progress at a terminal, and lists the purged sessions only for --json.
 */
async function purgeInBatches(store: AuthStore, output: Output, options: { yes?: boolean }): Promise<void> {
  const count = await store.countExpired();
  if (count === 0) {
    output.result("no expired sessions", { purged: 0, dry_run: false, sessions: [] });
    return;
  }
  await confirmDestructive(`delete ${countText(count)}`, { yes: options.yes });
  const { Progress } = await import("../lines.js");
  const progress = new Progress();
  const { purged, sessions } = await store.purgeExpiredInBatches({
    collect: output.json,
    onBatch: (done) => progress.update(`purging expired sessions: ${done} of ${count} (${Math.min(100, Math.floor((done / count) * 100))}%)`),
  });
  progress.done();
  output.result(purged === 0 ? "no expired sessions" : `purged ${countText(purged)}`, purgeJson(purged, false, sessions ?? []));
}

export async function sessionDelete(context: Context, output: Output, idOrHandle: string): Promise<void> {
  await withStore(context, "update", async (store) => {
    const session = await store.findSession(idOrHandle);
    if (!session) throw new NotFoundError("no session with that id or handle");
    await store.deleteSession(session.sessionId);
    const handle = handleFor(session.sessionId);
    output.result(`deleted session ${handle} of ${JSON.stringify(session.userId)}`, { deleted: true, handle, user_id: session.userId });
  });
}

/** Seconds to live, or null for a session that never expires. */
function chooseTtl(ttl: string | undefined, expires: boolean, defaultTtl: number): number | null {
  if (!expires) {
    if (ttl !== undefined) throw new UsageError("--ttl and --no-expiry cannot be combined");
    return null;
  }
  return ttl === undefined ? defaultTtl : asUsage(parseTtl, ttl, "--ttl");
}

/**
 * `key=value` entries as a metadata object. The value is JSON when it parses as JSON (so
 * `permissions={"widget:w1":["read"]}` is pywry's per-resource grant), otherwise the text itself.
 */
function parseMetadata(entries: readonly string[]): Record<string, unknown> {
  const pairs = new Map<string, unknown>();
  for (const entry of entries) {
    const equals = entry.indexOf("=");
    if (equals <= 0) {
      throw new UsageError(`invalid --metadata ${JSON.stringify(entry)}: use key=value with a non-empty key`);
    }
    const key = entry.slice(0, equals);
    if (pairs.has(key)) throw new UsageError(`--metadata key ${JSON.stringify(key)} is given twice`);
    pairs.set(key, jsonOrText(entry.slice(equals + 1)));
  }
  // fromEntries defines own properties, so a key such as "__proto__" stays an ordinary key.
  return Object.fromEntries(pairs);
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function purgeJson(
  purged: number,
  dryRun: boolean,
  sessions: ReadonlyArray<Pick<UserSession, "sessionId" | "userId" | "expiresAt">>,
): Record<string, unknown> {
  return {
    purged,
    dry_run: dryRun,
    sessions: sessions.map((session) => ({ handle: handleFor(session.sessionId), user_id: session.userId, expires_at: session.expiresAt })),
  };
}

function countText(count: number): string {
  return `${count} expired session${count === 1 ? "" : "s"}`;
}

function expiredText(session: UserSession, now: number): string {
  return whenText(session.expiresAt, now);
}

/** Metadata as pywry stored it, or why it could not be read. */
function metadataText(metadata: Record<string, unknown>): string {
  const unreadable = unreadableReason(metadata);
  return unreadable === null ? jsonText(metadata, { layout: "compact", nonFinite: "python" }) : `(unreadable: ${unreadable})`;
}

function sessionJson(session: UserSession, now: number, reveal: boolean, cursor?: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    handle: handleFor(session.sessionId),
    ...(reveal ? { session_id: session.sessionId } : {}),
    user_id: session.userId,
    roles: session.roles,
    created_at: session.createdAt,
    expires_at: session.expiresAt,
    expired: !isSessionLive(session, now),
    metadata: session.metadata,
  };
  // Listings add where the row is, for --after.
  if (cursor !== undefined) json["cursor"] = cursor;
  return json;
}

function expiryText(session: UserSession, now: number, output: Output): string {
  const text = whenText(session.expiresAt, now);
  return isSessionLive(session, now) ? text : `${text} ${output.verdict(false, "EXPIRED")}`;
}
