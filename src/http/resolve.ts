/**
 * pywry's get_session_from_request, hardened: which session, if any, a request carries.
 * Credentials are tried in pywry's order (cookie, Bearer header, `?session=`); the first that
 * yields a live session wins.
 */
import { systemClock, type Clock } from "../core/clock.js";
import type { AuthConfig } from "../core/config.js";
import { InvalidInputError } from "../core/errors.js";
import { sha256Hex } from "../core/handles.js";
import { isSessionLive, type UserSession } from "../core/session.js";
import { decodeToken, issuedInFuture, verifySignature } from "../core/token.js";
import type { AuthStore, BearerLookup, BearerQuery } from "../store/types.js";
import {
  credentialsOfFetchRequest,
  credentialsOfNodeRequest,
  type Credentials,
  type FetchRequestLike,
  type NodeRequestLike,
} from "./credentials.js";

/** The store operations resolution needs (every pywry-auth store has them). */
export type SessionResolverStore = Pick<AuthStore, "getSession" | "listUserSessions" | "tokenRevocationStatus" | "bearerLookup" | "bearerLookupSync">;

export interface ResolveSessionOptions {
  store: SessionResolverStore;
  config: Pick<AuthConfig, "sessionCookie" | "authHeader" | "tokenSecret">;
  /**
   * The secrets Bearer tokens may be signed with, current first, then previous ones during a
   * rotation. Defaults to `[config.tokenSecret]`; an empty secret accepts no token.
   */
  secrets?: readonly string[];
  /** The clock, in Unix seconds (defaults to the system clock). */
  now?: Clock;
}

/**
 * The live session a Node request (http, upgrade, Connect, Express) carries, or null. Resolves
 * regardless of `config.enabled`: that switch is the middleware's. Store errors propagate.
 */
export async function resolveSession(req: NodeRequestLike, options: ResolveSessionOptions): Promise<UserSession | null> {
  checkResolveOptions(options);
  return sessionForCredentials(credentialsOfNodeRequest(req, options.config), options);
}

/** resolveSession for a Fetch API Request (Hono, Next.js route handlers, Bun, Deno). */
export async function resolveSessionFromRequest(request: FetchRequestLike, options: ResolveSessionOptions): Promise<UserSession | null> {
  checkResolveOptions(options);
  return sessionForCredentials(credentialsOfFetchRequest(request, options.config), options);
}

/** Checks the options once, so a misconfigured server fails at start-up rather than per request. */
export function checkResolveOptions(options: ResolveSessionOptions): void {
  if (!options || typeof options !== "object") throw new InvalidInputError("options with a store and a config are required");
  const { store, config, secrets } = options;
  for (const method of ["getSession", "listUserSessions", "tokenRevocationStatus", "bearerLookup", "bearerLookupSync"] as const) {
    if (typeof store?.[method] !== "function") throw new InvalidInputError(`store must implement ${method}() (use a pywry-auth store)`);
  }
  if (!config || typeof config.sessionCookie !== "string" || typeof config.authHeader !== "string") {
    throw new InvalidInputError("config must be an AuthConfig (see createAuthConfig)");
  }
  if (secrets !== undefined && (!Array.isArray(secrets) || !secrets.every((secret) => typeof secret === "string"))) {
    throw new InvalidInputError("secrets must be an array of strings, current secret first");
  }
}

/** The live session the credentials name, tried in pywry's order; for options already checked. */
export async function sessionForCredentials(credentials: Credentials, options: ResolveSessionOptions): Promise<UserSession | null> {
  const now = options.now ?? systemClock;
  if (credentials.cookie !== null) {
    const session = await sessionForSessionId(credentials.cookie, options, now);
    if (session) return session;
  }
  if (credentials.bearer !== null) {
    const session = await sessionForBearer(credentials.bearer, options, now);
    if (session) return session;
  }
  if (credentials.query !== null) {
    return sessionForSessionId(credentials.query, options, now);
  }
  return null;
}

/**
 * The live session whose id a cookie or `?session=` value is, unless a revocation covers it.
 * pywry's login makes the token the session id, so a revoked token whose session came back (an
 * import, a restored backup, pywry writing it again) must not work as a cookie either: the value
 * is checked against the denylist, and against its user's cut-off with the earlier of the
 * session's creation time and (for a token) its issue time. `revoke --user` deletes every session
 * of the user, so a session made before the cut-off can only have been brought back.
 */
async function sessionForSessionId(value: string, options: ResolveSessionOptions, now: () => number): Promise<UserSession | null> {
  const session = liveOrNull(await options.store.getSession(value), now());
  if (session === null) return null;
  const tokenHash = sha256Hex(value);
  const decoded = decodeToken(value);
  const claims = decoded.ok ? decoded.claims : null;
  const ownToken = claims !== null && claims.subject === session.userId;
  const issuedAt = ownToken ? Math.min(claims.issuedAt, session.createdAt) : session.createdAt;
  if ((await options.store.tokenRevocationStatus({ tokenHash, subject: session.userId, issuedAt })) !== null) return null;
  // A token for another subject used as this session's id: that subject's cut-off counts too.
  if (claims !== null && !ownToken) {
    if ((await options.store.tokenRevocationStatus({ tokenHash, subject: claims.subject, issuedAt: claims.issuedAt })) !== null) return null;
  }
  return session;
}

/**
 * A Bearer token counts only when it verifies (signature, expiry, the store's revocations and
 * user cut-offs). Its session is then the one whose id is the token, as pywry's login makes it,
 * else the user's most recent live session. pywry takes whichever session its store lists first.
 */
async function sessionForBearer(token: string, options: ResolveSessionOptions, now: () => number): Promise<UserSession | null> {
  const query = bearerQuery(token, options, now());
  if (query === null) return null;
  const found = await options.store.bearerLookup(query);
  const decided = bearerDecision(found, query.subject, now());
  if (decided !== ASK_USER_SESSIONS) return decided;
  return newestLive(await options.store.listUserSessions(query.subject), now());
}

/**
 * sessionForCredentials without waiting, where a synchronous store read decides it: credentials
 * that are only a Bearer token, on a store whose bearerLookupSync answers (SQLite). The middleware then
 * hands the request on in the same turn. undefined: not decided here (another credential,
 * another store, or the user's other sessions to look through); use sessionForCredentials.
 * Throws what the store throws.
 */
export function bearerOnlySessionSync(credentials: Credentials, options: ResolveSessionOptions): UserSession | null | undefined {
  if (credentials.cookie !== null || credentials.bearer === null || credentials.query !== null) return undefined;
  const now = (options.now ?? systemClock)();
  const query = bearerQuery(credentials.bearer, options, now);
  if (query === null) return null;
  const found = options.store.bearerLookupSync(query);
  if (found === undefined) return undefined;
  const decided = bearerDecision(found, query.subject, now);
  return decided === ASK_USER_SESSIONS ? undefined : decided;
}

/** The store query for a Bearer token whose signature verifies and which has not expired; else null. */
function bearerQuery(token: string, options: ResolveSessionOptions, now: number): BearerQuery | null {
  const signed = signedToken(token, options);
  if (signed === null || (signed.expiresAt !== null && signed.expiresAt < now) || issuedInFuture(signed.issuedAt, now)) return null;
  return { token, tokenHash: signed.tokenHash, subject: signed.userId, issuedAt: signed.issuedAt };
}

const ASK_USER_SESSIONS = Symbol("the user's most recent live session");

/**
 * What the store's answer means: no session (revoked, a widget token, nothing found), the token's
 * own session, or "the user's most recent live session", which needs another read.
 */
function bearerDecision(found: BearerLookup, userId: string, now: number): UserSession | null | typeof ASK_USER_SESSIONS {
  // Nothing in a pywry token says whether it is a session or a widget token: a widget token for
  // widget "alice" is a valid token for user "alice". The registry knows which one it minted.
  if (found.revocation !== null || found.kind === "widget") return null;
  const own = liveOrNull(found.session, now);
  return own && own.userId === userId ? own : ASK_USER_SESSIONS;
}

interface SignedToken {
  userId: string;
  issuedAt: number;
  expiresAt: number | null;
  /** SHA-256 of the token: what revocations and the registry are keyed by. */
  tokenHash: string;
}

/**
 * Tokens whose signature verified, per options object and secret list, oldest first (the oldest
 * is forgotten first; a forgotten token is simply verified again).
 * A client sends the same token with every request: the HMAC and the hash are computed once, not
 * per request. Only what cannot change is kept (the signature's verdict and the claims); expiry,
 * revocations, the registry and the session are checked on every request. A change to the
 * secrets (rotation, even by editing the array in place) empties the cache.
 */
interface SignedTokenCache {
  secrets: readonly string[];
  tokens: Map<string, SignedToken>;
}

const SIGNED_TOKENS = new WeakMap<ResolveSessionOptions, SignedTokenCache>();
const SIGNED_TOKENS_KEPT = 10_000;

/** A Bearer token's signed claims, or null when no configured secret signed it (or it is malformed). */
function signedToken(token: string, options: ResolveSessionOptions): SignedToken | null {
  const secrets = options.secrets ?? [options.config.tokenSecret];
  let cache = SIGNED_TOKENS.get(options);
  if (cache === undefined || !sameSecrets(cache.secrets, secrets)) {
    SIGNED_TOKENS.set(options, (cache = { secrets: [...secrets], tokens: new Map() }));
  }
  const known = cache.tokens.get(token);
  if (known !== undefined) return known;
  // Expiry and issue time are the caller's checks, made on every request.
  const result = verifySignature(token, secrets.filter((secret) => secret.length > 0));
  // pywry also refuses an empty user id (`if is_valid and user_id`).
  if (!result.valid || !result.userId) return null;
  const signed: SignedToken = { userId: result.userId, issuedAt: result.issuedAt ?? 0, expiresAt: result.expiresAt, tokenHash: sha256Hex(token) };
  if (cache.tokens.size >= SIGNED_TOKENS_KEPT) cache.tokens.delete(cache.tokens.keys().next().value as string);
  cache.tokens.set(token, signed);
  return signed;
}

function sameSecrets(kept: readonly string[], current: readonly string[]): boolean {
  if (kept.length !== current.length) return false;
  for (let index = 0; index < kept.length; index += 1) if (kept[index] !== current[index]) return false;
  return true;
}

/** Stores already hide expired sessions; checking again costs nothing and covers laxer stores. */
function liveOrNull(session: UserSession | null, now: number): UserSession | null {
  return session && isSessionLive(session, now) ? session : null;
}

/** The contract lists newest first; sorting again keeps "most recent" true for any store. */
function newestLive(sessions: readonly UserSession[], now: number): UserSession | null {
  let newest: UserSession | null = null;
  for (const session of sessions) {
    if (isSessionLive(session, now) && (newest === null || session.createdAt > newest.createdAt)) newest = session;
  }
  return newest;
}

