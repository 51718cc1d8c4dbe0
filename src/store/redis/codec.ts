/**
 * Records as Redis hashes of strings, both ways: pywry's session hash exactly as pywry writes and
 * reads it (times as Python float text, JSON lists and metadata, the ttl field), and pywry-auth's
 * registry, revocation, cut-off and audit entries. The lifetimes Redis's EXPIRE can hold are
 * decided here too.
 */
import { handleForHash } from "../../core/handles.js";
import { pythonJson } from "../../core/pyjson.js";
import type { UserSession } from "../../core/session.js";
import type { AuditEvent } from "../audit.js";
import { decodeSession, parseNumber, parseObject, parseOptionalStringList, pythonFloat } from "../codec.js";
import type { AuditEntry, Revocation, TokenRecord } from "../types.js";

export type Hash = Record<string, string>;

/** A session hash as pywry's get_session reads it; null when there is no such key. */
export function toSession(sessionId: string, hash: Hash): UserSession | null {
  if (!hash || Object.keys(hash).length === 0) return null;
  const expires = parseNumber(hash["expires_at"]);
  return decodeSession(
    sessionId,
    hash["user_id"] ?? "",
    hash["roles"] ?? "[]",
    parseNumber(hash["created_at"]) ?? 0,
    // pywry: `float(data.get("expires_at", 0))`, and 0 never expires.
    expires ? expires : null,
    hash["metadata"],
  );
}

/**
 * A whole session hash in pywry's format. `ttl`: the session's lifetime (pywry's ttl field). A
 * session that never expires has expires_at "0" (pywry reads `float(expires_at)` and treats 0 as
 * "never") and no ttl field (so pywry's refresh_session falls back to its default TTL instead of
 * EXPIRE 0, which would delete it).
 */
export function sessionHash(session: UserSession, ttl: number | null): Hash {
  const hash: Hash = {
    user_id: session.userId,
    roles: pythonJson(session.roles),
    created_at: pythonFloat(session.createdAt),
    expires_at: session.expiresAt === null ? "0" : pythonFloat(session.expiresAt),
    metadata: pythonJson(session.metadata),
  };
  const ttlText = ttl === null ? null : ttlField(ttl);
  if (ttlText !== null) hash["ttl"] = ttlText;
  return hash;
}

export function toTokenRecord(hash: Hash): TokenRecord | null {
  if (!hash || hash["token_hash"] === undefined || hash["accessor"] === undefined) return null;
  return {
    accessor: hash["accessor"],
    tokenHash: hash["token_hash"],
    kind: hash["kind"] === "widget" ? "widget" : "session",
    subject: hash["subject"] ?? "",
    issuedAt: parseNumber(hash["issued_at"]) ?? 0,
    expiresAt: parseNumber(hash["expires_at"]),
    label: hash["label"] ?? null,
    roles: parseOptionalStringList(hash["roles"]),
    createdAt: parseNumber(hash["created_at"]) ?? 0,
    revokedAt: parseNumber(hash["revoked_at"]),
  };
}

/** A registry entry's hash; fields with no value are left out. */
export function tokenHash(record: TokenRecord): Hash {
  const hash: Hash = {
    token_hash: record.tokenHash,
    accessor: record.accessor,
    kind: record.kind,
    subject: record.subject,
    issued_at: String(record.issuedAt),
    created_at: String(record.createdAt),
  };
  if (record.expiresAt !== null) hash["expires_at"] = String(record.expiresAt);
  if (record.label !== null) hash["label"] = record.label;
  if (record.roles !== null) hash["roles"] = pythonJson(record.roles);
  if (record.revokedAt !== null) hash["revoked_at"] = String(record.revokedAt);
  return hash;
}

export function toRevocation(tokenHash: string, hash: Hash): Revocation | null {
  if (!hash || hash["revoked_at"] === undefined) return null;
  return {
    tokenHash,
    accessor: hash["accessor"] ?? handleForHash(tokenHash),
    subject: hash["subject"] ?? null,
    revokedAt: parseNumber(hash["revoked_at"]) ?? 0,
    expiresAt: parseNumber(hash["expires_at"]),
    reason: hash["reason"] ?? null,
  };
}

/** A revocation's hash (its token hash is in the key); fields with no value are left out. */
export function revocationHash(revocation: Revocation): Hash {
  const hash: Hash = { accessor: revocation.accessor, revoked_at: String(revocation.revokedAt) };
  if (revocation.subject !== null) hash["subject"] = revocation.subject;
  if (revocation.expiresAt !== null) hash["expires_at"] = String(revocation.expiresAt);
  if (revocation.reason !== null) hash["reason"] = revocation.reason;
  return hash;
}

export function cutoffHash(cutoffAt: number, reason: string | null): Hash {
  return reason === null ? { cutoff_at: String(cutoffAt) } : { cutoff_at: String(cutoffAt), reason };
}

/** An audit event's stream fields after its number (the audit script puts `id` first). */
export function auditFields(at: number, event: AuditEvent, actor: string | null): string[] {
  const fields = ["at", String(at), "action", event.action];
  if (event.subject !== null) fields.push("subject", event.subject);
  if (event.target !== null) fields.push("target", event.target);
  if (actor !== null) fields.push("actor", actor);
  fields.push("detail", JSON.stringify(event.detail));
  return fields;
}

export function toAuditEntry([, fields]: [id: string, fields: string[]]): AuditEntry {
  const hash: Hash = {};
  for (let i = 0; i + 1 < fields.length; i += 2) hash[fields[i]!] = fields[i + 1]!;
  return {
    id: parseNumber(hash["id"]) ?? 0,
    at: parseNumber(hash["at"]) ?? 0,
    action: hash["action"] ?? "",
    subject: hash["subject"] ?? null,
    target: hash["target"] ?? null,
    actor: hash["actor"] ?? null,
    detail: parseObject(hash["detail"] ?? "{}"),
  };
}

/**
 * The longest EXPIRE queued: about 31 million years. Redis refuses an EXPIRE whose time in
 * milliseconds overflows (from about 9.2e15 s), and inside MULTI a refused command does not undo
 * the others: the revocation and its audit entry would be written without their EXPIRE, and the
 * command reported as failed. So a lifetime beyond this is kept without EXPIRE (expires_at still
 * says when, and pywry reads that), decided before the transaction.
 */
const MAX_EXPIRE_SECONDS = 1e15;

/**
 * The whole seconds to EXPIRE a key that lives `seconds` more (Redis takes whole seconds; never 0
 * or less, which would delete the key at once), or null when the lifetime is too long for one
 * (see MAX_EXPIRE_SECONDS).
 */
export function expireSeconds(seconds: number): number | null {
  const whole = Math.max(1, Math.ceil(seconds));
  return Number.isFinite(whole) && whole <= MAX_EXPIRE_SECONDS ? whole : null;
}

/** pywry's ttl field for a lifetime, or null when it is too long for pywry's own EXPIRE. */
function ttlField(seconds: number): string | null {
  const whole = expireSeconds(seconds);
  return whole === null ? null : String(whole);
}
