/** MemorySessionStore: the same contract as the SQLite store, for tests and single-process servers. */
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../core/handles.js";
import { cloneJson } from "../core/pyjson.js";
import { DEFAULT_ROLE_PERMISSIONS, DEFAULT_ROLES } from "../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../core/session.js";
import { AuthStoreBase, sessionIdTaken, type MetadataChange } from "./base.js";
import { newestThenHandle, pageSizeOf, pagesOf, parseTimeHandleCursor, timeHandleCursor } from "./paging.js";
import * as audit from "./audit.js";
import { changedAnything, emptyExisting, planImport, sessionBars } from "./transfer.js";
import {
  AuditEntry,
  AuditFilter,
  HealthFinding,
  ImportOptions,
  ListPage,
  PageOptions,
  StoreTransfer,
  TransferCounts,
  UserCutoff,
  RevocationCause,
  RevocationQuery,
  UserRevocation,
  NewSession,
  Revocation,
  RevokeResult,
  RoleEdit,
  RoleUpdate,
  SessionFilter,
  TokenFilter,
  TokenRecord,
  matchesTokenFilter,
} from "./types.js";

export interface MemoryStoreOptions {
  /** The clock, in Unix seconds. */
  now?: () => number;
  /** Who the audit log says made the changes. */
  actor?: string;
}

export class MemorySessionStore extends AuthStoreBase {
  private readonly sessions = new Map<string, UserSession>();
  private readonly roles = new Map<string, string[]>(
    Object.entries(DEFAULT_ROLE_PERMISSIONS).map(([role, permissions]) => [role, [...permissions]]),
  );
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly revocations = new Map<string, Revocation>();
  private readonly cutoffs = new Map<string, number>();
  private readonly cutoffReasons = new Map<string, string | null>();
  private readonly auditLog: AuditEntry[] = [];
  private readonly now: () => number;
  private readonly actor: string | null;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.now = options.now ?? (() => Date.now() / 1000);
    this.actor = options.actor ?? null;
  }

  async createSession(
    sessionId: string,
    userId: string,
    roles?: string[] | null,
    ttl?: number | null,
    metadata?: Record<string, unknown> | null,
  ): Promise<UserSession> {
    const session = this.insertSession({ sessionId, userId, roles: roles ?? undefined, ttl, metadata: metadata ?? undefined });
    this.record(audit.sessionCreated(session));
    return session;
  }

  async getSession(sessionId: string): Promise<UserSession | null> {
    const session = this.sessions.get(sessionId);
    return session && isSessionLive(session, this.now()) ? copySession(session) : null;
  }


  async deleteSession(sessionId: string): Promise<boolean> {
    const session = this.sessions.get(sessionId);
    if (!session) return false;
    this.sessions.delete(sessionId);
    this.record(audit.sessionDeleted(session));
    return true;
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    const session = this.sessions.get(sessionId);
    if (!session || !isSessionLive(session, this.now())) return false;
    if (extendTtl) {
      session.expiresAt = this.now() + extendTtl;
      this.record(audit.sessionRefreshed(session, session.expiresAt));
    }
    return true;
  }


  async listSessions(filter: SessionFilter = {}): Promise<UserSession[]> {
    const now = this.now();
    return [...this.sessions.values()]
      .filter((session) => filter.userId === undefined || session.userId === filter.userId)
      .filter((session) => filter.includeExpired || isSessionLive(session, now))
      .sort((a, b) => b.createdAt - a.createdAt)
      .map(copySession);
  }

  /** The default's order and cursors, without copying every session first: only each page. */
  override async *sessionPages(filter: SessionFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<UserSession>> {
    const after = page.after === undefined ? null : parseTimeHandleCursor(page.after);
    const now = this.now();
    const matching = [...this.sessions.values()].filter(
      (session) => (filter.userId === undefined || session.userId === filter.userId) && (filter.includeExpired || isSessionLive(session, now)),
    );
    const pages = pagesOf(matching, {
      key: (session) => ({ at: session.createdAt, handle: handleFor(session.sessionId) }),
      cursor: (key) => timeHandleCursor(key.at, key.handle),
      compare: newestThenHandle,
      after,
      size: pageSizeOf(page),
    });
    for await (const { rows, cursors } of pages) yield { rows: rows.map(copySession), cursors };
  }

  async findSession(idOrHandle: string): Promise<UserSession | null> {
    const exact = this.sessions.get(idOrHandle);
    if (exact) return copySession(exact);
    if (!looksLikeHandle(idOrHandle)) return null;
    const match = [...this.sessions.values()].find((session) => handleFor(session.sessionId) === idOrHandle);
    return match ? copySession(match) : null;
  }


  async getRolePermissions(role: string): Promise<string[] | null> {
    const permissions = this.roles.get(role);
    return permissions ? [...permissions] : null;
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    const before = this.roles.get(role) ?? null;
    const after = [...new Set(permissions)];
    this.roles.set(role, after);
    this.record(audit.roleSet(role, before, after));
  }

  async updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate> {
    const before = this.roles.has(role) ? [...this.roles.get(role)!] : null;
    const after = AuthStoreBase.plannedRole(before, edit);
    if (after === null) return { before, after: before, changed: false };
    this.roles.set(role, after);
    this.record(audit.roleSet(role, before, after));
    return { before, after: [...after], changed: true };
  }

  async deleteRole(role: string): Promise<boolean> {
    const before = this.roles.get(role);
    if (!before) return false;
    this.roles.delete(role);
    this.record(audit.roleDeleted(role, before));
    return true;
  }



  async purgeExpired(options: { dryRun?: boolean } = {}): Promise<UserSession[]> {
    const now = this.now();
    const expired = [...this.sessions.values()]
      .filter((session) => !isSessionLive(session, now))
      .sort((a, b) => (a.expiresAt ?? 0) - (b.expiresAt ?? 0));
    if (options.dryRun || expired.length === 0) return expired.map(copySession);
    for (const session of expired) this.sessions.delete(session.sessionId);
    this.record(audit.sessionsPurged(expired.length, new Set(expired.map((s) => s.userId)).size));
    return expired.map(copySession);
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return new Map([...this.roles.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([role, perms]) => [role, [...perms]]));
  }

  async recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null> {
    this.assertSessionIdFree(session ?? null);
    return this.recordToken(record, session ?? null);
  }

  async findToken(query: { accessor: string } | { tokenHash: string }): Promise<TokenRecord | null> {
    const record =
      "tokenHash" in query
        ? this.tokens.get(query.tokenHash)
        : [...this.tokens.values()].find((candidate) => candidate.accessor === query.accessor);
    return record ? { ...record } : null;
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    const now = this.now();
    return [...this.tokens.values()]
      .filter((record) => matchesTokenFilter(record, filter, now))
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((record) => ({ ...record }));
  }

  async revokeToken(request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    return this.revoke(request);
  }

  async renewToken(
    old: Omit<Revocation, "revokedAt" | "accessor">,
    record: TokenRecord,
    session: NewSession | null,
  ): Promise<UserSession | null> {
    this.assertSessionIdFree(session);
    this.revoke(old);
    const created = this.recordToken(record, session);
    this.record(audit.tokenRenewed(old.tokenHash, record));
    return created;
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    const revocation = this.revocations.get(tokenHash);
    return revocation ? { ...revocation } : null;
  }

  async tokenRevocationStatus(token: RevocationQuery): Promise<RevocationCause | null> {
    return audit.revocationCause(this.revocations.has(token.tokenHash), this.cutoffs.get(token.subject), token.issuedAt);
  }

  async revokeUser(userId: string, reason: string | null): Promise<UserRevocation> {
    const now = this.now();
    const cutoffAt = Math.max(now, this.cutoffs.get(userId) ?? now);
    this.cutoffs.set(userId, cutoffAt);
    this.cutoffReasons.set(userId, reason);
    let sessionsDeleted = 0;
    for (const [id, session] of [...this.sessions]) {
      if (session.userId === userId && this.sessions.delete(id)) sessionsDeleted += 1;
    }
    let tokensRevoked = 0;
    for (const record of this.tokens.values()) {
      if (record.subject === userId && record.revokedAt === null && record.issuedAt <= cutoffAt) {
        record.revokedAt = now;
        tokensRevoked += 1;
      }
    }
    this.record(audit.userRevoked(userId, cutoffAt, sessionsDeleted, tokensRevoked, reason));
    return { userId, cutoffAt, sessionsDeleted };
  }

  async findUserCutoff(userId: string): Promise<number | null> {
    return this.cutoffs.get(userId) ?? null;
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const matching = this.auditLog.filter(audit.auditEntryMatches(filter));
    const newest = filter.limit === undefined ? matching : matching.slice(Math.max(0, matching.length - filter.limit));
    return newest.map((entry) => structuredClone(entry));
  }

  async listRevocations(): Promise<Revocation[]> {
    return [...this.revocations.values()].sort((a, b) => a.revokedAt - b.revokedAt).map((revocation) => ({ ...revocation }));
  }

  async listUserCutoffs(): Promise<UserCutoff[]> {
    return [...this.cutoffs]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([userId, cutoffAt]) => ({ userId, cutoffAt, reason: this.cutoffReasons.get(userId) ?? null }));
  }

  async importRecords(data: StoreTransfer, options: ImportOptions = {}): Promise<TransferCounts> {
    const existing = emptyExisting();
    for (const role of data.roles.keys()) if (this.roles.has(role)) existing.roles.set(role, [...this.roles.get(role)!]);
    for (const { sessionId } of data.sessions) if (this.sessions.has(sessionId)) existing.sessions.set(sessionId, this.sessions.get(sessionId)!);
    for (const { tokenHash } of data.tokens) if (this.tokens.has(tokenHash)) existing.tokens.set(tokenHash, this.tokens.get(tokenHash)!);
    for (const { tokenHash } of data.revocations) if (this.revocations.has(tokenHash)) existing.revocations.set(tokenHash, this.revocations.get(tokenHash)!);
    for (const { userId } of data.cutoffs) if (this.cutoffs.has(userId)) existing.cutoffs.set(userId, this.cutoffs.get(userId)!);
    const bars = sessionBars(data.sessions);
    for (const tokenHash of bars.tokenHashes) if (this.revocations.has(tokenHash)) existing.barringRevocations.add(tokenHash);
    for (const userId of bars.userIds) if (this.cutoffs.has(userId)) existing.barringCutoffs.set(userId, this.cutoffs.get(userId)!);
    const plan = planImport(data, existing);
    if (options.dryRun || !changedAnything(plan.counts)) return plan.counts;
    for (const [role, permissions] of plan.roles) this.roles.set(role, [...permissions]);
    for (const session of plan.sessions) this.sessions.set(session.sessionId, copySession(session));
    for (const record of plan.tokens) this.tokens.set(record.tokenHash, { ...record });
    for (const revocation of plan.revocations) this.revocations.set(revocation.tokenHash, { ...revocation });
    for (const cutoff of plan.cutoffs) {
      this.cutoffs.set(cutoff.userId, cutoff.cutoffAt);
      this.cutoffReasons.set(cutoff.userId, cutoff.reason);
    }
    this.record(audit.recordsImported(plan.counts, options.source));
    return plan.counts;
  }

  async healthCheck(): Promise<HealthFinding[]> {
    return [{ check: "store", status: "ok", message: "in-memory store (nothing persists across processes)" }];
  }

  async close(): Promise<void> {}

  /** Checked before anything changes (this store has no transactions to roll back). */
  private assertSessionIdFree(session: NewSession | null): void {
    if (session && this.sessions.has(session.sessionId)) throw sessionIdTaken();
  }

  private recordToken(record: TokenRecord, session: NewSession | null): UserSession | null {
    this.tokens.set(record.tokenHash, { ...record });
    const created = session ? this.insertSession(session) : null;
    this.record(audit.tokenMinted(record, created?.roles ?? null));
    return created;
  }

  private revoke(request: Omit<Revocation, "revokedAt" | "accessor">): RevokeResult {
    const existing = this.revocations.get(request.tokenHash) ?? null;
    const revocation = existing ?? { ...request, accessor: handleForHash(request.tokenHash), revokedAt: this.now() };
    this.revocations.set(request.tokenHash, revocation);
    const record = this.tokens.get(request.tokenHash);
    if (record && record.revokedAt === null) record.revokedAt = revocation.revokedAt;
    let sessionsDeleted = 0;
    for (const id of [...this.sessions.keys()]) {
      if (sha256Hex(id) === request.tokenHash && this.sessions.delete(id)) sessionsDeleted += 1;
    }
    if (!existing || sessionsDeleted > 0) {
      this.record(audit.tokenRevoked(request, revocation.accessor, sessionsDeleted));
    }
    return { alreadyRevoked: existing !== null, sessionsDeleted, revocation: { ...revocation } };
  }

  protected override async updateMetadata(
    sessionId: string,
    action: string,
    detail: Record<string, unknown>,
    change: MetadataChange,
  ): Promise<UserSession | null> {
    const session = this.sessions.get(sessionId);
    if (!session) return null;
    const metadata = AuthStoreBase.plannedMetadata(session, change);
    if (metadata === null) return copySession(session);
    session.metadata = metadata;
    this.record(audit.sessionMetadataChanged(session, action, detail));
    return copySession(session);
  }

  private record(event: audit.AuditEvent): void {
    const { action, subject, target, detail } = event;
    this.auditLog.push({ id: this.auditLog.length + 1, at: this.now(), action, subject, target, actor: this.actor, detail: structuredClone(detail) });
  }

  private insertSession(session: NewSession): UserSession {
    const created = buildSession(session, this.now(), DEFAULT_ROLES);
    this.sessions.set(created.sessionId, created);
    return copySession(created);
  }
}

function copySession(session: UserSession): UserSession {
  return { ...session, roles: [...session.roles], metadata: cloneJson(session.metadata) };
}
