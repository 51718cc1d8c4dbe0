/**
 * pywry's token format, byte for byte: `{subject}:{issued_at}:{expires_at}:{hex hmac-sha256}`.
 *
 * Pure: no clock, no I/O. Every function that depends on time takes `now` (Unix seconds).
 * Validation follows pywry's `validate_session_token` check order (format, integers, expiry,
 * signature) so that the error reported for a token is the one pywry would report.
 */
import { InvalidInputError, type TokenErrorCode } from "./errors.js";
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";

/**
 * The latest expiry pywry-auth mints: 9999-12-31T23:59:59Z. Larger numbers would print in
 * exponent notation (1e+21), which no validator reads as an integer.
 */
export const MAX_EXPIRY = 253_402_300_799;

/** Tokens longer than this are refused before any parsing or hashing (cheap rejection of junk). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const SIGNATURE_HEX_LENGTH = 64;
const HEX_SIGNATURE = /^[0-9a-fA-F]{64}$/;
// Python's int() accepts surrounding whitespace (str.isspace), a sign and single underscores
// between digits. pywry signs the original text, so a token spelled that way is valid there.
const PY_WHITESPACE = "[\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*";
const PY_INT = new RegExp(`^${PY_WHITESPACE}([+-]?)(\\d(?:_?\\d)*)${PY_WHITESPACE}$`);
// Python refuses to parse integers longer than this many digits (sys.int_info.str_digits_check_threshold).
const PY_INT_MAX_DIGITS = 4300;
const CONTROL_CHARACTER = /\p{Cc}/u;

export interface TokenClaims {
  subject: string;
  /** Unix seconds, as written in the token. */
  issuedAt: number;
  /** Unix seconds, or null when the token never expires (pywry writes 0). */
  expiresAt: number | null;
}

export interface TokenFailure {
  code: TokenErrorCode;
  message: string;
}

export type DecodedToken =
  | { ok: true; claims: TokenClaims; payload: string; signature: string }
  | { ok: false; error: TokenFailure };

export interface TokenValidation {
  valid: boolean;
  /** The subject (user id or widget id); null unless valid, as in pywry. */
  userId: string | null;
  issuedAt: number | null;
  expiresAt: number | null;
  /** Which secret in the list signed it: 0 is the current one, higher means a previous one. */
  secretIndex: number | null;
  error: TokenFailure | null;
}

export interface MintedToken extends TokenClaims {
  token: string;
}

/**
 * Parses text the way Python's `int()` does (ASCII digits only); null when Python would raise,
 * and also when the integer is beyond 2^53 - 1, where a JavaScript number is no longer exact
 * (a 400-digit issued_at would otherwise read as Infinity, and outlive every cut-off).
 */
export function parsePythonInt(text: string): number | null {
  const plain = plainDigits(text);
  if (plain !== null) return plain;
  const match = PY_INT.exec(text);
  if (!match) return null;
  const digits = (match[2] ?? "").replaceAll("_", "");
  if (digits.length > PY_INT_MAX_DIGITS) return null;
  const value = Number(digits);
  if (!Number.isSafeInteger(value)) return null;
  // -0 is 0, as in Python.
  return match[1] === "-" && value !== 0 ? -value : value;
}

/**
 * How far ahead of this clock a token's issued_at may be (a pywry host whose clock runs a little
 * ahead). A token issued further in the future is refused (ERR_TOKEN_NOT_YET_VALID) by
 * validation, `verify` and the middleware; 60 s, the leeway Kubernetes and most JWT libraries allow.
 */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/** Whether a token with this issued_at is from further in the future than the allowed skew. */
export function issuedInFuture(issuedAt: number, now: number): boolean {
  return issuedAt > now + MAX_CLOCK_SKEW_SECONDS;
}

/**
 * A plain run of 1 to 15 ASCII digits (how every token is minted) as a number, without the
 * regular expression; null for anything else, which parsePythonInt then reads the slow way.
 * 15 digits stay below 2^53, so the value is exact.
 */
function plainDigits(text: string): number | null {
  return plainDigitsAt(text, 0, text.length);
}

/** plainDigits over text[start, end), without slicing it out (the validation hot path). */
function plainDigitsAt(text: string, start: number, end: number): number | null {
  const length = end - start;
  if (length <= 0 || length > 15) return null;
  let value = 0;
  for (let i = start; i < end; i += 1) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  return value;
}

/** An integer field of a token, text[start, end), read the way Python's int() reads it. */
function intField(token: string, start: number, end: number): number | null {
  return plainDigitsAt(token, start, end) ?? parsePythonInt(token.slice(start, end));
}

/** Decodes a token without checking its signature. Never throws. */
export function decodeToken(token: unknown): DecodedToken {
  const split = splitToken(token);
  if (!split.ok) return split;
  const claims: TokenClaims = { subject: split.subject, issuedAt: split.issuedAt, expiresAt: split.expiresAt };
  return { ok: true, claims, payload: (token as string).slice(0, split.payloadEnd), signature: (token as string).slice(split.payloadEnd + 1) };
}

// Flat (one object, not claims inside a result): this runs once per token verified.
type SplitToken = ({ ok: true; payloadEnd: number } & TokenClaims) | { ok: false; error: TokenFailure };

/**
 * The format and integer checks of decodeToken, by index rather than split(): the payload is
 * the token up to its third ':' (the same text pywry rebuilds from the parts) and the signature
 * is the rest.
 */
function splitToken(token: unknown): SplitToken {
  if (typeof token !== "string") return malformed("token must be a string");
  if (token.length > MAX_TOKEN_LENGTH) return malformed(`token is longer than ${MAX_TOKEN_LENGTH} characters`);
  const first = token.indexOf(":");
  const second = first < 0 ? -1 : token.indexOf(":", first + 1);
  const third = second < 0 ? -1 : token.indexOf(":", second + 1);
  if (third < 0 || token.indexOf(":", third + 1) >= 0) {
    return malformed(`invalid token format: expected 4 ':'-separated parts, found ${token.split(":").length}`);
  }
  const issuedAt = intField(token, first + 1, second);
  const expiry = intField(token, second + 1, third);
  if (issuedAt === null || expiry === null) {
    return malformed(`token parse error: issued-at and expires-at must be integers (of at most ${Number.MAX_SAFE_INTEGER})`);
  }
  return { ok: true, subject: token.slice(0, first), issuedAt, expiresAt: expiry > 0 ? expiry : null, payloadEnd: third };
}

/**
 * Validates a token against one or more secrets (current first, then previous ones for key
 * rotation) as of `now`. Never throws on any input. After pywry's checks, a token issued more
 * than MAX_CLOCK_SKEW_SECONDS after `now` is refused (ERR_TOKEN_NOT_YET_VALID): pywry accepts it.
 */
export function validateToken(token: unknown, secrets: readonly string[], now: number): TokenValidation {
  const result = validateAt(token, secrets, now);
  if (result.valid && issuedInFuture(result.issuedAt ?? 0, now)) {
    return failure(
      { code: "ERR_TOKEN_NOT_YET_VALID", message: `token was issued in the future (more than ${MAX_CLOCK_SKEW_SECONDS} s ahead of this clock)` },
      { subject: result.userId ?? "", issuedAt: result.issuedAt ?? 0, expiresAt: result.expiresAt },
    );
  }
  return result;
}

/**
 * The format and signature checks of validateToken, without any time check (for callers that
 * check expiry and issue time themselves, per request, and cache this verdict).
 */
export function verifySignature(token: unknown, secrets: readonly string[]): TokenValidation {
  return validateAt(token, secrets, null);
}

/** pywry's checks in pywry's order; `now` null skips the expiry check. */
function validateAt(token: unknown, secrets: readonly string[], now: number | null): TokenValidation {
  const claims = splitToken(token);
  if (!claims.ok) return failure(claims.error, null);
  const payloadEnd = claims.payloadEnd;
  if (now !== null && claims.expiresAt !== null && claims.expiresAt < now) {
    return failure({ code: "ERR_TOKEN_EXPIRED", message: "token expired" }, claims);
  }
  // pywry compares hex text, so only the lowercase hex of the MAC matches; anything else that is
  // 64 hex digits long is a bad signature, and any other text a malformed one.
  const signatureStart = payloadEnd + 1;
  const secretIndex =
    (token as string).length - signatureStart === SIGNATURE_HEX_LENGTH
      ? findSigningSecret((token as string).slice(0, payloadEnd), token as string, signatureStart, secrets)
      : -1;
  if (secretIndex < 0 && !HEX_SIGNATURE.test((token as string).slice(signatureStart))) {
    return failure(
      { code: "ERR_TOKEN_MALFORMED", message: `signature must be ${SIGNATURE_HEX_LENGTH} hex characters` },
      claims,
    );
  }
  if (secretIndex < 0) {
    return failure({ code: "ERR_TOKEN_SIGNATURE", message: "invalid signature" }, claims);
  }
  return {
    valid: true,
    userId: claims.subject,
    issuedAt: claims.issuedAt,
    expiresAt: claims.expiresAt,
    secretIndex,
    error: null,
  };
}

/**
 * Which secret signed a well-formed token (0 = current), or null when none did. Ignores expiry:
 * for inspecting tokens, not for accepting them.
 */
export function signingSecretIndex(token: unknown, secrets: readonly string[]): number | null {
  const decoded = decodeToken(token);
  if (!decoded.ok || decoded.signature.length !== SIGNATURE_HEX_LENGTH) return null;
  const index = findSigningSecret(decoded.payload, decoded.signature, 0, secrets);
  return index < 0 ? null : index;
}

/** Validates, then requires the token's subject to be `expectedSubject` (widget id or user id). */
export function validateTokenFor(
  token: unknown,
  expectedSubject: string,
  secrets: readonly string[],
  now: number,
): TokenValidation {
  const result = validateToken(token, secrets, now);
  if (!result.valid || result.userId === expectedSubject) return result;
  return failure({ code: "ERR_TOKEN_SUBJECT", message: "token was issued for a different subject" }, {
    subject: result.userId ?? "",
    issuedAt: result.issuedAt ?? 0,
    expiresAt: result.expiresAt,
  });
}

/**
 * Mints a token exactly as pywry's `generate_session_token` does, but refuses what pywry would
 * mint and then never validate: bad subjects, empty secrets, expiry times already past.
 */
export function mintToken(options: {
  subject: string;
  secret: string;
  now: number;
  /** Unix seconds; null or undefined for a token that never expires. */
  expiresAt?: number | null;
  subjectLabel?: string;
}): MintedToken {
  const { subject, secret, now } = options;
  assertMintableSubject(subject, options.subjectLabel ?? "subject");
  assertUsableSecret(secret);
  const issuedAt = Math.trunc(now);
  const expiresAt = normaliseExpiry(options.expiresAt, now);
  const payload = `${subject}:${issuedAt}:${expiresAt ?? 0}`;
  const token = `${payload}:${sign(payload, secret)}`;
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new InvalidInputError(`${options.subjectLabel ?? "subject"} is too long: the token would exceed ${MAX_TOKEN_LENGTH} characters`);
  }
  return { token, subject, issuedAt, expiresAt };
}

/** Widget tokens are session tokens for the widget id that expire `ttl` seconds from now. */
export function mintWidgetToken(options: { widgetId: string; secret: string; ttl: number; now: number }): MintedToken {
  assertPositiveTtl(options.ttl);
  return mintToken({
    subject: options.widgetId,
    secret: options.secret,
    now: options.now,
    expiresAt: options.now + options.ttl,
    subjectLabel: "widget id",
  });
}

export function assertMintableSubject(subject: unknown, label = "subject"): asserts subject is string {
  if (typeof subject !== "string" || subject.length === 0) {
    throw new InvalidInputError(`${label} must be a non-empty string`);
  }
  if (subject.includes(":")) {
    throw new InvalidInputError(`${label} must not contain ':' (pywry splits tokens on ':', so such a token could never validate)`);
  }
  if (CONTROL_CHARACTER.test(subject)) {
    throw new InvalidInputError(`${label} must not contain control characters`);
  }
  if (!subject.isWellFormed()) {
    throw new InvalidInputError(`${label} must be well-formed Unicode (it contains a lone surrogate)`);
  }
}

export function assertPositiveTtl(ttl: unknown): asserts ttl is number {
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) {
    throw new InvalidInputError("TTL must be a positive number of seconds");
  }
}

function assertUsableSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new InvalidInputError("secret must be a non-empty string");
  }
}

function normaliseExpiry(expiresAt: number | null | undefined, now: number): number | null {
  if (expiresAt === undefined || expiresAt === null) return null;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) {
    throw new InvalidInputError("expiry must be a finite Unix time in seconds");
  }
  // pywry writes int(expires_at): truncation, not rounding.
  const truncated = Math.trunc(expiresAt);
  if (truncated < now) {
    throw new InvalidInputError("expiry is in the past: the token would never validate");
  }
  if (truncated > MAX_EXPIRY) {
    throw new InvalidInputError("expiry is after the year 9999: use no expiry instead");
  }
  return truncated;
}

function sign(payload: string, secret: string): string {
  return createHmac("sha256", keyFor(secret)).update(payload, "utf8").digest("hex");
}

/**
 * Which secret's HMAC is the signature written at text[start, start + 64), or -1. The MAC's hex
 * (encoded by OpenSSL's caller in C++, cheaper than decoding the signature into bytes and
 * comparing buffers) is compared with every character examined, whatever differs: constant time.
 */
function findSigningSecret(payload: string, text: string, start: number, secrets: readonly string[]): number {
  for (let index = 0; index < secrets.length; index += 1) {
    const secret = secrets[index];
    if (!secret || typeof secret !== "string") continue;
    const mac = createHmac("sha256", keyFor(secret)).update(payload, "utf8").digest("hex");
    if (sameHexAt(mac, text, start)) return index;
  }
  return -1;
}

function sameHexAt(mac: string, text: string, start: number): boolean {
  let difference = 0;
  for (let i = 0; i < SIGNATURE_HEX_LENGTH; i += 1) difference |= mac.charCodeAt(i) ^ text.charCodeAt(start + i);
  return difference === 0;
}

// Imported once per secret rather than on every call; a process holds a handful of secrets.
const KEYS = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 16;

function keyFor(secret: string): KeyObject {
  let key = KEYS.get(secret);
  if (!key) {
    if (KEYS.size >= MAX_CACHED_KEYS) KEYS.clear();
    key = createSecretKey(Buffer.from(secret, "utf8"));
    KEYS.set(secret, key);
  }
  return key;
}

function malformed(message: string): { ok: false; error: TokenFailure } {
  return { ok: false, error: { code: "ERR_TOKEN_MALFORMED", message } };
}

function failure(error: TokenFailure, claims: TokenClaims | null): TokenValidation {
  return {
    valid: false,
    userId: null,
    issuedAt: claims?.issuedAt ?? null,
    expiresAt: claims?.expiresAt ?? null,
    secretIndex: null,
    error,
  };
}
