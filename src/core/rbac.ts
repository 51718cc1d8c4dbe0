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

/** What grants a permission: one of the session's roles, or a per-resource grant in its metadata. */
export type GrantSource = { kind: "role"; role: string } | { kind: "grant"; resource: string };

/**
 * The check behind pywry's `check_permission`, given the role table the store holds, saying what
 * granted the permission (null: nothing did). Roles are tried first, as pywry does.
 */
export function grantSource(
  session: Pick<UserSession, "roles" | "metadata">,
  rolePermissions: (role: string) => readonly string[] | undefined,
  permission: string,
  resource?: { type: string; id: string },
): GrantSource | null {
  const role = session.roles.find((name) => rolePermissions(name)?.includes(permission));
  if (role !== undefined) return { kind: "role", role };
  if (!resource) return null;
  const key = `${resource.type}:${resource.id}`;
  return resourceGrantsOf(session.metadata)[key]?.includes(permission) ? { kind: "grant", resource: key } : null;
}

export function sessionGrants(
  session: Pick<UserSession, "roles" | "metadata">,
  rolePermissions: (role: string) => readonly string[] | undefined,
  permission: string,
  resource?: { type: string; id: string },
): boolean {
  return grantSource(session, rolePermissions, permission, resource) !== null;
}

/** pywry's `metadata["permissions"]`: resource key to permission list; anything malformed is ignored. */
export function resourceGrantsOf(metadata: Record<string, unknown>): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(resourceGrants(metadata))) {
    if (Array.isArray(value)) result[key] = value.filter((item): item is string => typeof item === "string");
  }
  return result;
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
  if (!Object.hasOwn(grants, resource)) return metadata;
  const current = Array.isArray(grants[resource]) ? (grants[resource] as unknown[]) : [];
  const kept = permissions ? current.filter((p) => !permissions.includes(p as string)) : [];
  if (kept.length > 0) grants[resource] = kept;
  else delete grants[resource];
  return { ...metadata, permissions: grants };
}
