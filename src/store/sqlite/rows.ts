/**
 * The SQLite tables' rows as the driver returns them, and the records they hold. pywry's columns
 * (sessions, role_permissions) keep pywry's encodings: JSON text for lists and metadata, REAL
 * seconds for times (see ../codec.ts).
 */
import type { UserSession } from "../../core/session.js";
import { decodeSession, parseObject, parseOptionalStringList } from "../codec.js";
import type { AuditEntry, Revocation, TokenKind, TokenRecord } from "../types.js";

export interface SessionRow {
  session_id: string;
  user_id: string;
  roles: string;
  created_at: number;
  expires_at: number | null;
  metadata: string | null;
}

export interface TokenRow {
  token_hash: string;
  accessor: string;
  kind: TokenKind;
  subject: string;
  issued_at: number;
  expires_at: number | null;
  label: string | null;
  roles: string | null;
  created_at: number;
  revoked_at: number | null;
}

export interface AuditRow {
  id: number;
  at: number;
  action: string;
  subject: string | null;
  target: string | null;
  actor: string | null;
  detail: string;
}

export interface RevocationRow {
  token_hash: string;
  accessor: string;
  subject: string | null;
  revoked_at: number;
  expires_at: number | null;
  reason: string | null;
}

export interface CutoffRow {
  user_id: string;
  cutoff_at: number;
  reason: string | null;
}

/** sessionPages' raw rows: rowid, then the columns in the order of SessionRow. */
export type RawSessionRow = [number, string, string, string, number, number | null, string | null];
/** tokenPages' raw rows: rowid, accessor, token_hash, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at. */
export type RawTokenRow = [number, string, string, TokenKind, string, number, number | null, string | null, string | null, number, number | null];

export function toSession(row: SessionRow): UserSession {
  return decodeSession(row.session_id, row.user_id, row.roles, row.created_at, row.expires_at, row.metadata);
}

export function rawToSession([, sessionId, userId, roles, createdAt, expiresAt, metadata]: RawSessionRow): UserSession {
  return decodeSession(sessionId, userId, roles, createdAt, expiresAt, metadata);
}

export function toTokenRecord(row: TokenRow): TokenRecord {
  return {
    accessor: row.accessor,
    tokenHash: row.token_hash,
    kind: row.kind,
    subject: row.subject,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    label: row.label,
    roles: parseOptionalStringList(row.roles),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export function rawToTokenRecord([, accessor, tokenHash, kind, subject, issuedAt, expiresAt, label, roles, createdAt, revokedAt]: RawTokenRow): TokenRecord {
  return { accessor, tokenHash, kind, subject, issuedAt, expiresAt, label, roles: parseOptionalStringList(roles), createdAt, revokedAt };
}

export function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    action: row.action,
    subject: row.subject,
    target: row.target,
    actor: row.actor,
    detail: parseObject(row.detail),
  };
}

export function toRevocation(row: RevocationRow): Revocation {
  return {
    tokenHash: row.token_hash,
    accessor: row.accessor,
    subject: row.subject,
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    reason: row.reason,
  };
}
