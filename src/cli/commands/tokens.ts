/** `token create`, `token list`, and the `token` group (with `token renew`, renew.ts): session tokens. */
import { Option } from "commander";
import { parseInstant, parseTtl } from "../../core/duration.js";
import { InvalidInputError } from "../../core/errors.js";
import { UsageError, asUsage, pagesAfterFlag } from "../errors.js";
import { MAX_EXPIRY, assertMintableSubject, mintToken } from "../../core/token.js";
import type { TokenKind, TokenRecord } from "../../store/types.js";
import { LISTED, defineCommand, defineGroup, withListFlags } from "../command.js";
import type { Context } from "../context.js";
import { parseListFlags, splitNames, type ListFlags } from "../input.js";
import { checkRolesDefined } from "../known-names.js";
import { accessorOf, mintAndRecord, registryRecord, waitPastUserCutoff } from "../mint.js";
import { isoTime, whenText, type Output } from "../output.js";
import { secretsForMinting } from "../secrets.js";
import { defaultRolesSetting, sessionTtlSetting } from "../settings.js";
import { withStore } from "../store-access.js";
import tokenRenewCommand from "./renew.js";

const tokenCreateCommand = defineCommand({
  declare: (token, defaults) =>
    token
      .command("create")
      .description("mint a session token and create its session the way pywry's login does")
      .requiredOption("--user <id>", "user id the token is for")
      .option("--roles <roles>", "comma-separated roles for the session (default: the configured default roles, pywry's viewer)")
      .addOption(new Option("--ttl <duration>", `lifetime: seconds or 15m, 24h, 7d (default ${defaults.sessionTtl})`).conflicts(["expiresAt", "expiry"]))
      .addOption(new Option("--expires-at <time>", "expiry as ISO 8601 or Unix seconds").conflicts(["expiry"]))
      .option("--no-expiry", "a token that never expires")
      .option("--label <text>", "a note kept in the registry")
      .option("--no-session", "only mint the token: no session, no registry entry, no store"),
  examples: [
    "T=$(pywry-auth token create --user alice --roles editor --ttl 8h)",
    "pywry-auth --json token create --user ci-bot --no-session --ttl 15m",
  ],
  fields: ["token", "user_id", "issued_at", "expires_at", "session_id", "accessor", "roles"],
  action: tokenCreate,
});

const tokenListCommand = defineCommand({
  declare: (token) =>
    withListFlags(
      token
        .command("list")
        .description("issued tokens from the registry, by accessor (never the token itself), newest first")
        .option("--user <id>", "only tokens for this subject")
        .addOption(new Option("--kind <kind>", "only this kind").choices(["session", "widget"]))
        .option("--all", "include revoked and expired tokens"),
      "tokens",
    ),
  examples: ["pywry-auth token list --user alice --all", "pywry-auth token list --kind widget --field accessor"],
  fields: ["accessor", "kind", "subject", "issued_at", "expires_at", "label", "roles", "created_at", "revoked_at", "status", LISTED],
  action: tokenList,
});

export default defineGroup({
  declare: (program) => program.command("token").description("session tokens: mint and list"),
  examples: ["T=$(pywry-auth token create --user alice)", "pywry-auth token list --user alice", "pywry-auth help token create"],
  commands: [tokenCreateCommand, tokenRenewCommand, tokenListCommand],
});

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
  chooseExpiry(options, context.clock.now(), defaultTtl);
  assertMintableSubject(options.user, "user id");
  if (options.session && roles.length > 0) await checkRolesDefined(context, output, roles);
  const secret = secretsForMinting(context).all[0] ?? "";
  const mint = (now: number) =>
    mintToken({ subject: options.user, secret, now, expiresAt: chooseExpiry(options, now, defaultTtl), subjectLabel: "user id" });
  const minted = !options.session
    ? mint(context.clock.now())
    : await withStore(context, "mint", async (store) => {
        await waitPastUserCutoff(store, context.clock, options.user);
        const { minted: fresh } = await mintAndRecord(store, context.clock, mint, (token, now) =>
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

interface TokenListOptions extends ListFlags {
  user?: string;
  kind?: TokenKind;
  all?: boolean;
}

export async function tokenList(context: Context, output: Output, options: TokenListOptions): Promise<void> {
  const request = parseListFlags(options);
  const now = context.clock.now();
  await withStore(context, "read", async (store) => {
    const pages = pagesAfterFlag(store.tokenPages({ subject: options.user, kind: options.kind, all: options.all }, { after: request.after }));
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
    const at = asUsage(parseInstant, options.expiresAt);
    if (at <= now) throw new UsageError(`--expires-at ${options.expiresAt} is in the past`);
    // Checked here too, before the store is opened (or created), not only when minting.
    if (Math.trunc(at) > MAX_EXPIRY) throw new InvalidInputError("expiry is after the year 9999: use no expiry instead");
    return at;
  }
  const ttl = options.ttl === undefined ? defaultTtl : asUsage(parseTtl, options.ttl, "--ttl");
  return now + ttl;
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
