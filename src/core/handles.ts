/**
 * Non-secret handles. A session id is a credential (pywry accepts it as a cookie, and for a
 * token's session it is the token), so lists and logs name sessions and tokens by a short prefix
 * of the SHA-256 of the id instead. A token's accessor is the same handle, so a token and the
 * session pywry-auth made for it are always listed under one name.
 */
import { createHash } from "node:crypto";

export const HANDLE_LENGTH = 16;
const HANDLE_PATTERN = /^[0-9a-f]{16}$/;

/** SHA-256 of the UTF-8 text, lowercase hex. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export function handleForHash(hash: string): string {
  return hash.slice(0, HANDLE_LENGTH);
}

/** The handle of a session id or token (its accessor). */
export function handleFor(secretId: string): string {
  return handleForHash(sha256Hex(secretId));
}

export function looksLikeHandle(text: string): boolean {
  return HANDLE_PATTERN.test(text);
}
