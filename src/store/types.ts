import type { SessionSpec, UserSession } from "../core/session.js";

export type TokenKind = "session" | "widget";

/** What the registry keeps about an issued token: never the token, only its SHA-256 and accessor. */
export interface TokenRecord {
  accessor: string;
  tokenHash: string;
  kind: TokenKind;
  subject: string;
  issuedAt: number;
  expiresAt: number | null;
  label: string | null;
  roles: string[] | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface Revocation {
  tokenHash: string;
  accessor: string;
  subject: string | null;
  revokedAt: number;
  /** When the revoked token would have expired anyway (null: never), so old rows can be pruned. */
  expiresAt: number | null;
  reason: string | null;
}

export interface RevokeResult {
  alreadyRevoked: boolean;
  sessionsDeleted: number;
  revocation: Revocation;
}

export interface SessionFilter {
  userId?: string;
  includeExpired?: boolean;
}

/** Whether a registry entry belongs in a listing with this filter at `now`. */
export function matchesTokenFilter(record: TokenRecord, filter: TokenFilter, now: number): boolean {
  if (filter.subject !== undefined && record.subject !== filter.subject) return false;
  if (filter.kind !== undefined && record.kind !== filter.kind) return false;
  return Boolean(filter.all) || (record.revokedAt === null && (record.expiresAt === null || record.expiresAt >= now));
}

export interface TokenFilter {
  subject?: string;
  kind?: TokenKind;
  /** Include revoked and expired entries. */
  all?: boolean;
}

export type NewSession = SessionSpec;

/**
 * pywry's SessionStore contract (state/base.py), in camelCase. Expected misses return null or
 * false; misuse and storage failures throw PywryAuthError subclasses.
 */
export interface SessionStore {
  createSession(
    sessionId: string,
    userId: string,
    roles?: string[] | null,
    ttl?: number | null,
    metadata?: Record<string, unknown> | null,
  ): Promise<UserSession>;
  /** The session, or null when unknown or expired. */
  getSession(sessionId: string): Promise<UserSession | null>;
  validateSession(sessionId: string): Promise<boolean>;
  deleteSession(sessionId: string): Promise<boolean>;
  refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean>;
  /** The user's live sessions, most recently created first. */
  listUserSessions(userId: string): Promise<UserSession[]>;
  checkPermission(sessionId: string, resourceType: string, resourceId: string, permission: string): Promise<boolean>;
  /** The role's permissions, or null when the store does not define the role. */
  getRolePermissions(role: string): Promise<string[] | null>;
  setRolePermissions(role: string, permissions: string[]): Promise<void>;
  listRoles(): Promise<Map<string, string[]>>;
  close(): Promise<void>;
}

/** What pywry-auth adds on top of pywry's contract: listing, the token registry, revocations. */
export interface AuthStore extends SessionStore {
  listSessions(filter?: SessionFilter): Promise<UserSession[]>;
  /** A session by its id or by its handle (see core/handles), expired ones included. */
  findSession(idOrHandle: string): Promise<UserSession | null>;
  /** Records an issued token and, when given, creates its session in the same transaction. */
  recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null>;
  findToken(query: { accessor: string } | { tokenHash: string }): Promise<TokenRecord | null>;
  listTokens(filter?: TokenFilter): Promise<TokenRecord[]>;
  /**
   * Revokes a token by hash: records the revocation, marks the registry entry, and deletes the
   * sessions whose id is that token, all at once. Idempotent.
   */
  revokeToken(revocation: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult>;
  findRevocation(tokenHash: string): Promise<Revocation | null>;
}
