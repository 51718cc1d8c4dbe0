/**
 * `audit`: the store's audit log. The log never holds a token, a session id or a secret (the
 * store records handles and accessors), so it can be shown and shipped as it is. `--json` writes
 * NDJSON, one entry per line, for `jq`, log shippers and `tail`-style processing.
 */
import { parseInstant, parseTtl } from "../../core/duration.js";
import { UsageError, asUsage, pagesAfterFlag } from "../errors.js";
import type { AuditEntry, AuditFilter } from "../../store/types.js";
import type { Context } from "../context.js";
import { withStore } from "../store-access.js";
import { parseListFlags, type ListFlags } from "../input.js";
import { isoTime, type Output } from "../output.js";
import { didYouMean } from "../suggest.js";
import { NDJSON_OUTPUT, defineCommand, withListFlags } from "../command.js";

export default defineCommand({
  declare: (program) =>
    withListFlags(
      program
        .command("audit")
        .description("the audit log of changes, oldest first (NDJSON with --json)")
        .option("--since <time>", "only entries since this time: a duration back (1h, 7d) or ISO 8601")
        .option("--action <action>", "only this action, or a group such as session or token")
        .option("--user <id>", "only entries about this user (or role)"),
      "entries",
      "; without --after, the newest ones",
    ),
  examples: ["pywry-auth audit --since 1h", "pywry-auth --json audit --action session --user bob"],
  fields: NDJSON_OUTPUT,
  action: audit,
});

interface AuditOptions extends ListFlags {
  since?: string;
  action?: string;
  user?: string;
}

/** Every action the stores write to the audit log, and the groups they fall in (the part before the dot). */
export const AUDIT_ACTIONS: readonly string[] = [
  "session.create",
  "session.refresh",
  "session.delete",
  "session.purge",
  "session.grant",
  "session.ungrant",
  "token.mint",
  "token.renew",
  "token.revoke",
  "user.revoke",
  "role.set",
  "role.delete",
  "store.import",
];
const AUDIT_GROUPS: readonly string[] = [...new Set(AUDIT_ACTIONS.map((action) => action.split(".")[0] ?? action))];

/** Bare numbers at least this big are Unix times (2001-09-09 onwards), smaller ones durations in seconds. */
const EPOCH_THRESHOLD = 1_000_000_000;
const LOOKS_LIKE_DATE = /^\d{4}-\d{2}-\d{2}/;
const BARE_NUMBER = /^\d+(\.\d+)?$/;

export async function audit(context: Context, output: Output, options: AuditOptions): Promise<void> {
  const request = parseListFlags(options);
  const filter = auditFilter(options, context.clock.now());
  // --limit alone: the newest entries (like tail); after a cursor: the next ones.
  if (request.limit !== undefined && request.after === undefined) filter.limit = request.limit;
  await withStore(context, "read", async (store) => {
    await output.list(pagesAfterFlag(store.auditPages(filter, { after: request.after })), {
      noun: "audit event",
      columns: ["TIME", "ACTION", "SUBJECT", "TARGET", "ACTOR", "DETAIL"],
      cells: (entry) => [isoTime(entry.at), entry.action, entry.subject ?? "-", entry.target ?? "-", entry.actor ?? "-", JSON.stringify(entry.detail)],
      json: (entry, cursor) => entryJson(entry, cursor),
      limit: request.limit,
      jsonLines: request.jsonLines,
      // NDJSON rather than one JSON document: each line stands alone, so a stream can be cut anywhere.
      jsonIsLines: true,
    });
  });
}

function auditFilter(options: AuditOptions, now: number): AuditFilter {
  const filter: AuditFilter = {};
  if (options.since !== undefined) filter.since = parseSince(options.since, now);
  if (options.action !== undefined) {
    const action = options.action.trim();
    if (action.length === 0) throw new UsageError("--action needs an action, e.g. session or token.mint");
    if (!AUDIT_ACTIONS.includes(action) && !AUDIT_GROUPS.includes(action)) {
      throw new UsageError(`unknown --action ${JSON.stringify(action)}${didYouMean(action, [...AUDIT_GROUPS, ...AUDIT_ACTIONS])}: ` +
          `use a group (${AUDIT_GROUPS.join(", ")}) or an action (${AUDIT_ACTIONS.join(", ")})`);
    }
    filter.action = action;
  }
  if (options.user !== undefined) filter.subject = options.user;
  return filter;
}

/**
 * `--since`: an instant (ISO 8601, or Unix seconds when the number is big enough to be one) or a
 * duration back from now ("1h", "7d", "3600").
 */
function parseSince(text: string, now: number): number {
  const trimmed = text.trim();
  if (LOOKS_LIKE_DATE.test(trimmed) || (BARE_NUMBER.test(trimmed) && Number(trimmed) >= EPOCH_THRESHOLD)) {
    return asUsage(parseInstant, trimmed);
  }
  try {
    return now - parseTtl(trimmed);
  } catch {
    throw new UsageError(`invalid --since '${text}': use a duration back from now (1h, 7d) or a time (2026-01-31T12:00:00Z, Unix seconds)`);
  }
}

function entryJson(entry: AuditEntry, cursor: string): Record<string, unknown> {
  return {
    id: entry.id,
    at: entry.at,
    action: entry.action,
    subject: entry.subject,
    target: entry.target,
    actor: entry.actor,
    detail: entry.detail,
    cursor,
  };
}
