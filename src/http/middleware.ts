/**
 * pywry's AuthMiddleware for Node: resolves the request's session once and leaves it on
 * `req.auth`. It never refuses a request itself; the guards (requireAuth, requirePermission) do.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthConfig } from "../core/config.js";
import { InvalidInputError, StoreError } from "../core/errors.js";
import type { UserSession } from "../core/session.js";
import type { AuthStore } from "../store/types.js";
import { STORE_UNAVAILABLE, sendFailure, type HttpAuthFailure } from "./answers.js";
import { credentialsOfNodeRequest, requestTarget } from "./credentials.js";
import { publicPathMatcher } from "./paths.js";
import {
  bearerOnlySessionSync,
  checkResolveOptions,
  sessionForCredentials,
  type ResolveSessionOptions,
  type SessionResolverStore,
} from "./resolve.js";

/** `next` as Node http, Connect and Express call it: with an error to report one. */
export type NextFunction = (error?: unknown) => void;
export type AuthRequestHandler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** What the middleware leaves on `req.auth`. */
export interface AuthState {
  /** The request's live session; null when auth is disabled, the path is public, or nothing matched. */
  session: UserSession | null;
}

/** A request the middleware has seen; with Express, `AuthenticatedRequest<express.Request>`. */
export type AuthenticatedRequest<Req extends IncomingMessage = IncomingMessage> = Req & { auth: AuthState };

/** The store operations the middleware and its guards need (every pywry-auth store has them). */
export type AuthMiddlewareStore = SessionResolverStore & Pick<AuthStore, "listRoles">;

/**
 * Where a store failure goes. "next": `next(error)`, for Express's and Connect's error handlers.
 * "respond": a 503 JSON answer (ERR_STORE), and `next` is not called.
 */
export type StoreErrorHandling = "next" | "respond";

export interface AuthMiddlewareOptions extends ResolveSessionOptions {
  store: AuthMiddlewareStore;
  config: Pick<AuthConfig, "enabled" | "sessionCookie" | "authHeader" | "tokenSecret">;
  /** Paths whose requests get no session (pywry's public_paths), matched on whole segments. */
  publicPaths?: readonly string[];
  /**
   * Defaults to "next" when `next` declares a parameter (Express's and Connect's do) and to
   * "respond" otherwise, so that `auth(req, res, () => handle(req, res))` can never run its
   * handler as if the request had no session when the store failed.
   */
  storeErrors?: StoreErrorHandling;
}

interface RequestContext {
  auth: AuthState;
  store: AuthMiddlewareStore;
  storeErrors: StoreErrorHandling | undefined;
}

// Guards read the session from here, not from `req.auth`, which any other middleware may overwrite.
const contexts = new WeakMap<object, RequestContext>();

export function createAuthMiddleware(options: AuthMiddlewareOptions): AuthRequestHandler {
  checkResolveOptions(options);
  if (typeof options.store.listRoles !== "function") throw new InvalidInputError("store must implement listRoles() (use a pywry-auth store)");
  if (options.storeErrors !== undefined && options.storeErrors !== "next" && options.storeErrors !== "respond") {
    throw new InvalidInputError('storeErrors must be "next" or "respond"');
  }
  const { store, config, storeErrors } = options;
  const resolveOptions: ResolveSessionOptions = { store, config, secrets: options.secrets, now: options.now };
  const isPublic = publicPathMatcher(options.publicPaths ?? []);

  return function pywryAuthMiddleware(req, res, next) {
    const auth: AuthState = { session: null };
    (req as AuthenticatedRequest).auth = auth;
    contexts.set(req, { auth, store, storeErrors });
    if (config.enabled !== true || isPublic(requestTarget(req))) {
      next();
      return;
    }
    const credentials = credentialsOfNodeRequest(req, config);
    let decided: UserSession | null | undefined;
    try {
      decided = bearerOnlySessionSync(credentials, resolveOptions);
    } catch (error) {
      reportFailure(error, res, next, storeErrors, STORE_UNAVAILABLE);
      return;
    }
    if (decided !== undefined) {
      auth.session = decided;
      callNext(next);
      return;
    }
    sessionForCredentials(credentials, resolveOptions).then(
      (session) => {
        auth.session = session;
        callNext(next);
      },
      (error: unknown) => reportFailure(error, res, next, storeErrors, STORE_UNAVAILABLE),
    );
  };
}

/** The session the auth middleware resolved for this request, or null. */
export function sessionOf(req: object): UserSession | null {
  return contexts.get(req)?.auth.session ?? null;
}

export function contextOf(req: object): RequestContext | undefined {
  return contexts.get(req);
}

/**
 * Hands a failure to `next` or answers it, as configured (see AuthMiddlewareOptions.storeErrors).
 * The answer never includes the error's own text.
 */
export function reportFailure(
  error: unknown,
  res: ServerResponse,
  next: NextFunction,
  handling: StoreErrorHandling | undefined,
  failure: HttpAuthFailure,
): void {
  // Express reads next(), next(null) and next("route") as "carry on": pass only real errors.
  const reported = error instanceof Error ? error : new StoreError("the session store failed", { cause: error });
  if (handling === "next" || (handling === undefined && next.length > 0)) callNext(next, reported);
  else sendFailure(res, failure);
}

/**
 * Calls `next` outside our promise chain. An error thrown by the next handler is that handler's:
 * it must surface as it would have without us (an uncaught exception, or Express's own
 * try/catch), not as an unhandled rejection of ours.
 */
export function callNext(next: NextFunction, error?: unknown): void {
  try {
    if (error === undefined) next();
    else next(error);
  } catch (thrown) {
    process.nextTick(() => {
      throw thrown;
    });
  }
}
