/**
 * `migrate --from <store> --to <store> [--dry-run]`: copies sessions, roles, the token registry,
 * revocations and user cut-offs between stores (SQLite and Redis, either way), for moving a
 * desktop app's sessions to a deployment or back. Records are copied as they are (ids, times,
 * metadata); running it again copies only what changed. Expired sessions and revocations of
 * expired tokens are skipped: they protect nothing any more. The audit log stays where it is; the
 * target records the copy as one `store.import` entry.
 */
import { existsSync } from "node:fs";
import { UsageError } from "../errors.js";
import { isSessionLive } from "../../core/session.js";
import { sqliteFileFormat } from "../../store/sqlite/connection.js";
import { TRANSFER_KINDS } from "../../store/transfer.js";
import type { AuthStore, StoreTransfer, TransferCounts } from "../../store/types.js";
import { confirmDestructive } from "../confirm.js";
import type { Context } from "../context.js";
import { describeStore, storeLocation, type StoreLocation } from "../settings.js";
import { withStore } from "../store-access.js";
import type { Output } from "../output.js";
import { storeSpecProblem } from "../settings-schema.js";
import { defineCommand } from "../command.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("migrate")
      .description("copy sessions, roles, the token registry and revocations from one store to another (SQLite and Redis, either way); idempotent")
      .requiredOption("--from <path|url>", "the store to copy from: a SQLite file or redis://host:port/db")
      .requiredOption("--to <path|url>", "the store to copy to (a SQLite file is created when missing)")
      .option("--from-key-file <path>", "file holding the SQLCipher key of an encrypted --from (default: the configured key)")
      .option("--to-key-file <path>", "file holding the SQLCipher key for --to: a new target is encrypted with it (default: the configured key, if any)")
      .option("--to-plain", "create --to unencrypted even when a SQLCipher key is configured")
      .option("--dry-run", "count what would be copied, write nothing")
      .option("-y, --yes", "do not ask before writing into a store that already exists (needed without a terminal)"),
  examples: [
    "pywry-auth migrate --from ~/.config/pywry/pywry.db --to redis://redis.internal:6379/0 --dry-run",
    "pywry-auth migrate --from ~/.config/pywry/pywry.db --to redis://redis.internal:6379/0",
    "pywry-auth migrate --from plain.db --to encrypted.db --to-key-file ~/.config/pywry-auth/sqlite.key",
    "pywry-auth migrate --from encrypted.db --to plain.db --to-plain",
  ],
  fields: ["from", "to", "dry_run", "counts", "skipped"],
  action: migrate,
});

export interface MigrateOptions {
  from: string;
  to: string;
  /** The SQLCipher key file of an encrypted source (default: the configured key). */
  fromKeyFile?: string;
  /** The SQLCipher key file of the target: a new target is encrypted with it. */
  toKeyFile?: string;
  /** Create the target unencrypted even when a key is configured. */
  toPlain?: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

export async function migrate(context: Context, output: Output, options: MigrateOptions): Promise<void> {
  const from = locate(context, options.from, "--from", { keyFile: options.fromKeyFile });
  const to = locate(context, options.to, "--to", { keyFile: options.toKeyFile, plain: options.toPlain });
  checkKeyOptions(from.location, to.location, options);
  if (sameStore(from.location, to.location)) {
    throw new UsageError(`--from and --to name the same store (${describe(from.location)})`);
  }
  const dryRun = Boolean(options.dryRun);
  // Copying into a store that already exists replaces its rows for the same ids: ask first.
  if (!dryRun && (to.location.kind === "redis" || existsSync(to.location.path))) {
    await confirmDestructive(`copy ${describe(from.location)} into the existing store ${describe(to.location)}`, { yes: options.yes });
  }
  const result = await withStore(from.context, "read", async (source) => {
    const { data, skipped } = await exportRecords(source, context.clock.now());
    const counts = await withTarget(to, dryRun, (target) => target.importRecords(data, { dryRun, source: describe(from.location) }));
    return { counts, skipped, sourceHasRoles: data.roles.size > 0 };
  });
  report(output, from.location, to.location, dryRun, result.counts, result.skipped);
  if (!result.sourceHasRoles) {
    output.warn(`${describe(from.location)} defines no roles, so none were copied; ${describe(to.location)} keeps the roles it has (pywry-auth roles list shows them)`);
  }
}

interface Located {
  location: StoreLocation;
  /** The command's context with --store pointing at this store. */
  context: Context;
}

function locate(context: Context, spec: string, flag: string, key: { keyFile?: string; plain?: boolean }): Located {
  const problem = storeSpecProblem(spec);
  if (problem) throw new UsageError(`${flag}: ${problem}`);
  const options = { ...context.options, store: spec, createPlain: key.plain };
  if (key.keyFile !== undefined) options.sqliteKeyFile = key.keyFile;
  const scoped: Context = { ...context, options };
  return { location: storeLocation(scoped), context: scoped };
}

/** Key options name SQLite files; and an existing target keeps its format, so --to-plain cannot apply to it. */
function checkKeyOptions(from: StoreLocation, to: StoreLocation, options: MigrateOptions): void {
  if (options.toPlain && options.toKeyFile !== undefined) throw new UsageError("--to-plain and --to-key-file contradict each other");
  if (from.kind === "redis" && options.fromKeyFile !== undefined) throw new UsageError("--from-key-file is for an encrypted SQLite source, and --from is Redis");
  if (to.kind === "redis" && (options.toKeyFile !== undefined || options.toPlain)) {
    throw new UsageError(`${options.toPlain ? "--to-plain" : "--to-key-file"} is for a SQLite target, and --to is Redis`);
  }
  if (to.kind === "sqlite" && options.toPlain && sqliteFileFormat(to.path) === "encrypted") {
    throw new UsageError(`${to.path} exists and is encrypted; migrate keeps an existing store's format (--to-plain applies to a new file)`);
  }
}

/** The target: created when it is a missing SQLite file; a dry run never creates or writes anything. */
async function withTarget<T>(target: Located, dryRun: boolean, work: (store: AuthStore) => Promise<T>): Promise<T> {
  if (!dryRun) return withStore(target.context, "create", work);
  if (target.location.kind === "sqlite") {
    const { existsSync } = await import("node:fs");
    if (!existsSync(target.location.path)) {
      // A new SQLite store starts with pywry's default roles and nothing else, as this one does.
      const { MemorySessionStore } = await import("../../store/memory.js");
      return work(new MemorySessionStore());
    }
  }
  return withStore(target.context, "read", work);
}

interface Skipped {
  sessions: number;
  revocations: number;
}

async function exportRecords(source: AuthStore, now: number): Promise<{ data: StoreTransfer; skipped: Skipped }> {
  const sessions = await source.listSessions({ includeExpired: true });
  const revocations = await source.listRevocations();
  const live = sessions.filter((session) => isSessionLive(session, now));
  // A token past its expiry fails verification anyway; its revocation guards nothing.
  const current = revocations.filter((revocation) => revocation.expiresAt === null || revocation.expiresAt >= now);
  return {
    data: {
      roles: await source.listRoles(),
      sessions: live,
      tokens: await source.listTokens({ all: true }),
      revocations: current,
      cutoffs: await source.listUserCutoffs(),
    },
    skipped: { sessions: sessions.length - live.length, revocations: revocations.length - current.length },
  };
}

function report(output: Output, from: StoreLocation, to: StoreLocation, dryRun: boolean, counts: TransferCounts, skipped: Skipped): void {
  const names: Record<(typeof TRANSFER_KINDS)[number], string> = {
    roles: "roles",
    sessions: "sessions",
    tokens: "registry tokens",
    revocations: "revocations",
    cutoffs: "user cut-offs",
  };
  const verb = dryRun ? "would copy" : "copied";
  const lines = [`${dryRun ? "dry run: nothing written. " : ""}${describe(from)} -> ${describe(to)}`];
  for (const kind of TRANSFER_KINDS) {
    const { added, updated, unchanged, skipped: revoked } = counts[kind];
    const extra = kind === "sessions" || kind === "revocations" ? skipped[kind] : 0;
    const skippedText = (extra > 0 ? `, ${extra} skipped (expired)` : "") + (revoked > 0 ? `, ${revoked} skipped (revoked)` : "");
    lines.push(`  ${names[kind]}: ${verb} ${added} new, ${updated} changed, ${unchanged} already there${skippedText}`);
  }
  output.result(lines, { from: describe(from), to: describe(to), dry_run: dryRun, counts, skipped });
}

function sameStore(a: StoreLocation, b: StoreLocation): boolean {
  if (a.kind === "sqlite" && b.kind === "sqlite") return a.path === b.path;
  if (a.kind === "redis" && b.kind === "redis") return normaliseUrl(a.url) === normaliseUrl(b.url) && a.prefix === b.prefix;
  return false;
}

function normaliseUrl(url: string): string {
  try {
    const parsed = new URL(url.replace(/^rediss?:/i, (scheme) => scheme.toLowerCase()));
    return `${parsed.protocol}//${parsed.hostname}:${parsed.port || "6379"}/${parsed.pathname.replace(/^\//, "") || "0"}`;
  } catch {
    return url;
  }
}

function describe(location: StoreLocation): string {
  return location.kind === "sqlite" ? location.path : `${describeStore(location)} (prefix ${location.prefix})`;
}
