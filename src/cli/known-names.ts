/**
 * Names the operator types that the store defines: roles for new sessions. A name close to a
 * defined one is taken for a typo and refused with a suggestion; any other unknown name is
 * allowed (a role may be defined later) with a warning, so nothing mistyped passes silently.
 */
import { UsageError } from "./errors.js";
import { DEFAULT_ROLE_PERMISSIONS } from "../core/rbac.js";
import type { Context } from "./context.js";
import { storeExists, withStore } from "./store-access.js";
import type { Output } from "./output.js";
import { closest } from "./suggest.js";

export async function checkRolesDefined(context: Context, output: Output, roles: readonly string[]): Promise<void> {
  const defined = await definedRoles(context);
  // A store without a role table (pywry's Redis store before `roles seed`) cannot tell.
  if (defined.size === 0) return;
  for (const role of roles) {
    if (defined.has(role)) continue;
    const suggestion = closest(role, defined);
    if (suggestion !== undefined) {
      throw new UsageError(`unknown role ${JSON.stringify(role)} (did you mean ${JSON.stringify(suggestion)}?); the store defines ${[...defined].join(", ")}`);
    }
    output.warn(`role ${JSON.stringify(role)} is not defined in the store, so it grants nothing until it is (pywry-auth roles set ${role} <permissions> --create)`);
  }
}

/**
 * The store's roles; a SQLite store not created yet will start with pywry's defaults. The callers
 * mint (session create, token create): a missing store they may not create fails as their mint would.
 */
async function definedRoles(context: Context): Promise<Set<string>> {
  if (!storeExists(context, "mint")) return new Set(Object.keys(DEFAULT_ROLE_PERMISSIONS));
  return withStore(context, "read", async (store) => new Set((await store.listRoles()).keys()));
}
