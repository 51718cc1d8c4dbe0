/**
 * `migrate --from <store> --to <store> [--dry-run]`: copies sessions, roles, the token registry,
 * revocations and user cut-offs between stores (SQLite and Redis, either way), for moving a
 * desktop app's sessions to a deployment or back. Records are copied as they are (ids, times,
 * metadata); running it again copies only what changed. Expired sessions and revocations of
 * expired tokens are skipped: they protect nothing any more. The audit log stays where it is; the
 * target records the copy as one `store.import` entry.
 */
import { existsSync } from "node:fs";
import { InvalidInputError } from "../../core/errors.js";
import { isSessionLive } from "../../core/session.js";
import { TRANSFER_KINDS } from "../../store/transfer.js";
import type { AuthStore, StoreTransfer, TransferCounts } from "../../store/types.js";
import { confirmDestructive } from "../confirm.js";
import { describeStore, storeLocation, withStore, type Context, type StoreLocation } from "../context.js";
import type { Output } from "../output.js";
import { storeSpecProblem } from "../settings-schema.js";

export interface MigrateOptions {
  from: string;
  to: string;
  dryRun?: boolean;
  yes?: boolean;
}

export async function migrate(context: Context, output: Output, options: MigrateOptions): Promise<void> {
  const from = locate(context, options.from, "--from");
  const to = locate(context, options.to, "--to");
  if (sameStore(from.location, to.location)) {
    throw new InvalidInputError(`--from and --to name the same store (${describe(from.location)})`, "ERR_USAGE");
  }
  const dryRun = Boolean(options.dryRun);
  // Copying into a store that already exists replaces its rows for the same ids: ask first.
  if (!dryRun && (to.location.kind === "redis" || existsSync(to.location.path))) {
    await confirmDestructive(`copy ${describe(from.location)} into the existing store ${describe(to.location)}`, { yes: options.yes });
  }
  const result = await withStore(from.context, "read", async (source) => {
    const { data, skipped } = await exportRecords(source);
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

function locate(context: Context, spec: string, flag: string): Located {
  const problem = storeSpecProblem(spec);
  if (problem) throw new InvalidInputError(`${flag}: ${problem}`, "ERR_USAGE");
  const scoped: Context = { ...context, options: { ...context.options, store: spec } };
  return { location: storeLocation(scoped), context: scoped };
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

async function exportRecords(source: AuthStore): Promise<{ data: StoreTransfer; skipped: Skipped }> {
  const now = Date.now() / 1000;
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
    const { added, updated, unchanged } = counts[kind];
    const extra = kind === "sessions" || kind === "revocations" ? skipped[kind] : 0;
    const skippedText = extra > 0 ? `, ${extra} skipped (expired)` : "";
    lines.push(`  ${names[kind]}: ${verb} ${added} new, ${updated} changed, ${unchanged} already there${skippedText}`);
  }
  output.result(lines, { from: describe(from), to: describe(to), dryRun, counts, skipped });
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
