/**
 * What the audit log says about each change, decided once for every backend: the action, whom it
 * was about, the handle it names and its detail. A backend appends the event in the same atomic
 * step as the change. Events name handles and accessors, never a session id or a token. Also here:
 * why a token no longer counts (its own revocation, or its user's cut-off), which every backend
 * decides from what it reads.
 */
import { userInfo } from "node:os";
import { handleFor, handleForHash } from "../core/handles.js";
import type { UserSession } from "../core/session.js";
import { TRANSFER_KINDS } from "./transfer.js";
import type { AuditEntry, AuditFilter, Revocation, RevocationCause, TokenRecord, TransferCounts } from "./types.js";

/** One change, as the audit log records it (the store adds when and who). */
export interface AuditEvent {
  action: string;
  /** The user (or, for role changes, the role) the change was about. */
  subject: string | null;
  /** The accessor of the token or the handle of the session, when there is one. */
  target: string | null;
  detail: Record<string, unknown>;
}

export function sessionCreated(session: UserSession): AuditEvent {
  return event("session.create", session.userId, handleFor(session.sessionId), { roles: session.roles, expires_at: session.expiresAt });
}

export function sessionDeleted(session: Pick<UserSession, "sessionId" | "userId">): AuditEvent {
  return event("session.delete", session.userId, handleFor(session.sessionId), {});
}

export function sessionRefreshed(session: Pick<UserSession, "sessionId" | "userId">, expiresAt: number): AuditEvent {
  return event("session.refresh", session.userId, handleFor(session.sessionId), { expires_at: expiresAt });
}

/** A metadata edit (a grant or an ungrant): the action and detail are the edit's (see AuthStoreBase). */
export function sessionMetadataChanged(session: Pick<UserSession, "sessionId" | "userId">, action: string, detail: Record<string, unknown>): AuditEvent {
  return event(action, session.userId, handleFor(session.sessionId), detail);
}

/** One committed purge: how many sessions, of how many users (plus what else it cleaned up). */
export function sessionsPurged(count: number, users: number, extra: Record<string, unknown> = {}): AuditEvent {
  return event("session.purge", null, null, { count, users, ...extra });
}

export function roleSet(role: string, before: string[] | null, after: string[]): AuditEvent {
  return event("role.set", role, null, { before, after });
}

export function roleDeleted(role: string, before: string[]): AuditEvent {
  return event("role.delete", role, null, { before });
}

/** A token recorded in the registry, with the roles of the session made with it (null: none). */
export function tokenMinted(record: TokenRecord, sessionRoles: string[] | null): AuditEvent {
  return event("token.mint", record.subject, record.accessor, {
    kind: record.kind,
    expires_at: record.expiresAt,
    roles: sessionRoles,
    label: record.label,
  });
}

/** A revocation as asked for (its subject and reason), of the token with this accessor. */
export function tokenRevoked(request: Pick<Revocation, "subject" | "reason">, accessor: string, sessionsDeleted: number): AuditEvent {
  return event("token.revoke", request.subject, accessor, { sessions_deleted: sessionsDeleted, reason: request.reason });
}

export function tokenRenewed(oldTokenHash: string, record: TokenRecord): AuditEvent {
  return event("token.renew", record.subject, record.accessor, { replaced: handleForHash(oldTokenHash), expires_at: record.expiresAt });
}

export function userRevoked(userId: string, cutoffAt: number, sessionsDeleted: number, tokensRevoked: number, reason: string | null): AuditEvent {
  return event("user.revoke", userId, null, { cutoff_at: cutoffAt, sessions_deleted: sessionsDeleted, tokens_revoked: tokensRevoked, reason });
}

/** An import: where from, and only the non-zero counts. */
export function recordsImported(counts: TransferCounts, source: string | undefined): AuditEvent {
  const detail: Record<string, unknown> = { source: source ?? null };
  for (const kind of TRANSFER_KINDS) {
    const { added, updated } = counts[kind];
    if (added + updated > 0) detail[kind] = { added, updated };
  }
  return event("store.import", null, null, detail);
}

/**
 * Why a token no longer counts, from what the store holds: its own revocation ("token") first,
 * else a cut-off of its user at or after its issue time ("user"); null when it still counts.
 */
export function revocationCause(revoked: boolean, userCutoff: number | null | undefined, issuedAt: number): RevocationCause | null {
  if (revoked) return "token";
  return typeof userCutoff === "number" && issuedAt <= userCutoff ? "user" : null;
}

/** Who the audit log says made the changes when a store is not told: the OS user. */
export function defaultActor(): string | null {
  try {
    return userInfo().username;
  } catch {
    return process.env["USER"] ?? null;
  }
}

function event(action: string, subject: string | null, target: string | null, detail: Record<string, unknown>): AuditEvent {
  return { action, subject, target, detail };
}

/** Whether an entry passes an audit filter's since, action (itself or a sub-action) and subject. */
export function auditEntryMatches(filter: AuditFilter): (entry: AuditEntry) => boolean {
  return (entry) =>
    (filter.since === undefined || entry.at >= filter.since) &&
    (filter.action === undefined || entry.action === filter.action || entry.action.startsWith(`${filter.action}.`)) &&
    (filter.subject === undefined || entry.subject === filter.subject);
}
