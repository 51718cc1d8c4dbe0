/** pywry's role model: DEFAULT_ROLE_PERMISSIONS and the static helpers from `pywry.state.auth`. */
import type { UserSession } from "./session.js";

export const DEFAULT_ROLE_PERMISSIONS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  admin: Object.freeze(["read", "write", "admin", "delete", "manage_users"]),
  editor: Object.freeze(["read", "write"]),
  viewer: Object.freeze(["read"]),
  anonymous: Object.freeze([] as string[]),
});

/** The role pywry's login gives a user when nothing else is configured. */
export const DEFAULT_ROLES: readonly string[] = Object.freeze(["viewer"]);

type SessionLike = Pick<UserSession, "roles"> | null | undefined;

/** Permissions of a built-in role; an unknown role has none. */
export function getRolePermissions(role: string): Set<string> {
  return new Set(Object.hasOwn(DEFAULT_ROLE_PERMISSIONS, role) ? DEFAULT_ROLE_PERMISSIONS[role] : []);
}

/** True when any of the session's roles grants `permission` under the default role table. */
export function hasPermission(session: SessionLike, permission: string): boolean {
  if (!session) return false;
  return session.roles.some((role) => getRolePermissions(role).has(permission));
}

export function isAdmin(session: SessionLike): boolean {
  return Boolean(session) && session!.roles.includes("admin");
}

/** The check behind pywry's `check_permission`, given the role table the store holds. */
export function sessionGrants(
  session: Pick<UserSession, "roles" | "metadata">,
  rolePermissions: (role: string) => readonly string[] | undefined,
  permission: string,
  resource?: { type: string; id: string },
): boolean {
  if (session.roles.some((role) => rolePermissions(role)?.includes(permission))) return true;
  if (!resource) return false;
  const grants = resourceGrants(session.metadata)[`${resource.type}:${resource.id}`];
  return Array.isArray(grants) && grants.includes(permission);
}

function resourceGrants(metadata: Record<string, unknown>): Record<string, unknown> {
  const grants = metadata["permissions"];
  return grants && typeof grants === "object" && !Array.isArray(grants) ? (grants as Record<string, unknown>) : {};
}

/** Session metadata with `permissions` added to the grant for `resource` (pywry's format). */
export function addResourceGrant(metadata: Record<string, unknown>, resource: string, permissions: readonly string[]): Record<string, unknown> {
  const grants = { ...resourceGrants(metadata) };
  const current = Array.isArray(grants[resource]) ? (grants[resource] as unknown[]).filter((p): p is string => typeof p === "string") : [];
  grants[resource] = [...new Set([...current, ...permissions])];
  return { ...metadata, permissions: grants };
}

/** Session metadata without the given permissions (or the whole grant) for `resource`. */
export function removeResourceGrant(
  metadata: Record<string, unknown>,
  resource: string,
  permissions?: readonly string[],
): Record<string, unknown> {
  const grants = { ...resourceGrants(metadata) };
  const current = Array.isArray(grants[resource]) ? (grants[resource] as unknown[]) : [];
  const kept = permissions ? current.filter((p) => !permissions.includes(p as string)) : [];
  if (kept.length > 0) grants[resource] = kept;
  else delete grants[resource];
  return { ...metadata, permissions: grants };
}
