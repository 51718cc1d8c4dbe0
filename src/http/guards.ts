/**
 * Route guards, used after the auth middleware. They fail closed: without the middleware, with
 * auth disabled, or on a public path there is no session, so a guarded route answers 401.
 */
import type { IncomingMessage } from "node:http";
import { InvalidInputError } from "../core/errors.js";
import { grantSource } from "../core/rbac.js";
import type { UserSession } from "../core/session.js";
import { INTERNAL_ERROR, STORE_UNAVAILABLE, UNAUTHENTICATED, forbidden, sendFailure } from "./answers.js";
import { callNext, contextOf, reportFailure, type AuthMiddlewareStore, type AuthRequestHandler } from "./middleware.js";

/** A resource as pywry's check_permission names it: `"widget:chart-1"` or `{ type, id }`. */
export type ResourceRef = string | { type: string; id: string };

export interface RequirePermissionOptions {
  /**
   * Also accept a per-resource grant for this resource (pywry's
   * `metadata.permissions["type:id"]`). A function picks it per request (e.g. from the route's
   * parameters); returning null checks roles only.
   */
  resource?: ResourceRef | ((req: IncomingMessage) => ResourceRef | null | undefined);
}

/** 401 (with `WWW-Authenticate: Bearer`) unless the request has a session. */
export function requireAuth(): AuthRequestHandler {
  return function requireAuthGuard(req, res, next) {
    if (contextOf(req)?.auth.session) next();
    else sendFailure(res, UNAUTHENTICATED);
  };
}

/**
 * 401 without a session; 403 unless the session has `permission`, with pywry's check_permission
 * semantics: any of its roles grants it in the store's role table, or else (with `resource`) the
 * session's grant for that resource does.
 */
export function requirePermission(permission: string, options: RequirePermissionOptions = {}): AuthRequestHandler {
  if (typeof permission !== "string" || permission.length === 0) throw new InvalidInputError("permission must be a non-empty string");
  const { resource } = options;
  // A fixed resource is checked now, so a typo fails at start-up rather than on every request.
  const fixed = typeof resource === "function" || resource === undefined ? undefined : toResource(resource);

  return function requirePermissionGuard(req, res, next) {
    const context = contextOf(req);
    const session = context?.auth.session;
    if (!context || !session) {
      sendFailure(res, UNAUTHENTICATED);
      return;
    }
    let target: { type: string; id: string } | undefined;
    try {
      target = typeof resource === "function" ? toOptionalResource(resource(req)) : fixed;
    } catch (error) {
      reportFailure(error, res, next, context.storeErrors, INTERNAL_ERROR);
      return;
    }
    grants(context.store, session, permission, target).then(
      (allowed) => (allowed ? callNext(next) : sendFailure(res, forbidden(permission))),
      (error: unknown) => reportFailure(error, res, next, context.storeErrors, STORE_UNAVAILABLE),
    );
  };
}

async function grants(
  store: AuthMiddlewareStore,
  session: UserSession,
  permission: string,
  resource: { type: string; id: string } | undefined,
): Promise<boolean> {
  const roles = await store.listRoles();
  return grantSource(session, (role) => roles.get(role), permission, resource) !== null;
}

function toOptionalResource(value: ResourceRef | null | undefined): { type: string; id: string } | undefined {
  return value === null || value === undefined ? undefined : toResource(value);
}

/** pywry keys grants `${type}:${id}`; ids may themselves contain ':' (widget `grid:main`). */
function toResource(value: ResourceRef): { type: string; id: string } {
  if (typeof value === "string") {
    const colon = value.indexOf(":");
    if (colon > 0 && colon < value.length - 1) return { type: value.slice(0, colon), id: value.slice(colon + 1) };
  } else if (value && typeof value.type === "string" && typeof value.id === "string" && value.type && value.id) {
    return { type: value.type, id: value.id };
  }
  throw new InvalidInputError(`resource must be "type:id" or { type, id }, got ${JSON.stringify(value)}`);
}
