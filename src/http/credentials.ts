/**
 * Reading the three places pywry looks for a credential (the session cookie, a Bearer token in
 * the auth header, the `session` query parameter), defensively: a malformed, oversized or
 * ambiguous input reads as "no credential", never as an exception, so a hostile request cannot
 * crash a server or make it do expensive work.
 */
import type { AuthConfig } from "../core/config.js";

/**
 * The longest header value (the Cookie header, the auth header) and request target read, in
 * characters. Longer ones are ignored without being parsed: 8 KiB is nginx's default limit for
 * one header line, and far above any pywry token or session id.
 */
export const MAX_AUTH_HEADER_LENGTH = 8 * 1024;

/** The query parameter pywry reads a session id from (its WebSocket clients send it there). */
export const SESSION_QUERY_PARAMETER = "session";

/** What a request offers; null where it offers nothing usable. Values are decoded. */
export interface Credentials {
  cookie: string | null;
  bearer: string | null;
  query: string | null;
}

/**
 * Anything shaped like Node's IncomingMessage: an http request, an upgrade request, Connect's or
 * Express's request. Header names may be in any case; `rawHeaders`, when present, is used to
 * notice repeated headers that Node folds into one value.
 */
export interface NodeRequestLike {
  headers: Record<string, string | string[] | undefined>;
  url?: string | undefined;
  /** Express and Connect keep the full URL here when a middleware is mounted under a path. */
  originalUrl?: string | undefined;
  rawHeaders?: readonly string[] | undefined;
}

/** The Fetch API's Request (Hono, Next.js route handlers, Bun, Deno), structurally. */
export interface FetchRequestLike {
  headers: { get(name: string): string | null };
  url: string;
}

export type CredentialConfig = Pick<AuthConfig, "sessionCookie" | "authHeader">;

export function credentialsOfNodeRequest(req: NodeRequestLike, config: CredentialConfig): Credentials {
  const cookieHeader = joinedHeader(req, "cookie");
  const authHeader = singleHeader(req, config.authHeader);
  return {
    cookie: cookieHeader === null ? null : cookieValue(cookieHeader, config.sessionCookie),
    bearer: authHeader === null ? null : bearerToken(authHeader),
    query: sessionFromQuery(splitTarget(requestTarget(req)).query),
  };
}

export function credentialsOfFetchRequest(request: FetchRequestLike, config: CredentialConfig): Credentials {
  // The Fetch API joins repeated headers with ", "; a Bearer value so joined is not a valid
  // token, so repeated auth headers still give no session.
  const cookieHeader = boundedHeader(request.headers.get("cookie"));
  const authHeader = boundedHeader(request.headers.get(config.authHeader));
  return {
    cookie: cookieHeader === null ? null : cookieValue(cookieHeader, config.sessionCookie),
    bearer: authHeader === null ? null : bearerToken(authHeader),
    query: sessionFromQuery(splitTarget(typeof request.url === "string" ? request.url : "").query),
  };
}

/** The request target to read paths and queries from: the full one when a framework kept it. */
export function requestTarget(req: Pick<NodeRequestLike, "url" | "originalUrl">): string {
  if (typeof req.originalUrl === "string") return req.originalUrl;
  return typeof req.url === "string" ? req.url : "";
}

/**
 * Splits a request target into its raw path and raw query. Handles origin-form (`/a?b`) and
 * absolute-form (`http://host/a?b`, sent to proxies); anything else (`*`) has no path. Targets
 * longer than MAX_AUTH_HEADER_LENGTH yield nothing.
 */
export function splitTarget(target: string): { path: string | null; query: string } {
  if (target.length > MAX_AUTH_HEADER_LENGTH) return { path: null, query: "" };
  const hash = target.indexOf("#");
  const withoutFragment = hash < 0 ? target : target.slice(0, hash);
  const question = withoutFragment.indexOf("?");
  const path = question < 0 ? withoutFragment : withoutFragment.slice(0, question);
  const query = question < 0 ? "" : withoutFragment.slice(question + 1);
  if (path.startsWith("/")) return { path, query };
  const origin = ABSOLUTE_ORIGIN.exec(path);
  return { path: origin ? path.slice(origin[0].length) || "/" : null, query };
}

const ABSOLUTE_ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/;

/** The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive (RFC 9110). */
export function bearerToken(value: string): string | null {
  const trimmed = value.trim();
  if (trimmed.length <= BEARER.length || trimmed.slice(0, BEARER.length).toLowerCase() !== BEARER) return null;
  const separator = trimmed.charAt(BEARER.length);
  if (separator !== " " && separator !== "\t") return null;
  const token = trimmed.slice(BEARER.length + 1).trimStart();
  return token.length > 0 ? token : null;
}

const BEARER = "bearer";

/**
 * The decoded value of cookie `name` in a Cookie header. When the name appears more than once
 * the first wins (browsers send the most specific path first, RFC 6265 §5.4). A value that is
 * empty or not valid percent-encoding is no value.
 */
export function cookieValue(header: string, name: string): string | null {
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals < 0 || pair.slice(0, equals).trim() !== name) continue;
    return nonEmpty(percentDecode(unquote(pair.slice(equals + 1).trim())));
  }
  return null;
}

/**
 * The decoded `session` query parameter (form encoding: `+` is a space). Given more than once, the
 * request is ambiguous and offers nothing: frameworks disagree on whether the first or the last
 * counts, and an attacker could exploit the difference.
 */
export function sessionFromQuery(query: string): string | null {
  let found: string | null | undefined;
  for (const part of query.split("&")) {
    const equals = part.indexOf("=");
    const key = formDecode(equals < 0 ? part : part.slice(0, equals));
    if (key !== SESSION_QUERY_PARAMETER) continue;
    if (found !== undefined) return null;
    found = equals < 0 ? null : nonEmpty(formDecode(part.slice(equals + 1)));
  }
  return found ?? null;
}

/** All values of a header, joined as Node joins repeated Cookie headers; null when absent or too long. */
function joinedHeader(req: NodeRequestLike, name: string): string | null {
  const values = headerValues(req, name);
  return values.length === 0 ? null : boundedHeader(values.join("; "));
}

/**
 * The one value of a header that must not repeat. Node keeps only the first of repeated
 * Authorization headers and joins repeats of unknown headers with ", ", so repeats are found in
 * `rawHeaders`; a repeated header is ambiguous and reads as absent.
 */
function singleHeader(req: NodeRequestLike, name: string): string | null {
  const values = headerValues(req, name);
  if (values.length !== 1 || rawHeaderCount(req, name) > 1) return null;
  return boundedHeader(values[0] ?? null);
}

function headerValues(req: NodeRequestLike, name: string): string[] {
  const wanted = name.toLowerCase();
  const headers = req.headers ?? {};
  const values: string[] = [];
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    const value = headers[key];
    for (const item of Array.isArray(value) ? value : [value]) if (typeof item === "string") values.push(item);
  }
  return values;
}

function rawHeaderCount(req: NodeRequestLike, name: string): number {
  const raw = req.rawHeaders;
  if (!Array.isArray(raw)) return 0;
  const wanted = name.toLowerCase();
  let count = 0;
  for (let index = 0; index < raw.length; index += 2) if (String(raw[index]).toLowerCase() === wanted) count += 1;
  return count;
}

function boundedHeader(value: string | null): string | null {
  return typeof value === "string" && value.length <= MAX_AUTH_HEADER_LENGTH ? value : null;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

function formDecode(text: string): string | null {
  return percentDecode(text.replaceAll("+", " "));
}

/** decodeURIComponent, with invalid escapes or invalid UTF-8 giving null instead of throwing. */
function percentDecode(text: string): string | null {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function nonEmpty(value: string | null): string | null {
  return value === null || value.length === 0 ? null : value;
}
