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

/** A role edit for `updateRolePermissions`: the new permissions, or null to leave the role alone. */
export type RoleEdit = (before: string[] | null) => string[] | null;

export interface RoleUpdate {
  before: string[] | null;
  /** The role's permissions afterwards (null: the role still does not exist). */
  after: string[] | null;
  /** Whether anything was written (and audited). */
  changed: boolean;
}

export interface RevokeResult {
  alreadyRevoked: boolean;
  sessionsDeleted: number;
  revocation: Revocation;
}

export interface UserRevocation {
  userId: string;
  /** Tokens for the user issued at or before this Unix time fail verification from now on. */
  cutoffAt: number;
  sessionsDeleted: number;
}

/** One audited change. Never holds a token, a session id or a secret: only handles. */
export interface AuditEntry {
  id: number;
  at: number;
  action: string;
  /** The user (or, for role changes, the role) the change was about. */
  subject: string | null;
  /** The accessor of the token or the handle of the session, when there is one. */
  target: string | null;
  /** The OS user who made the change. */
  actor: string | null;
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  since?: number;
  action?: string;
  subject?: string;
  limit?: number;
}

export type RevocationCause = "token" | "user";

/** A user-wide revocation: the user's tokens issued at or before `cutoffAt` no longer count. */
export interface UserCutoff {
  userId: string;
  cutoffAt: number;
  reason: string | null;
}

/** What `migrate` copies from one store to another (see store/transfer.ts). */
export interface StoreTransfer {
  roles: Map<string, string[]>;
  sessions: UserSession[];
  tokens: TokenRecord[];
  revocations: Revocation[];
  cutoffs: UserCutoff[];
}

export type TransferKind = "roles" | "sessions" | "tokens" | "revocations" | "cutoffs";

export interface TransferCount {
  added: number;
  updated: number;
  unchanged: number;
  /** Not copied: sessions a revocation covers (a revoked token's, a cut-off user's). */
  skipped: number;
}

export type TransferCounts = Record<TransferKind, TransferCount>;

export interface ImportOptions {
  /** Count what would change and write nothing. */
  dryRun?: boolean;
  /** Where the records came from, for the audit entry (never holding a password). */
  source?: string;
}

/** One finding of a store's self-check (for `doctor`). */
export interface HealthFinding {
  check: string;
  status: "ok" | "warn" | "fail";
  message: string;
  fix?: string;
}

export interface SessionFilter {
  userId?: string;
  includeExpired?: boolean;
}

/**
 * Where a paged listing starts and how many rows a page holds. `after` is a cursor a previous
 * page gave for one of its rows: the listing goes on with the rows that follow it.
 */
export interface PageOptions {
  after?: string;
  /** Rows per page (default 1000); a page may hold fewer, and never more. */
  pageSize?: number;
}

/**
 * One page of a listing: rows in the listing's stable order, and for each row the cursor that
 * continues after it (`cursors[i]` belongs to `rows[i]`). Cursors name positions, never a
 * session id or a token; they are only meaningful to the store that gave them.
 */
export interface ListPage<T> {
  rows: T[];
  cursors: string[];
}

/** A role and its permissions, as `rolePages` lists them. */
export interface RoleEntry {
  role: string;
  permissions: string[];
}

export const DEFAULT_PAGE_SIZE = 1000;

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

/** The token a revocation look-up is about: its hash, its subject and when it was issued. */
export interface RevocationQuery {
  tokenHash: string;
  subject: string;
  issuedAt: number;
}

export interface PurgeBatchOptions {
  /** Rows per transaction (where the store batches). */
  batchSize?: number;
  /** Return the purged sessions' ids, users and expiries (a million of them is a lot of memory). */
  collect?: boolean;
  /** Called after each committed batch with the number purged so far. */
  onBatch?: (purgedSoFar: number) => void;
}

export interface PurgeBatchResult {
  purged: number;
  sessions: Array<Pick<UserSession, "sessionId" | "userId" | "expiresAt">> | null;
}

/**
 * Everything resolving a Bearer token reads from the store (AuthStore.bearerLookup): the token's
 * revocation status, the registry's kind for it, and the live session whose id is the token.
 */
export interface BearerLookup {
  revocation: RevocationCause | null;
  /** The kind the registry recorded for the token; null when it recorded none. */
  kind: TokenKind | null;
  /**
   * The live session whose id is the token; null when there is none. A store may leave it (and
   * `kind`) null once a revocation or a widget kind settles that the token gets no session.
   */
  session: UserSession | null;
}

export interface BearerQuery extends RevocationQuery {
  token: string;
}

/** What pywry-auth adds on top of pywry's contract: listing, the token registry, revocations. */
export interface AuthStore extends SessionStore {
  listSessions(filter?: SessionFilter): Promise<UserSession[]>;
  /**
   * Sessions a page at a time, in a stable order, read as they are needed (never all at once).
   * Keyset paging: a walk from any cursor yields every row that exists for the whole walk
   * exactly once, whatever is added or deleted meanwhile (rows added or deleted during the walk
   * may or may not appear). Continue with the same filter and page size as the walk that gave
   * the cursor. Throws InvalidInputError (ERR_INVALID_INPUT) for a cursor it did not make.
   */
  sessionPages(filter?: SessionFilter, page?: PageOptions): AsyncIterable<ListPage<UserSession>>;
  /** Registry entries a page at a time, with sessionPages' guarantees. */
  tokenPages(filter?: TokenFilter, page?: PageOptions): AsyncIterable<ListPage<TokenRecord>>;
  /**
   * Audit entries oldest first, a page at a time. With `filter.limit` (and no cursor), only the
   * newest `limit` entries, still oldest first, as listAudit. Cursors are entry numbers.
   */
  auditPages(filter?: AuditFilter, page?: PageOptions): AsyncIterable<ListPage<AuditEntry>>;
  /** Roles by name, a page at a time. */
  rolePages(page?: PageOptions): AsyncIterable<ListPage<RoleEntry>>;
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
  /**
   * Why a token no longer counts, or null: its own revocation ("token"), or a user-wide
   * revocation whose cut-off is at or after the token's issue time ("user").
   */
  tokenRevocationStatus(token: RevocationQuery): Promise<RevocationCause | null>;
  /**
   * tokenRevocationStatus for many tokens, answers in their order (for `verify --stdin`); SQLite
   * reads them in one read transaction.
   */
  tokenRevocationStatuses(tokens: readonly RevocationQuery[]): Promise<Array<RevocationCause | null>>;
  /** The registry's kind for each token hash (null: not recorded), in their order. */
  registryKinds(tokenHashes: readonly string[]): Promise<Array<TokenKind | null>>;
  /**
   * Everything resolving a Bearer token reads (see BearerLookup). The default reads one by one
   * and stops once the answer is settled; SQLite reads it all in one statement.
   */
  bearerLookup(query: BearerQuery): Promise<BearerLookup>;
  /**
   * bearerLookup answered without waiting, or undefined when this store cannot answer without
   * waiting (the default): the caller then asks bearerLookup. SQLite answers, so the middleware
   * hands a request on in the same turn. Throws what bearerLookup would reject with.
   */
  bearerLookupSync(query: BearerQuery): BearerLookup | undefined;
  /** Deletes all of a user's sessions and records a cut-off time for the user's tokens. */
  revokeUser(userId: string, reason: string | null): Promise<UserRevocation>;
  findUserCutoff(userId: string): Promise<number | null>;
  /**
   * Replaces a token: revokes the old one (and its session) and records the new one with its
   * session, all at once.
   */
  renewToken(old: Omit<Revocation, "revokedAt" | "accessor">, record: TokenRecord, session: NewSession | null): Promise<UserSession | null>;
  deleteRole(role: string): Promise<boolean>;
  /**
   * Reads a role's permissions and writes what `edit` makes of them, in one atomic step (so
   * concurrent edits of one role never lose each other's changes), audited as `role.set`. `edit`
   * gets null for a role the store does not define; returning null, or the same list, writes and
   * audits nothing; throwing aborts the change. It may be called more than once (Redis retries).
   */
  updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate>;
  /** Adds per-resource permissions to a session's metadata (pywry's `metadata.permissions`). */
  grantResource(sessionId: string, resource: string, permissions: string[]): Promise<UserSession | null>;
  /** Removes the given per-resource permissions, or the whole grant when none are given. */
  ungrantResource(sessionId: string, resource: string, permissions?: string[]): Promise<UserSession | null>;
  /** Deletes expired sessions (or, with dryRun, only lists them). */
  purgeExpired(options?: { dryRun?: boolean }): Promise<UserSession[]>;
  /** How many sessions purgeExpired would delete now. */
  countExpired(): Promise<number>;
  /**
   * purgeExpired for big stores: deletes the sessions expired at the start, each committed batch
   * audited as `session.purge`, reporting progress after each batch. Returns the purged
   * sessions' ids, users and expiries only when `collect` is set. The default purges in one batch
   * (purgeExpired); SQLite deletes `batchSize` rows per transaction, so a pywry app sharing the
   * file waits for one batch at most.
   */
  purgeExpiredInBatches(options?: PurgeBatchOptions): Promise<PurgeBatchResult>;
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
  /** Every recorded revocation, expired tokens' included while the store keeps them. */
  listRevocations(): Promise<Revocation[]>;
  listUserCutoffs(): Promise<UserCutoff[]>;
  /**
   * Copies records in as they are (times, ids and all), in one atomic step audited once as
   * `store.import`. Idempotent: identical records are left alone; a revoked registry entry stays
   * revoked; a user cut-off only moves forward.
   */
  importRecords(data: StoreTransfer, options?: ImportOptions): Promise<TransferCounts>;
  /** Backend-specific checks (integrity, schema version, ...); read-only. */
  healthCheck(): Promise<HealthFinding[]>;
}
