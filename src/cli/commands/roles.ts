/**
 * `roles list|show|set|grant|revoke|delete`: the role_permissions table pywry's check_permission
 * enforces. Changes go through the store, which audits each one in the same transaction.
 */
import { NotFoundError } from "../../core/errors.js";
import { UsageError, pagesAfterFlag } from "../errors.js";
import { DEFAULT_ROLE_PERMISSIONS } from "../../core/rbac.js";
import type { AuthStore } from "../../store/types.js";
import { confirmDestructive } from "../confirm.js";
import type { Context } from "../context.js";
import { storeLocation } from "../settings.js";
import { withStore } from "../store-access.js";
import { parseListFlags, validateNames, type ListFlags } from "../input.js";
import type { Output } from "../output.js";
import { closest, didYouMean } from "../suggest.js";
import { defineCommand, defineGroup, withListFlags } from "../command.js";

/** The fields of a role's --json. */
const ROLE_FIELDS = ["role", "permissions"];

const rolesListCommand = defineCommand({
  declare: (roles) => withListFlags(roles.command("list").description("every role with its permissions, by name"), "roles"),
  examples: ["pywry-auth roles list"],
  fields: null,
  action: rolesList,
});

const rolesShowCommand = defineCommand({
  declare: (roles) => roles.command("show").description("one role's permissions").argument("<role>", "role name"),
  examples: ["pywry-auth roles show editor"],
  fields: ROLE_FIELDS,
  action: rolesShow,
});

const rolesSetCommand = defineCommand({
  declare: (roles) =>
    roles
      .command("set")
      .description("replace a role's permissions")
      .argument("<role>", "role name")
      .argument("[permissions...]", "permissions (none needs --empty)")
      .option("--create", "create the role when the store does not have it")
      .option("--empty", "leave the role with no permissions (it then grants nothing)")
      .option("--force", "allow taking admin away from the admin role"),
  examples: ["pywry-auth roles set analyst read export --create", "pywry-auth roles set anonymous --empty"],
  fields: ROLE_FIELDS,
  action: rolesSet,
});

const rolesGrantCommand = defineCommand({
  declare: (roles) =>
    roles
      .command("grant")
      .description("add permissions to a role")
      .argument("<role>", "role name")
      .argument("<permissions...>", "permissions to add")
      .option("--create", "create the role when the store does not have it"),
  examples: ["pywry-auth roles grant editor publish"],
  fields: ROLE_FIELDS,
  action: rolesGrant,
});

const rolesRevokeCommand = defineCommand({
  declare: (roles) =>
    roles
      .command("revoke")
      .description("remove permissions from a role")
      .argument("<role>", "role name")
      .argument("<permissions...>", "permissions to remove")
      .option("--force", "allow taking admin away from the admin role"),
  examples: ["pywry-auth roles revoke editor publish"],
  fields: ROLE_FIELDS,
  action: rolesRevoke,
});

const rolesDeleteCommand = defineCommand({
  declare: (roles) =>
    roles
      .command("delete")
      .description("delete a role")
      .argument("<role>", "role name")
      .option("--force", "allow deleting the admin role")
      .option("-y, --yes", "do not ask for confirmation (needed without a terminal)"),
  examples: ["pywry-auth roles delete analyst --yes"],
  fields: ["role", "deleted"],
  action: rolesDelete,
});

const rolesSeedCommand = defineCommand({
  declare: (roles) =>
    roles
      .command("seed")
      .description("write pywry's default roles (admin, editor, viewer, anonymous) where missing; pywry's Redis store has none until then")
      .option("--force", "also reset default roles whose permissions were changed"),
  examples: ["pywry-auth --store redis://127.0.0.1:6379/0 roles seed"],
  fields: ["added", "reset", "kept", "unchanged"],
  action: rolesSeed,
});

export default defineGroup({
  declare: (program) => program.command("roles").description("role permissions in the store"),
  examples: ["pywry-auth roles list", "pywry-auth roles grant editor publish", "pywry-auth help roles set"],
  commands: [rolesListCommand, rolesShowCommand, rolesSetCommand, rolesGrantCommand, rolesRevokeCommand, rolesDeleteCommand, rolesSeedCommand],
});

/** The role whose `admin` permission guards pywry's admin pages; taking it away needs --force. */
const ADMIN_ROLE = "admin";
const ADMIN_PERMISSION = "admin";

export async function rolesList(context: Context, output: Output, options: ListFlags = {}): Promise<void> {
  const request = parseListFlags(options);
  // What pywry enforces, not its defaults: with an empty table its check_permission grants
  // nothing by role (pywry's Redis store never seeds one; its SQLite store seeds on next start).
  const redis = storeLocation(context).kind === "redis";
  const listed = await withStore(context, "read", (store) =>
    output.list(pagesAfterFlag(store.rolePages({ after: request.after })), {
      noun: "role",
      columns: ["ROLE", "PERMISSIONS"],
      cells: (entry) => [entry.role, entry.permissions.join(", ") || output.style.dim("(none)")],
      json: (entry, cursor) => ({ role: entry.role, permissions: entry.permissions, cursor }),
      jsonObject: (entry) => [entry.role, entry.permissions],
      limit: request.limit,
      jsonLines: request.jsonLines,
      empty: `no roles: in pywry no role grants anything${redis ? " (pywry's Redis store has no default roles)" : " (pywry seeds its defaults into an empty SQLite table when it next starts)"}`,
    }),
  );
  if (listed.shown === 0 && request.after === undefined) {
    output.notice(`hint: pywry-auth roles seed writes pywry's defaults (${Object.keys(DEFAULT_ROLE_PERMISSIONS).join(", ")})`);
  }
}

export async function rolesShow(context: Context, output: Output, role: string): Promise<void> {
  const roles = await readRoles(context);
  const permissions = roles.get(role);
  if (!permissions) throw new NotFoundError(`no role ${JSON.stringify(role)} in the store${didYouMean(role, roles.keys())}`);
  output.result(permissions.length > 0 ? permissions : [output.style.dim("(no permissions)")], { role, permissions });
}

/** `roles set <role> [permissions...]`: replaces the role's permissions; --create for a new role, --empty for none. */
export async function rolesSet(
  context: Context,
  output: Output,
  role: string,
  permissions: string[] | undefined,
  options: { force?: boolean; create?: boolean; empty?: boolean },
): Promise<void> {
  const name = validateRole(role);
  const after = validateNames(permissions ?? [], "permission");
  if (after.length === 0 && !options.empty) {
    throw new UsageError(`roles set ${name} with no permissions would leave the role granting nothing: name its permissions, or pass --empty if you mean that`);
  }
  if (after.length > 0 && options.empty) throw new UsageError("--empty leaves the role with no permissions: name none with it");
  guardAdmin(name, after, Boolean(options.force), `roles set ${name} ${[...after, ADMIN_PERMISSION].join(" ")}`);
  await withWritableStore(context, async (store) => {
    const roles = await store.listRoles();
    const before = roles.get(name) ?? null;
    if (before === null && !options.create) throw missingRole(name, roles);
    warnUnknownPermissions(output, after, roles);
    await applyRole(store, output, name, before, after, Boolean(options.force));
  });
}

/** `roles grant <role> <permissions...>`: adds permissions; a new role needs --create. */
export async function rolesGrant(
  context: Context,
  output: Output,
  role: string,
  permissions: string[] | undefined,
  options: { create?: boolean } = {},
): Promise<void> {
  const name = validateRole(role);
  const added = requirePermissions(permissions);
  await withWritableStore(context, async (store) => {
    const roles = await store.listRoles();
    warnUnknownPermissions(output, added, roles);
    // Read and write in one step: two grants at once must not lose one another's permissions.
    const update = await store.updateRolePermissions(name, (before) => {
      if (before === null && !options.create) throw missingRole(name, roles);
      return [...(before ?? []), ...added];
    });
    reportRole(output, name, update.before, update.after ?? [], !update.changed, false);
  });
}

/** A role that is not there: most likely a typo, and a new role is created only when asked. */
function missingRole(name: string, roles: Map<string, string[]>): NotFoundError {
  return new NotFoundError(
    `no role ${JSON.stringify(name)} in the store${didYouMean(name, roles.keys())}; to create it, pass --create`,
  );
}

/** Permissions no role grants yet are legitimate (new ones), but one close to a known name is likely a typo. */
function warnUnknownPermissions(output: Output, permissions: readonly string[], roles: Map<string, string[]>): void {
  const known = new Set([...roles.values(), ...Object.values(DEFAULT_ROLE_PERMISSIONS)].flat());
  for (const permission of permissions) {
    if (known.has(permission)) continue;
    const suggestion = closest(permission, known);
    if (suggestion !== undefined) output.warn(`no role grants ${JSON.stringify(permission)} yet (did you mean ${JSON.stringify(suggestion)}?)`);
  }
}

/** `roles revoke <role> <permissions...>`: removes permissions from an existing role. */
export async function rolesRevoke(
  context: Context,
  output: Output,
  role: string,
  permissions: string[] | undefined,
  options: { force?: boolean },
): Promise<void> {
  const name = validateRole(role);
  const removed = requirePermissions(permissions);
  await withWritableStore(context, async (store) => {
    let absent: string[] = [];
    const update = await store.updateRolePermissions(name, (before) => {
      if (before === null) throw new NotFoundError(`no role ${JSON.stringify(name)} in the store`);
      absent = removed.filter((permission) => !before.includes(permission));
      const after = before.filter((permission) => !removed.includes(permission));
      guardAdmin(name, after, Boolean(options.force), null);
      return after;
    });
    if (absent.length > 0) output.warn(`role ${name} did not grant ${absent.join(", ")}`);
    reportRole(output, name, update.before, update.after ?? [], !update.changed, Boolean(options.force));
  });
}

/** `roles delete <role>`: sessions keep the role name, which then grants nothing. */
export async function rolesDelete(context: Context, output: Output, role: string, options: { force?: boolean; yes?: boolean }): Promise<void> {
  const name = validateRole(role);
  if (name === ADMIN_ROLE && !options.force) {
    throw new UsageError(`refusing to delete the ${ADMIN_ROLE} role: sessions with it would lose every permission, ${ADMIN_PERMISSION} included; pass --force if you mean it`);
  }
  await withWritableStore(context, async (store) => {
    const before = await store.getRolePermissions(name);
    if (before === null) throw new NotFoundError(`no role ${JSON.stringify(name)} in the store`);
    const holders = (await store.listSessions()).filter((session) => session.roles.includes(name)).length;
    const grants = before.length > 0 ? `grants ${before.join(", ")}` : "grants nothing";
    await confirmDestructive(
      `delete role ${JSON.stringify(name)} (${grants}; ${holders} live session${holders === 1 ? " has" : "s have"} it)`,
      { yes: options.yes },
    );
    if (!(await store.deleteRole(name))) throw new NotFoundError(`no role ${JSON.stringify(name)} in the store`);
    if (holders > 0) output.warn(`${holders} live session${holders === 1 ? "" : "s"} still name role ${name}, which now grants nothing`);
    output.result(`deleted role ${name}`, { role: name, deleted: true });
  });
}

/**
 * `roles seed`: writes pywry's DEFAULT_ROLE_PERMISSIONS for each default role the store lacks;
 * with --force also resets default roles whose permissions differ. Other roles are left alone.
 */
export async function rolesSeed(context: Context, output: Output, options: { force?: boolean }): Promise<void> {
  await withStore(context, "update", async (store) => {
    const current = await store.listRoles();
    const report: Record<"added" | "reset" | "kept" | "unchanged", string[]> = { added: [], reset: [], kept: [], unchanged: [] };
    const lines: string[] = [];
    for (const [role, defaults] of Object.entries(DEFAULT_ROLE_PERMISSIONS)) {
      const held = current.get(role);
      const listed = defaults.length > 0 ? defaults.join(", ") : "(no permissions)";
      if (held !== undefined && sameList([...held].sort(), [...defaults].sort())) {
        report.unchanged.push(role);
        lines.push(`${role}: ${listed}${output.style.dim(" (unchanged)")}`);
      } else if (held === undefined || options.force) {
        await store.setRolePermissions(role, [...defaults]);
        report[held === undefined ? "added" : "reset"].push(role);
        lines.push(`${role}: ${listed}${output.style.dim(held === undefined ? " (added)" : ` (reset; was ${held.join(", ") || "nothing"})`)}`);
      } else {
        report.kept.push(role);
        lines.push(`${role}: ${held.join(", ") || "(no permissions)"}${output.style.dim(" (kept: differs from pywry's default; --force resets it)")}`);
      }
    }
    output.result(lines, report);
  });
}

async function readRoles(context: Context): Promise<Map<string, string[]>> {
  return withStore(context, "read", (store) => store.listRoles());
}

/** Role edits never create a store: a typo in --store must not leave a fresh database behind. */
async function withWritableStore(context: Context, work: (store: AuthStore) => Promise<void>): Promise<void> {
  await withStore(context, "update", work);
}

/** Writes the role unless nothing would change (no write, so no audit entry), and reports it. */
async function applyRole(store: AuthStore, output: Output, role: string, before: string[] | null, after: string[], forced: boolean): Promise<void> {
  const unchanged = before !== null && sameList(before, after);
  if (!unchanged) await store.setRolePermissions(role, after);
  reportRole(output, role, before, after, unchanged, forced);
}

/** Reports a role write (or that nothing changed), warning when --force took admin from the admin role. */
function reportRole(output: Output, role: string, before: string[] | null, after: string[], unchanged: boolean, forced: boolean): void {
  if (forced && role === ADMIN_ROLE && !after.includes(ADMIN_PERMISSION) && (before === null || before.includes(ADMIN_PERMISSION))) {
    output.warn(`the ${ADMIN_ROLE} role no longer grants ${ADMIN_PERMISSION}`);
  }
  const listed = after.length > 0 ? after.join(", ") : output.style.dim("(no permissions)");
  output.result(`${role}: ${listed}${unchanged ? output.style.dim(" (unchanged)") : ""}`, { role, permissions: after });
}

/** Refuses to leave the admin role without the admin permission, unless forced. */
function guardAdmin(role: string, after: readonly string[], force: boolean, suggestion: string | null): void {
  if (role !== ADMIN_ROLE || force || after.includes(ADMIN_PERMISSION)) return;
  const hint = suggestion ? ` (to keep it: ${suggestion})` : "";
  throw new UsageError(`refusing to leave the ${ADMIN_ROLE} role without the ${ADMIN_PERMISSION} permission${hint}; pass --force if you mean it`);
}

function validateRole(role: string): string {
  return validateNames([role], "role")[0] ?? role;
}

function requirePermissions(permissions: string[] | undefined): string[] {
  const names = validateNames(permissions ?? [], "permission");
  if (names.length === 0) throw new UsageError("name at least one permission");
  return names;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}
