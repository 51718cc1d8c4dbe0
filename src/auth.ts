/**
 * The public token API: pywry's function names and shapes, with the clock defaulting to now.
 * The pure logic lives in core/token.ts; this layer adds the clock and the store's revocations.
 */
import { systemClock, type Clock } from "./core/clock.js";
import { DEFAULT_WIDGET_TTL } from "./core/config.js";
import { sha256Hex } from "./core/handles.js";
import { mintToken, mintWidgetToken, validateToken, validateTokenFor, type TokenValidation } from "./core/token.js";
import type { AuthStore, RevocationCause, TokenKind } from "./store/types.js";

export interface ClockOption {
  /** The clock, in Unix seconds (defaults to the system clock), as every `now` option in the library. */
  now?: Clock;
}

export type SessionTokenResult = Omit<TokenValidation, "secretIndex">;

/** pywry's generate_session_token: `user:issued:expires:hmac`. expiresAt in Unix seconds, or none. */
export function generateSessionToken(userId: string, secret: string, expiresAt?: number | null, options: ClockOption = {}): string {
  return mintToken({ subject: userId, secret, expiresAt, now: clock(options), subjectLabel: "user id" }).token;
}

/** pywry's validate_session_token, returning a result object with a stable error code. */
export function validateSessionToken(
  token: string,
  secrets: string | readonly string[],
  options: ClockOption = {},
): SessionTokenResult {
  const result = validateToken(token, secretList(secrets), clock(options));
  return { valid: result.valid, userId: result.userId, issuedAt: result.issuedAt, expiresAt: result.expiresAt, error: result.error };
}

/** pywry's generate_widget_token: a token for the widget id that expires after `ttl` seconds. */
export function generateWidgetToken(widgetId: string, secret: string, ttl: number = DEFAULT_WIDGET_TTL, options: ClockOption = {}): string {
  return mintWidgetToken({ widgetId, secret, ttl, now: clock(options) }).token;
}

/** pywry's validate_widget_token: valid, and issued for this widget id. */
export function validateWidgetToken(
  token: string,
  widgetId: string,
  secrets: string | readonly string[],
  options: ClockOption = {},
): boolean {
  return validateTokenFor(token, widgetId, secretList(secrets), clock(options)).valid;
}

export interface VerifyOptions extends ClockOption {
  secrets: string | readonly string[];
  /** When given, a revoked token fails with ERR_TOKEN_REVOKED. */
  store?: Pick<AuthStore, "tokenRevocationStatus" | "findToken"> | null;
  /** When given, the token must have been issued for this subject (user or widget id). */
  subject?: string;
  /**
   * What the token must be: with a store, a token the registry
   * recorded as the other kind fails with ERR_TOKEN_KIND, as the HTTP middleware refuses a widget
   * token as a Bearer token. Tokens the registry never saw cannot be told apart and pass.
   */
  kind?: TokenKind;
}

/** Full verification: signature, expiry, subject, then the store's revocations and registry kind. */
export async function verifyToken(token: string, options: VerifyOptions): Promise<TokenValidation> {
  const secrets = secretList(options.secrets);
  const now = clock(options);
  const result =
    options.subject === undefined ? validateToken(token, secrets, now) : validateTokenFor(token, options.subject, secrets, now);
  if (!result.valid || !options.store) return result;
  const tokenHash = sha256Hex(token);
  const cause = await options.store.tokenRevocationStatus({ tokenHash, subject: result.userId ?? "", issuedAt: result.issuedAt ?? 0 });
  if (cause !== null) return revokedResult(result, cause);
  if (options.kind === undefined) return result;
  const recorded = (await options.store.findToken({ tokenHash }))?.kind;
  return recorded === undefined || recorded === options.kind ? result : wrongKindResult(result, recorded);
}

/** A valid token's result when the registry recorded it as the other kind (ERR_TOKEN_KIND). */
export function wrongKindResult(result: TokenValidation, recorded: TokenKind): TokenValidation {
  const message =
    recorded === "widget"
      ? "this is a widget token (the registry recorded it as one), not a session token"
      : "this is a session token (the registry recorded it as one), not a widget token";
  return { ...result, valid: false, userId: null, secretIndex: null, error: { code: "ERR_TOKEN_KIND", message } };
}

/** What a valid token's result becomes when the store says it was revoked (ERR_TOKEN_REVOKED). */
export function revokedResult(result: TokenValidation, cause: RevocationCause): TokenValidation {
  const message = cause === "token" ? "token has been revoked" : "all of this user's tokens issued up to a user-wide revocation were revoked";
  return { ...result, valid: false, userId: null, secretIndex: null, error: { code: "ERR_TOKEN_REVOKED", message } };
}

function clock(options: ClockOption): number {
  return (options.now ?? systemClock)();
}

// The last single secret's list, kept: validation runs per request, with the same secret.
let lastSecret: string | undefined;
let lastSecretList: readonly string[] = [];

function secretList(secrets: string | readonly string[]): readonly string[] {
  if (typeof secrets !== "string") return secrets;
  if (secrets !== lastSecret) {
    lastSecret = secrets;
    lastSecretList = Object.freeze([secrets]);
  }
  return lastSecretList;
}
