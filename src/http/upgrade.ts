/**
 * Authentication for `server.on("upgrade")` (WebSocket): browsers cannot set headers on a
 * WebSocket, so pywry's clients send `?session=<id>`; cookies and Bearer headers work too.
 */
import type { AuthConfig } from "../core/config.js";
import type { UserSession } from "../core/session.js";
import { STORE_UNAVAILABLE, UNAUTHENTICATED, type HttpAuthFailure } from "./answers.js";
import type { NodeRequestLike } from "./credentials.js";
import { checkResolveOptions, resolveSession, type ResolveSessionOptions } from "./resolve.js";

export type UpgradeAuthentication =
  | { session: UserSession; failure: null }
  /** The failure to hand to rejectUpgrade: 401, or 503 when the store failed. */
  | { session: null; failure: HttpAuthFailure };

export interface AuthenticateUpgradeOptions extends ResolveSessionOptions {
  config: Pick<AuthConfig, "enabled" | "sessionCookie" | "authHeader" | "tokenSecret">;
}

/**
 * The upgrade request's session, resolved as for any request, or why there is none. It never
 * rejects on a store failure (so an async upgrade listener cannot leak an unhandled rejection),
 * only on misconfigured options. Like the guards it fails closed: with auth disabled there is no
 * session, and the answer is 401.
 */
export async function authenticateUpgrade(req: NodeRequestLike, options: AuthenticateUpgradeOptions): Promise<UpgradeAuthentication> {
  checkResolveOptions(options);
  if (options.config.enabled !== true) return { session: null, failure: UNAUTHENTICATED };
  let session: UserSession | null;
  try {
    session = await resolveSession(req, options);
  } catch {
    return { session: null, failure: STORE_UNAVAILABLE };
  }
  return session ? { session, failure: null } : { session: null, failure: UNAUTHENTICATED };
}
