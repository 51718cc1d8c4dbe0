/** MemorySessionStore: the same contract as the SQLite store, for tests and single-process servers. */
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../core/handles.js";
import { DEFAULT_ROLE_PERMISSIONS, DEFAULT_ROLES, sessionGrants } from "../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../core/session.js";
import type {
  AuthStore,
  NewSession,
  Revocation,
  RevokeResult,
  SessionFilter,
  TokenFilter,
  TokenRecord,
} from "./types.js";
import { matchesTokenFilter } from "./types.js";

export interface MemoryStoreOptions {
  /** The clock, in Unix seconds. */
  now?: () => number;
}

export class MemorySessionStore implements AuthStore {
  private readonly sessions = new Map<string, UserSession>();
  private readonly roles = new Map<string, string[]>(
    Object.entries(DEFAULT_ROLE_PERMISSIONS).map(([role, permissions]) => [role, [...permissions]]),
  );
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly revocations = new Map<string, Revocation>();
  private readonly now: () => number;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  async createSession(
    sessionId: string,
    userId: string,
    roles?: string[] | null,
    ttl?: number | null,
    metadata?: Record<string, unknown> | null,
  ): Promise<UserSession> {
    return this.insertSession({ sessionId, userId, roles: roles ?? undefined, ttl, metadata: metadata ?? undefined });
  }

  async getSession(sessionId: string): Promise<UserSession | null> {
    const session = this.sessions.get(sessionId);
    return session && isSessionLive(session, this.now()) ? copySession(session) : null;
  }

  async validateSession(sessionId: string): Promise<boolean> {
    return (await this.getSession(sessionId)) !== null;
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    return this.sessions.delete(sessionId);
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    const session = this.sessions.get(sessionId);
    if (!session || !isSessionLive(session, this.now())) return false;
    if (extendTtl) session.expiresAt = this.now() + extendTtl;
    return true;
  }

  async listUserSessions(userId: string): Promise<UserSession[]> {
    return this.listSessions({ userId });
  }

  async listSessions(filter: SessionFilter = {}): Promise<UserSession[]> {
    const now = this.now();
    return [...this.sessions.values()]
      .filter((session) => filter.userId === undefined || session.userId === filter.userId)
      .filter((session) => filter.includeExpired || isSessionLive(session, now))
      .sort((a, b) => b.createdAt - a.createdAt)
      .map(copySession);
  }

  async findSession(idOrHandle: string): Promise<UserSession | null> {
    const exact = this.sessions.get(idOrHandle);
    if (exact) return copySession(exact);
    if (!looksLikeHandle(idOrHandle)) return null;
    const match = [...this.sessions.values()].find((session) => handleFor(session.sessionId) === idOrHandle);
    return match ? copySession(match) : null;
  }

  async checkPermission(sessionId: string, resourceType: string, resourceId: string, permission: string): Promise<boolean> {
    const session = await this.getSession(sessionId);
    if (!session) return false;
    return sessionGrants(session, (role) => this.roles.get(role), permission, { type: resourceType, id: resourceId });
  }

  async getRolePermissions(role: string): Promise<string[] | null> {
    const permissions = this.roles.get(role);
    return permissions ? [...permissions] : null;
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    this.roles.set(role, [...new Set(permissions)]);
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return new Map([...this.roles.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([role, perms]) => [role, [...perms]]));
  }

  async recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null> {
    this.tokens.set(record.tokenHash, { ...record });
    return session ? this.insertSession(session) : null;
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
    const existing = this.revocations.get(request.tokenHash) ?? null;
    const revocation = existing ?? { ...request, accessor: handleForHash(request.tokenHash), revokedAt: this.now() };
    this.revocations.set(request.tokenHash, revocation);
    const record = this.tokens.get(request.tokenHash);
    if (record && record.revokedAt === null) record.revokedAt = revocation.revokedAt;
    let sessionsDeleted = 0;
    for (const id of [...this.sessions.keys()]) {
      if (sha256Hex(id) === request.tokenHash && this.sessions.delete(id)) sessionsDeleted += 1;
    }
    return { alreadyRevoked: existing !== null, sessionsDeleted, revocation: { ...revocation } };
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    const revocation = this.revocations.get(tokenHash);
    return revocation ? { ...revocation } : null;
  }

  async close(): Promise<void> {}

  private insertSession(session: NewSession): UserSession {
    const created = buildSession(session, this.now(), DEFAULT_ROLES);
    this.sessions.set(created.sessionId, created);
    return copySession(created);
  }
}

function copySession(session: UserSession): UserSession {
  return { ...session, roles: [...session.roles], metadata: structuredClone(session.metadata) };
}
