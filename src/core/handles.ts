/**
 * Non-secret handles. A session id is a credential (pywry accepts it as a cookie, and for a
 * token's session it is the token), so lists and logs name sessions and tokens by a short prefix
 * of the SHA-256 of the id instead. A token's accessor is the same handle, so a token and the
 * session pywry-auth made for it are always listed under one name.
 */
import * as crypto from "node:crypto";

export const HANDLE_LENGTH = 16;
const HANDLE_PATTERN = /^[0-9a-f]{16}$/;

/** SHA-256 of the UTF-8 text, lowercase hex. */
export function sha256Hex(text: string): string {
  return ONE_SHOT_HASH ? ONE_SHOT_HASH("sha256", text, "hex") : crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

// crypto.hash (Node 20.12 and later) skips the Hash object: about a third cheaper per token
// hashed for a revocation look-up. Earlier Node 20 releases take the createHash path.
const ONE_SHOT_HASH: typeof crypto.hash | undefined = typeof crypto.hash === "function" ? crypto.hash : undefined;

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
