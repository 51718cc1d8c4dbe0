/**
 * Every statement the SQLite store runs more than in one place, each written once and prepared
 * once per connection: the writes (in pywry's encodings) and the look-ups by key. Statements are
 * prepared on first use, so one on pywry-auth's tables is never prepared before they exist.
 */
import type Database from "better-sqlite3-multiple-ciphers";
import { pythonJson } from "../../core/pyjson.js";
import type { UserSession } from "../../core/session.js";
import type { AuditEvent } from "../audit.js";
import { parseStringList } from "../codec.js";
import type { Revocation, TokenRecord } from "../types.js";
import { toRevocation, toSession, toTokenRecord, type RevocationRow, type SessionRow, type TokenRow } from "./rows.js";

/** Expired as pywry reads it (any non-zero expiry in the past, negative ones included); one parameter: now. */
export const EXPIRED_CONDITION = "expires_at IS NOT NULL AND expires_at != 0 AND expires_at < ?";

const TOKEN_COLUMNS = "(token_hash, accessor, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const REVOCATION_COLUMNS = "(token_hash, accessor, subject, revoked_at, expires_at, reason) VALUES (?, ?, ?, ?, ?, ?)";

export class Statements {
  // One cache per mode, keyed by the SQL text itself: the hot paths pass the same string literal
  // every time, whose hash V8 keeps, so a look-up builds no key.
  private readonly plain = new Map<string, Database.Statement>();
  private readonly pluckedRows = new Map<string, Database.Statement>();
  private readonly rawRows = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** A prepared statement for `sql`, compiled once per connection. */
  get(sql: string): Database.Statement {
    return this.plain.get(sql) ?? this.prepare(this.plain, sql, "plain");
  }

  /** A cached statement that returns the first column only (pluck mode is per statement). */
  plucked(sql: string): Database.Statement {
    return this.pluckedRows.get(sql) ?? this.prepare(this.pluckedRows, sql, "pluck");
  }

  /** A cached statement that returns rows as arrays (raw mode is per statement). */
  raw(sql: string): Database.Statement {
    return this.rawRows.get(sql) ?? this.prepare(this.rawRows, sql, "raw");
  }

  // ---- look-ups by key -------------------------------------------------------------------

  session(sessionId: string): UserSession | null {
    const row = this.get("SELECT * FROM sessions WHERE session_id = ?").get(sessionId) as SessionRow | undefined;
    return row ? toSession(row) : null;
  }

  role(role: string): string[] | null {
    const text = this.plucked("SELECT permissions FROM role_permissions WHERE role = ?").get(role) as string | undefined;
    return text === undefined ? null : parseStringList(text);
  }

  tokenByHash(tokenHash: string): TokenRecord | null {
    const row = this.get("SELECT * FROM pywry_auth_tokens WHERE token_hash = ?").get(tokenHash) as TokenRow | undefined;
    return row ? toTokenRecord(row) : null;
  }

  tokenByAccessor(accessor: string): TokenRecord | null {
    const row = this.get("SELECT * FROM pywry_auth_tokens WHERE accessor = ?").get(accessor) as TokenRow | undefined;
    return row ? toTokenRecord(row) : null;
  }

  revocation(tokenHash: string): Revocation | null {
    const row = this.get("SELECT * FROM pywry_auth_revocations WHERE token_hash = ?").get(tokenHash) as RevocationRow | undefined;
    return row ? toRevocation(row) : null;
  }

  cutoff(userId: string): number | null {
    const value = this.plucked("SELECT cutoff_at FROM pywry_auth_user_cutoffs WHERE user_id = ?").get(userId);
    return typeof value === "number" ? value : null;
  }

  // ---- writes ----------------------------------------------------------------------------

  /** A whole session row, as pywry's create_session writes it (INSERT OR REPLACE). */
  upsertSession(session: UserSession): void {
    this.get("INSERT OR REPLACE INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, ?, ?, ?, ?, ?)").run(
      session.sessionId,
      session.userId,
      pythonJson(session.roles),
      session.createdAt,
      session.expiresAt,
      pythonJson(session.metadata),
    );
  }

  deleteSession(sessionId: string): number {
    return this.get("DELETE FROM sessions WHERE session_id = ?").run(sessionId).changes;
  }

  deleteUserSessions(userId: string): number {
    return this.get("DELETE FROM sessions WHERE user_id = ?").run(userId).changes;
  }

  setSessionExpiry(sessionId: string, expiresAt: number): void {
    this.get("UPDATE sessions SET expires_at = ? WHERE session_id = ?").run(expiresAt, sessionId);
  }

  setSessionMetadata(sessionId: string, metadata: Record<string, unknown>): void {
    this.get("UPDATE sessions SET metadata = ? WHERE session_id = ?").run(pythonJson(metadata), sessionId);
  }

  upsertRole(role: string, permissions: readonly string[]): void {
    this.get("INSERT OR REPLACE INTO role_permissions (role, permissions) VALUES (?, ?)").run(role, pythonJson(permissions));
  }

  deleteRole(role: string): void {
    this.get("DELETE FROM role_permissions WHERE role = ?").run(role);
  }

  /** A new registry entry; fails (UNIQUE) when the token or its accessor is already recorded. */
  insertToken(record: TokenRecord): void {
    this.get(`INSERT INTO pywry_auth_tokens ${TOKEN_COLUMNS}`).run(...tokenValues(record));
  }

  /** A registry entry as it is, new or replacing one (imports). */
  upsertToken(record: TokenRecord): void {
    this.get(`INSERT OR REPLACE INTO pywry_auth_tokens ${TOKEN_COLUMNS}`).run(...tokenValues(record));
  }

  markTokenRevoked(tokenHash: string, revokedAt: number): void {
    this.get("UPDATE pywry_auth_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL").run(revokedAt, tokenHash);
  }

  /** Marks the subject's entries issued up to the cut-off as revoked; how many were. */
  markUserTokensRevoked(subject: string, revokedAt: number, cutoffAt: number): number {
    return this.get("UPDATE pywry_auth_tokens SET revoked_at = ? WHERE subject = ? AND revoked_at IS NULL AND issued_at <= ?").run(revokedAt, subject, cutoffAt)
      .changes;
  }

  insertRevocation(revocation: Revocation): void {
    this.get(`INSERT INTO pywry_auth_revocations ${REVOCATION_COLUMNS}`).run(...revocationValues(revocation));
  }

  upsertRevocation(revocation: Revocation): void {
    this.get(`INSERT OR REPLACE INTO pywry_auth_revocations ${REVOCATION_COLUMNS}`).run(...revocationValues(revocation));
  }

  upsertCutoff(userId: string, cutoffAt: number, reason: string | null): void {
    this.get("INSERT OR REPLACE INTO pywry_auth_user_cutoffs (user_id, cutoff_at, reason) VALUES (?, ?, ?)").run(userId, cutoffAt, reason);
  }

  appendAudit(at: number, event: AuditEvent, actor: string | null): void {
    this.get("INSERT INTO pywry_auth_audit (at, action, subject, target, actor, detail) VALUES (?, ?, ?, ?, ?, ?)").run(
      at,
      event.action,
      event.subject,
      event.target,
      actor,
      JSON.stringify(event.detail),
    );
  }

  private prepare(cache: Map<string, Database.Statement>, sql: string, mode: "plain" | "pluck" | "raw"): Database.Statement {
    const prepared = this.db.prepare(sql);
    const statement = mode === "pluck" ? prepared.pluck() : mode === "raw" ? prepared.raw() : prepared;
    cache.set(sql, statement);
    return statement;
  }
}

function tokenValues(record: TokenRecord): unknown[] {
  return [
    record.tokenHash,
    record.accessor,
    record.kind,
    record.subject,
    record.issuedAt,
    record.expiresAt,
    record.label,
    record.roles === null ? null : pythonJson(record.roles),
    record.createdAt,
    record.revokedAt,
  ];
}

function revocationValues(revocation: Revocation): unknown[] {
  return [revocation.tokenHash, revocation.accessor, revocation.subject, revocation.revokedAt, revocation.expiresAt, revocation.reason];
}
