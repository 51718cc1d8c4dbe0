/**
 * What every store does the same way, written once: pywry's derived operations (validate,
 * list a user's sessions, check a permission) and the per-resource grant edits. A backend
 * supplies the primitives.
 */
import { StoreError } from "../core/errors.js";
import { assertReadableMetadata, pythonJson } from "../core/pyjson.js";
import { handleFor } from "../core/handles.js";
import { addResourceGrant, removeResourceGrant, sessionGrants } from "../core/rbac.js";
import { byText, newestThenHandle, pageSizeOf, pagesOf, parseIdCursor, parseTimeHandleCursor, timeHandleCursor } from "./paging.js";
import type { UserSession } from "../core/session.js";
import type {
  BearerLookup,
  BearerQuery,
  PurgeBatchOptions,
  PurgeBatchResult,
  RevocationQuery,
  TokenKind,
  AuditEntry,
  AuditFilter,
  AuthStore,
  HealthFinding,
  ImportOptions,
  ListPage,
  PageOptions,
  RoleEntry,
  StoreTransfer,
  TransferCounts,
  UserCutoff,
  NewSession,
  Revocation,
  RevocationCause,
  RevokeResult,
  RoleEdit,
  RoleUpdate,
  SessionFilter,
  TokenFilter,
  TokenRecord,
  UserRevocation,
} from "./types.js";

/**
 * A new token's session id is the token: a session already there under that id (a pywry login
 * in the same second mints the same token) is someone else's, and is never replaced.
 */
export function sessionIdTaken(): StoreError {
  return new StoreError("a session with this token as its id already exists (a pywry login in the same second?); it was left as it is");
}

export type MetadataChange = (metadata: Record<string, unknown>) => Record<string, unknown>;

export abstract class AuthStoreBase implements AuthStore {
  abstract createSession(
    sessionId: string,
    userId: string,
    roles?: string[] | null,
    ttl?: number | null,
    metadata?: Record<string, unknown> | null,
  ): Promise<UserSession>;
  abstract getSession(sessionId: string): Promise<UserSession | null>;
  abstract deleteSession(sessionId: string): Promise<boolean>;
  abstract refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean>;
  abstract listSessions(filter?: SessionFilter): Promise<UserSession[]>;
  abstract findSession(idOrHandle: string): Promise<UserSession | null>;
  abstract getRolePermissions(role: string): Promise<string[] | null>;
  abstract setRolePermissions(role: string, permissions: string[]): Promise<void>;
  abstract deleteRole(role: string): Promise<boolean>;
  abstract updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate>;
  abstract listRoles(): Promise<Map<string, string[]>>;
  abstract purgeExpired(options?: { dryRun?: boolean }): Promise<UserSession[]>;
  abstract recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null>;
  abstract findToken(query: { accessor: string } | { tokenHash: string }): Promise<TokenRecord | null>;
  abstract listTokens(filter?: TokenFilter): Promise<TokenRecord[]>;
  abstract revokeToken(revocation: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult>;
  abstract renewToken(
    old: Omit<Revocation, "revokedAt" | "accessor">,
    record: TokenRecord,
    session: NewSession | null,
  ): Promise<UserSession | null>;
  abstract findRevocation(tokenHash: string): Promise<Revocation | null>;
  abstract tokenRevocationStatus(token: RevocationQuery): Promise<RevocationCause | null>;
  abstract revokeUser(userId: string, reason: string | null): Promise<UserRevocation>;
  abstract findUserCutoff(userId: string): Promise<number | null>;
  abstract listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
  abstract listRevocations(): Promise<Revocation[]>;
  abstract listUserCutoffs(): Promise<UserCutoff[]>;
  abstract importRecords(data: StoreTransfer, options?: ImportOptions): Promise<TransferCounts>;
  abstract healthCheck(): Promise<HealthFinding[]>;
  abstract close(): Promise<void>;

  /**
   * Applies `change` to the session's metadata and audits it as `action`, atomically; writes
   * nothing when the change changes nothing. Null when there is no such session.
   */
  protected abstract updateMetadata(
    sessionId: string,
    action: string,
    detail: Record<string, unknown>,
    change: MetadataChange,
  ): Promise<UserSession | null>;

  async validateSession(sessionId: string): Promise<boolean> {
    return (await this.getSession(sessionId)) !== null;
  }

  async listUserSessions(userId: string): Promise<UserSession[]> {
    return this.listSessions({ userId });
  }

  /**
   * The simple, correct default: the whole list read once, then paged in memory (newest first,
   * then by handle; cursors "<created_at>_<handle>"). Backends that can read a page at a time
   * override it.
   */
  async *sessionPages(filter: SessionFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<UserSession>> {
    const after = page.after === undefined ? null : parseTimeHandleCursor(page.after);
    const sessions = await this.listSessions(filter);
    yield* pagesOf(sessions, {
      key: (session) => ({ at: session.createdAt, handle: handleFor(session.sessionId) }),
      cursor: (key) => timeHandleCursor(key.at, key.handle),
      compare: newestThenHandle,
      after,
      size: pageSizeOf(page),
    });
  }

  /** Default: newest first, then by accessor (cursors "<created_at>_<accessor>"). */
  async *tokenPages(filter: TokenFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<TokenRecord>> {
    const after = page.after === undefined ? null : parseTimeHandleCursor(page.after);
    const records = await this.listTokens(filter);
    yield* pagesOf(records, {
      key: (record) => ({ at: record.createdAt, handle: record.accessor }),
      cursor: (key) => timeHandleCursor(key.at, key.handle),
      compare: newestThenHandle,
      after,
      size: pageSizeOf(page),
    });
  }

  /** Default: oldest first by entry number (cursors: the number). */
  async *auditPages(filter: AuditFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<AuditEntry>> {
    const after = page.after === undefined ? null : parseIdCursor(page.after);
    // A cursor continues the walk; without one, filter.limit means the newest entries.
    const { limit: _newest, ...unlimited } = filter;
    const entries = await this.listAudit(after === null ? filter : unlimited);
    yield* pagesOf(entries, { key: (entry) => entry.id, cursor: String, compare: (a, b) => a - b, after, size: pageSizeOf(page) });
  }

  /** Default: by role name (cursors: the name). */
  async *rolePages(page: PageOptions = {}): AsyncGenerator<ListPage<RoleEntry>> {
    const roles = await this.listRoles();
    const entries = [...roles].map(([role, permissions]) => ({ role, permissions }));
    yield* pagesOf(entries, { key: (entry) => entry.role, cursor: (role) => role, compare: byText, after: page.after ?? null, size: pageSizeOf(page) });
  }

  /** Default: one tokenRevocationStatus per token. */
  async tokenRevocationStatuses(tokens: readonly RevocationQuery[]): Promise<Array<RevocationCause | null>> {
    const causes: Array<RevocationCause | null> = [];
    for (const token of tokens) causes.push(await this.tokenRevocationStatus(token));
    return causes;
  }

  /** Default: one findToken per hash. */
  async registryKinds(tokenHashes: readonly string[]): Promise<Array<TokenKind | null>> {
    const kinds: Array<TokenKind | null> = [];
    for (const tokenHash of tokenHashes) kinds.push((await this.findToken({ tokenHash }))?.kind ?? null);
    return kinds;
  }

  /**
   * Default: the reads one by one, stopping as soon as the answer is settled (a revocation, a
   * widget token).
   */
  async bearerLookup(query: BearerQuery): Promise<BearerLookup> {
    const revocation = await this.tokenRevocationStatus(query);
    if (revocation !== null) return { revocation, kind: null, session: null };
    const kind = (await this.findToken({ tokenHash: query.tokenHash }))?.kind ?? null;
    if (kind === "widget") return { revocation, kind, session: null };
    return { revocation, kind, session: await this.getSession(query.token) };
  }

  /** Default: this store cannot answer without waiting. */
  bearerLookupSync(_query: BearerQuery): BearerLookup | undefined {
    return undefined;
  }

  /** Default: the length of purgeExpired's dry run (so it counts exactly what a purge deletes). */
  async countExpired(): Promise<number> {
    return (await this.purgeExpired({ dryRun: true })).length;
  }

  /** Default: one batch, purgeExpired itself (one atomic change, audited once). */
  async purgeExpiredInBatches(options: PurgeBatchOptions = {}): Promise<PurgeBatchResult> {
    const purged = await this.purgeExpired();
    if (purged.length > 0) options.onBatch?.(purged.length);
    const sessions = options.collect ? purged.map(({ sessionId, userId, expiresAt }) => ({ sessionId, userId, expiresAt })) : null;
    return { purged: purged.length, sessions };
  }

  async checkPermission(sessionId: string, resourceType: string, resourceId: string, permission: string): Promise<boolean> {
    const session = await this.getSession(sessionId);
    if (!session) return false;
    const roles = await this.listRoles();
    return sessionGrants(session, (role) => roles.get(role), permission, { type: resourceType, id: resourceId });
  }

  async grantResource(sessionId: string, resource: string, permissions: string[]): Promise<UserSession | null> {
    return this.updateMetadata(sessionId, "session.grant", { resource, permissions }, (metadata) => {
      assertReadableMetadata(metadata);
      return addResourceGrant(metadata, resource, permissions);
    });
  }

  async ungrantResource(sessionId: string, resource: string, permissions?: string[]): Promise<UserSession | null> {
    return this.updateMetadata(sessionId, "session.ungrant", { resource, permissions: permissions ?? null }, (metadata) => {
      assertReadableMetadata(metadata);
      return removeResourceGrant(metadata, resource, permissions);
    });
  }

  /** What `updateMetadata` writes: the changed metadata, or null when the change changes nothing. */
  protected static plannedMetadata(session: UserSession, change: MetadataChange): Record<string, unknown> | null {
    const metadata = change(session.metadata);
    return pythonJson(metadata) === pythonJson(session.metadata) ? null : metadata;
  }

  /** What `updateRolePermissions` writes: null for no write (no role and no edit, or no change). */
  protected static plannedRole(before: string[] | null, edit: RoleEdit): string[] | null {
    const wanted = edit(before === null ? null : [...before]);
    if (wanted === null) return null;
    const after = [...new Set(wanted)];
    const unchanged = before !== null && before.length === after.length && before.every((permission, index) => permission === after[index]);
    return unchanged ? null : after;
  }
}
