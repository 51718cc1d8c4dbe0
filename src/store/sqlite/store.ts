/**
 * SqliteSessionStore: pywry's own SQLite schema, so a pywry app and this library can share one
 * database file at the same time (WAL, busy timeout, pywry's JSON and float-seconds encodings).
 * Its parts: connection.ts opens the file (plain or SQLCipher), schema.ts creates and migrates the
 * tables, statements.ts holds the SQL, rows.ts reads rows, transactions.ts decides how reads and
 * writes run; this file is the store's operations.
 */
import { existsSync, rmSync } from "node:fs";
import type Database from "better-sqlite3-multiple-ciphers";
import { StoreError } from "../../core/errors.js";
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../../core/handles.js";
import { DEFAULT_ROLES } from "../../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../../core/session.js";
import * as audit from "../audit.js";
import { AuthStoreBase, sessionIdTaken, type MetadataChange } from "../base.js";
import { decodeSession, parseStringList } from "../codec.js";
import { pageSizeOf, parseIdCursor } from "../paging.js";
import { changedAnything, emptyExisting, planImport, sessionBars } from "../transfer.js";
import {
  matchesTokenFilter,
  type AuditEntry,
  type AuditFilter,
  type BearerLookup,
  type BearerQuery,
  type HealthFinding,
  type ImportOptions,
  type ListPage,
  type NewSession,
  type PageOptions,
  type PurgeBatchOptions,
  type PurgeBatchResult,
  type Revocation,
  type RevocationCause,
  type RevocationQuery,
  type RevokeResult,
  type RoleEdit,
  type RoleEntry,
  type RoleUpdate,
  type SessionFilter,
  type StoreTransfer,
  type TokenFilter,
  type TokenKind,
  type TokenRecord,
  type TransferCounts,
  type UserCutoff,
  type UserRevocation,
} from "../types.js";
import { connect, createPrivateFile, type Connection, type SqliteEncryption } from "./connection.js";
import { newerSchemaError, toStoreError } from "./errors.js";
import {
  rawToSession,
  rawToTokenRecord,
  toAuditEntry,
  toRevocation,
  toSession,
  toTokenRecord,
  type AuditRow,
  type CutoffRow,
  type RevocationRow,
  type SessionRow,
  type TokenRow,
} from "./rows.js";
import { SCHEMA_VERSION, readSchemaVersion, setUpSchema } from "./schema.js";
import { EXPIRED_CONDITION, Statements } from "./statements.js";
import { Transactions, type Durability } from "./transactions.js";

export { toStoreError } from "./errors.js";

export interface SqliteStoreOptions {
  /**
   * "write" (default) creates the file and the schema when missing; "read" requires an existing
   * file and never changes its schema, so inspecting a database leaves it as it was.
   */
  mode?: "read" | "write";
  /** In write mode, whether a missing file may be created (default true). */
  create?: boolean;
  /** How long to wait for another process's write lock, in milliseconds (default 5000, pywry's own wait). */
  busyTimeoutMs?: number;
  /** The clock, in Unix seconds. */
  now?: () => number;
  /** Who the audit log says made the changes (default: the OS user). */
  actor?: string;
  /**
   * SQLite's page cache for this connection, in MiB (default: SQLite's, about 2 MiB). A server
   * reading a store of a million sessions wants tens of MiB here: getSession then finds the
   * index pages it needs in memory instead of reading them from the file again.
   */
  cacheSizeMb?: number;
  /**
   * The SQLCipher key of an encrypted pywry database (pywry's `PRAGMA key`; see
   * resolveSqliteKey for where pywry finds it). A file pywry-auth creates with a key is encrypted
   * with SQLCipher 4's defaults, so that pywry with sqlcipher3 opens it; a plain file stays plain.
   */
  key?: string;
  /** Where the key came from (e.g. "env PYWRY_SQLITE_KEY"), for error messages; never the key. */
  keySource?: string;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/**
 * purgeExpiredInBatches: rows per transaction, and the page cache meanwhile; the fastest measured
 * pair that holds the write lock well under pywry's 5 s busy wait (docs/performance.md, "4. Bulk").
 */
const PURGE_BATCH_ROWS = 100_000;
const PURGE_CACHE_MB = 64;

export class SqliteSessionStore extends AuthStoreBase {
  readonly path: string;
  /** How the file is encrypted (null: plain SQLite), as found when it was opened. */
  readonly encryption: SqliteEncryption;
  private readonly db: Database.Database;
  private readonly sql: Statements;
  private readonly transactions: Transactions;
  private readonly now: () => number;
  private readonly writable: boolean;
  private readonly actor: string | null;
  private hasAuthTables = false;
  /** The schema cookie when the tables were last looked for (see authTables). */
  private seenSchemaVersion: number | null = null;
  /** The pywry-auth schema version of the file (older ones are read as they are in read mode). */
  private schemaVersion = 0;

  private constructor(path: string, connection: Connection, options: SqliteStoreOptions) {
    super();
    this.path = path;
    this.db = connection.db;
    this.encryption = connection.encryption;
    this.sql = new Statements(this.db);
    this.transactions = new Transactions(this.db, this.sql);
    this.now = options.now ?? (() => Date.now() / 1000);
    this.writable = options.mode !== "read";
    this.actor = options.actor ?? audit.defaultActor();
  }

  /** Opens (and in write mode creates) the database at `path`. */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteSessionStore {
    const mode = options.mode ?? "write";
    const created = !existsSync(path);
    if (created) {
      if (mode === "read" || options.create === false) throw new StoreError(`no session store at ${path}`);
      createPrivateFile(path);
    }
    let connection: Connection | undefined;
    try {
      connection = connect(path, { key: options.key, keySource: options.keySource });
      const store = new SqliteSessionStore(path, connection, options);
      store.initialise(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS, options.cacheSizeMb);
      return store;
    } catch (error) {
      connection?.db.close();
      // A store that could not be set up must not be left behind as an empty file that later
      // commands would take for a store.
      if (created) rmSync(path, { force: true });
      throw toStoreError(error, path);
    }
  }

  async createSession(
    sessionId: string,
    userId: string,
    roles?: string[] | null,
    ttl?: number | null,
    metadata?: Record<string, unknown> | null,
  ): Promise<UserSession> {
    return this.write(() => {
      const session = this.insertSession({ sessionId, userId, roles: roles ?? undefined, ttl, metadata: metadata ?? undefined });
      this.audit(audit.sessionCreated(session));
      return session;
    }, "relaxed");
  }

  // The hot reads (getSession, findToken, tokenRevocationStatus) return read()'s promise as it is:
  // an async wrapper would add microtask turns to every request the middleware resolves.
  getSession(sessionId: string): Promise<UserSession | null> {
    return this.read(() => {
      const session = this.sql.session(sessionId);
      return session && isSessionLive(session, this.now()) ? session : null;
    });
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    return this.write(() => {
      const session = this.sql.session(sessionId);
      if (!session) return false;
      this.sql.deleteSession(sessionId);
      this.audit(audit.sessionDeleted(session));
      return true;
    });
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    return this.write(() => {
      const session = this.sql.session(sessionId);
      if (!session || !isSessionLive(session, this.now())) return false;
      if (extendTtl) {
        const expiresAt = this.now() + extendTtl;
        this.sql.setSessionExpiry(sessionId, expiresAt);
        this.audit(audit.sessionRefreshed(session, expiresAt));
      }
      return true;
    });
  }

  async listSessions(filter: SessionFilter = {}): Promise<UserSession[]> {
    return this.read(() => {
      const rows = (filter.userId === undefined
        ? this.sql.get("SELECT * FROM sessions ORDER BY created_at DESC")
        : this.sql.get("SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at DESC")
      ).all(...(filter.userId === undefined ? [] : [filter.userId])) as SessionRow[];
      const now = this.now();
      return rows.map(toSession).filter((session) => filter.includeExpired || isSessionLive(session, now));
    });
  }

  async findSession(idOrHandle: string): Promise<UserSession | null> {
    return this.run(() => {
      const exact = this.sql.session(idOrHandle);
      if (exact || !looksLikeHandle(idOrHandle)) return exact;
      // Handles are hashes, so finding one means hashing every id; admin-sized tables make this cheap.
      const ids = this.sql.plucked("SELECT session_id FROM sessions").all() as string[];
      const match = ids.find((id) => handleFor(id) === idOrHandle);
      return match === undefined ? null : this.sql.session(match);
    });
  }

  async getRolePermissions(role: string): Promise<string[] | null> {
    return this.run(() => this.sql.role(role));
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    return this.write(() => {
      const before = this.sql.role(role);
      const after = [...new Set(permissions)];
      this.sql.upsertRole(role, after);
      this.audit(audit.roleSet(role, before, after));
    });
  }

  async updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate> {
    return this.write(() => {
      const before = this.sql.role(role);
      const after = AuthStoreBase.plannedRole(before, edit);
      if (after === null) return { before, after: before, changed: false };
      this.sql.upsertRole(role, after);
      this.audit(audit.roleSet(role, before, after));
      return { before, after, changed: true };
    });
  }

  async deleteRole(role: string): Promise<boolean> {
    return this.write(() => {
      const before = this.sql.role(role);
      if (before === null) return false;
      this.sql.deleteRole(role);
      this.audit(audit.roleDeleted(role, before));
      return true;
    });
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.read(() => {
      const rows = this.sql.get("SELECT role, permissions FROM role_permissions ORDER BY role").all() as Array<{ role: string; permissions: string }>;
      return new Map(rows.map((row) => [row.role, parseStringList(row.permissions)]));
    });
  }

  async purgeExpired(options: { dryRun?: boolean } = {}): Promise<UserSession[]> {
    if (options.dryRun) return this.run(() => this.selectExpired().map(toSession));
    return this.write(() => {
      const rows = this.selectExpired();
      if (rows.length === 0) return [];
      for (const row of rows) this.sql.deleteSession(row.session_id);
      this.audit(audit.sessionsPurged(rows.length, new Set(rows.map((row) => row.user_id)).size));
      return rows.map(toSession);
    });
  }

  async recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null> {
    return this.write(() => this.recordToken(record, session ?? null));
  }

  findToken(query: { accessor: string } | { tokenHash: string }): Promise<TokenRecord | null> {
    // A hot path too: the HTTP middleware asks the registry about every Bearer token.
    return this.read(() => {
      if (!this.authTables()) return null;
      return "accessor" in query ? this.sql.tokenByAccessor(query.accessor) : this.sql.tokenByHash(query.tokenHash);
    });
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const rows = this.sql.get("SELECT * FROM pywry_auth_tokens ORDER BY created_at DESC").all() as TokenRow[];
      const now = this.now();
      return rows.map(toTokenRecord).filter((record) => matchesTokenFilter(record, filter, now));
    });
  }

  async revokeToken(request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    return this.write(() => this.revoke(request));
  }

  async renewToken(
    old: Omit<Revocation, "revokedAt" | "accessor">,
    record: TokenRecord,
    session: NewSession | null,
  ): Promise<UserSession | null> {
    return this.write(() => {
      this.revoke(old);
      const created = this.recordToken(record, session);
      this.audit(audit.tokenRenewed(old.tokenHash, record));
      return created;
    });
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    return this.run(() => (this.authTables() ? this.sql.revocation(tokenHash) : null));
  }

  tokenRevocationStatus(token: RevocationQuery): Promise<RevocationCause | null> {
    return this.read(() => this.revocationCause(token));
  }

  /**
   * What the HTTP middleware reads for a Bearer token, in one statement: its revocation and its
   * user's cut-off, the registry's kind for it, and the session whose id is the token. (Three
   * separate reads cost about twice as much per request.)
   */
  override bearerLookup(query: BearerQuery): Promise<BearerLookup> {
    return this.read(() => this.lookUpBearer(query));
  }

  /**
   * bearerLookup, answered synchronously (SQLite answers without waiting): the middleware then
   * hands the request on in the same turn, without a promise per step. Throws a StoreError.
   */
  override bearerLookupSync(query: BearerQuery): BearerLookup {
    try {
      return this.transactions.inSnapshot(() => this.lookUpBearer(query));
    } catch (error) {
      throw toStoreError(error, this.path);
    }
  }

  /** In one read transaction: one snapshot of the revocations, one read lock (for `verify --stdin`). */
  override async tokenRevocationStatuses(tokens: readonly RevocationQuery[]): Promise<Array<RevocationCause | null>> {
    return this.run(() => this.transactions.inReadTransaction(() => tokens.map((token) => this.revocationCause(token))));
  }

  /** In one read transaction (for `verify --stdin`). */
  override async registryKinds(tokenHashes: readonly string[]): Promise<Array<TokenKind | null>> {
    return this.run(() => {
      if (!this.authTables()) return tokenHashes.map(() => null);
      const kind = this.sql.plucked("SELECT kind FROM pywry_auth_tokens WHERE token_hash = ?");
      return this.transactions.inReadTransaction(() => tokenHashes.map((tokenHash) => (kind.get(tokenHash) as TokenKind | undefined) ?? null));
    });
  }

  async revokeUser(userId: string, reason: string | null): Promise<UserRevocation> {
    return this.write(() => {
      const now = this.now();
      const cutoffAt = Math.max(now, this.sql.cutoff(userId) ?? now);
      this.sql.upsertCutoff(userId, cutoffAt, reason);
      const sessionsDeleted = this.sql.deleteUserSessions(userId);
      const tokensRevoked = this.sql.markUserTokensRevoked(userId, now, cutoffAt);
      this.audit(audit.userRevoked(userId, cutoffAt, sessionsDeleted, tokensRevoked, reason));
      return { userId, cutoffAt, sessionsDeleted };
    });
  }

  async findUserCutoff(userId: string): Promise<number | null> {
    return this.run(() => (this.authTables() ? this.sql.cutoff(userId) : null));
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const { clauses, parameters } = auditConditions(filter);
      const where = clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : "";
      // With a limit, the newest entries, still listed oldest first.
      const limit = filter.limit === undefined ? "" : `LIMIT ${Math.max(0, Math.trunc(filter.limit))}`;
      const rows = this.db.prepare(`SELECT * FROM pywry_auth_audit ${where} ORDER BY id DESC ${limit}`).all(...parameters) as AuditRow[];
      return rows.reverse().map(toAuditEntry);
    });
  }

  async listRevocations(): Promise<Revocation[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const rows = this.sql.get("SELECT * FROM pywry_auth_revocations ORDER BY revoked_at").all() as RevocationRow[];
      return rows.map(toRevocation);
    });
  }

  async listUserCutoffs(): Promise<UserCutoff[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const rows = this.sql.get("SELECT user_id, cutoff_at, reason FROM pywry_auth_user_cutoffs ORDER BY user_id").all() as CutoffRow[];
      return rows.map((row) => ({ userId: row.user_id, cutoffAt: row.cutoff_at, reason: row.reason }));
    });
  }

  async importRecords(data: StoreTransfer, options: ImportOptions = {}): Promise<TransferCounts> {
    const plan = () => {
      const existing = emptyExisting();
      for (const role of data.roles.keys()) {
        const permissions = this.sql.role(role);
        if (permissions !== null) existing.roles.set(role, permissions);
      }
      for (const { sessionId } of data.sessions) {
        const session = this.sql.session(sessionId);
        if (session) existing.sessions.set(sessionId, session);
      }
      if (this.authTables()) {
        for (const { tokenHash } of data.tokens) {
          const record = this.sql.tokenByHash(tokenHash);
          if (record) existing.tokens.set(tokenHash, record);
        }
        for (const { tokenHash } of data.revocations) {
          const revocation = this.sql.revocation(tokenHash);
          if (revocation) existing.revocations.set(tokenHash, revocation);
        }
        for (const { userId } of data.cutoffs) {
          const cutoff = this.sql.cutoff(userId);
          if (cutoff !== null) existing.cutoffs.set(userId, cutoff);
        }
        const bars = sessionBars(data.sessions);
        for (const tokenHash of bars.tokenHashes) if (this.sql.revocation(tokenHash)) existing.barringRevocations.add(tokenHash);
        for (const userId of bars.userIds) {
          const cutoff = this.sql.cutoff(userId);
          if (cutoff !== null) existing.barringCutoffs.set(userId, cutoff);
        }
      }
      return planImport(data, existing);
    };
    if (options.dryRun) return this.run(() => plan().counts);
    return this.write(() => {
      const { counts, roles, sessions, tokens, revocations, cutoffs } = plan();
      if (!changedAnything(counts)) return counts;
      for (const [role, permissions] of roles) this.sql.upsertRole(role, permissions);
      for (const session of sessions) this.sql.upsertSession(session);
      for (const record of tokens) this.sql.upsertToken(record);
      for (const revocation of revocations) this.sql.upsertRevocation(revocation);
      for (const cutoff of cutoffs) this.sql.upsertCutoff(cutoff.userId, cutoff.cutoffAt, cutoff.reason);
      this.audit(audit.recordsImported(counts, options.source));
      return counts;
    });
  }

  /**
   * Newest first by rowid (the order rows were inserted; pywry's own table has no other index
   * to walk in order, and pywry-auth leaves that table as pywry made it), one indexed range read
   * per page. Cursors are rowids. A VACUUM renumbers rowids: cursors made before one are stale.
   */
  override async *sessionPages(filter: SessionFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<UserSession>> {
    const before = page.after === undefined ? Number.MAX_SAFE_INTEGER : parseIdCursor(page.after, 1);
    const byUser = filter.userId !== undefined ? "user_id = ? AND " : "";
    // Raw rows (arrays): a third cheaper to read than rows as objects, at a million rows.
    yield* this.rowidPages({
      sql: `SELECT rowid, session_id, user_id, roles, created_at, expires_at, metadata FROM sessions WHERE ${byUser}rowid < ? ORDER BY rowid DESC LIMIT ?`,
      parameters: filter.userId !== undefined ? [filter.userId] : [],
      before,
      size: pageSizeOf(page),
      decode: rawToSession,
      keep: (session, now) => Boolean(filter.includeExpired) || isSessionLive(session, now),
    });
  }

  /** Newest first by rowid, as sessionPages; cursors are rowids of the registry table. */
  override async *tokenPages(filter: TokenFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<TokenRecord>> {
    const before = page.after === undefined ? Number.MAX_SAFE_INTEGER : parseIdCursor(page.after, 1);
    if (!this.authTables()) return;
    const bySubject = filter.subject !== undefined ? "subject = ? AND " : "";
    yield* this.rowidPages({
      sql: `SELECT rowid, accessor, token_hash, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at
      FROM pywry_auth_tokens WHERE ${bySubject}rowid < ? ORDER BY rowid DESC LIMIT ?`,
      parameters: filter.subject !== undefined ? [filter.subject] : [],
      before,
      size: pageSizeOf(page),
      decode: rawToTokenRecord,
      keep: (record, now) => matchesTokenFilter(record, filter, now),
    });
  }

  /**
   * Keyset pages of a table newest first by rowid: `sql` reads the rows (rowid first) below a
   * rowid, a page at a time, and `keep` drops the ones a filter leaves out (a page may then hold
   * fewer rows, or none, and is not yielded empty).
   */
  private async *rowidPages<Raw extends [number, ...unknown[]], T>(walk: {
    sql: string;
    parameters: unknown[];
    before: number;
    size: number;
    decode: (row: Raw) => T;
    keep: (row: T, now: number) => boolean;
  }): AsyncGenerator<ListPage<T>> {
    const statement = this.sql.raw(walk.sql);
    let before = walk.before;
    for (;;) {
      const rows = await this.read(() => statement.all(...walk.parameters, before, walk.size) as Raw[]);
      if (rows.length === 0) return;
      before = rows[rows.length - 1]![0];
      const now = this.now();
      const out: ListPage<T> = { rows: [], cursors: [] };
      for (const row of rows) {
        const decoded = walk.decode(row);
        if (!walk.keep(decoded, now)) continue;
        out.rows.push(decoded);
        out.cursors.push(String(row[0]));
      }
      if (out.rows.length > 0) yield out;
      if (rows.length < walk.size) return;
    }
  }

  /** Oldest first by entry number; `subject` reads the (subject, id) index. Cursors are ids. */
  override async *auditPages(filter: AuditFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<AuditEntry>> {
    const size = pageSizeOf(page);
    let after = page.after === undefined ? 0 : parseIdCursor(page.after);
    if (!this.authTables()) return;
    const conditions = auditConditions(filter);
    const clauses = ["id > ?", ...conditions.clauses];
    const parameters = conditions.parameters;
    const statement = this.sql.get(`SELECT * FROM pywry_auth_audit WHERE ${clauses.join(" AND ")} ORDER BY id LIMIT ?`);
    let left = Number.POSITIVE_INFINITY;
    if (filter.limit !== undefined && page.after === undefined) {
      // The newest `limit` entries: start just before the limit-th newest.
      left = Math.max(0, Math.trunc(filter.limit));
      if (left === 0) return;
      const first = this.sql.plucked(`SELECT id FROM pywry_auth_audit WHERE ${clauses.join(" AND ")} ORDER BY id DESC LIMIT 1 OFFSET ?`);
      const start = (await this.read(() => first.get(0, ...parameters, left - 1))) as number | undefined;
      if (start !== undefined) after = start - 1;
    }
    for (;;) {
      const rows = await this.read(() => statement.all(after, ...parameters, Math.min(size, left)) as AuditRow[]);
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.id;
      left -= rows.length;
      yield { rows: rows.map(toAuditEntry), cursors: rows.map((row) => String(row.id)) };
      if (rows.length < size || left <= 0) return;
    }
  }

  /** By name, from the role table's primary key; cursors are role names. */
  override async *rolePages(page: PageOptions = {}): AsyncGenerator<ListPage<RoleEntry>> {
    const size = pageSizeOf(page);
    const first = this.sql.get("SELECT role, permissions FROM role_permissions ORDER BY role LIMIT ?");
    const next = this.sql.get("SELECT role, permissions FROM role_permissions WHERE role > ? ORDER BY role LIMIT ?");
    let after = page.after ?? null;
    for (;;) {
      const from = after;
      const rows = await this.read(() => (from === null ? first.all(size) : next.all(from, size)) as Array<{ role: string; permissions: string }>);
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.role;
      yield { rows: rows.map((row) => ({ role: row.role, permissions: parseStringList(row.permissions) })), cursors: rows.map((row) => row.role) };
      if (rows.length < size) return;
    }
  }

  override async countExpired(): Promise<number> {
    return this.run(() => this.sql.plucked(`SELECT COUNT(*) FROM sessions WHERE ${EXPIRED_CONDITION}`).get(this.now()) as number);
  }

  /**
   * Deletes the sessions expired at the start in transactions of `batchSize` rows (default
   * 100,000), walking the table once in rowid order, so a pywry app writing to the same file
   * waits for one batch at most; each committed batch is audited as `session.purge`.
   */
  override async purgeExpiredInBatches(options: PurgeBatchOptions = {}): Promise<PurgeBatchResult> {
    const size = Math.max(1, Math.trunc(options.batchSize ?? PURGE_BATCH_ROWS));
    const now = this.now();
    const collect = Boolean(options.collect);
    const sessions: PurgeBatchResult["sessions"] = collect ? [] : null;
    // Each batch: the rowid of the size-th expired row after the last batch (one scan in rowid
    // order), then a range delete up to it. Returning only what is needed (the users, for the
    // audit entry; whole rows only for --json) keeps it about a third faster than returning rows.
    const boundary = this.sql.plucked(
      `SELECT max(rowid) FROM (SELECT rowid FROM sessions WHERE rowid > ? AND ${EXPIRED_CONDITION} ORDER BY rowid LIMIT ?)`,
    );
    const removeSql = `DELETE FROM sessions WHERE rowid > ? AND rowid <= ? AND ${EXPIRED_CONDITION} RETURNING ${collect ? "session_id, user_id, expires_at" : "user_id"}`;
    const remove = collect ? this.sql.get(removeSql) : this.sql.plucked(removeSql);
    let after = -Infinity;
    let purged = 0;
    const restoreCache = this.enlargeCache(PURGE_CACHE_MB);
    try {
      for (;;) {
        // Expired sessions are harmless if a power loss brings some back: no fsync per batch.
        const deleted = await this.write(() => {
          const last = boundary.get(after, now, size) as number | null;
          if (last === null) return null;
          const rows = remove.all(after, last, now) as Array<string | { session_id: string; user_id: string; expires_at: number }>;
          after = last;
          const users = new Set(rows.map((row) => (typeof row === "string" ? row : row.user_id)));
          this.audit(audit.sessionsPurged(rows.length, users.size));
          return rows;
        }, "relaxed");
        if (deleted === null) break;
        purged += deleted.length;
        if (sessions !== null) {
          for (const row of deleted) {
            if (typeof row !== "string") sessions.push({ sessionId: row.session_id, userId: row.user_id, expiresAt: row.expires_at });
          }
        }
        options.onBatch?.(purged);
      }
    } finally {
      restoreCache();
    }
    return { purged, sessions };
  }

  async healthCheck(): Promise<HealthFinding[]> {
    return this.run(() => {
      const problems = (this.db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((row) => row.integrity_check);
      const integrity: HealthFinding =
        problems.length === 1 && problems[0] === "ok"
          ? { check: "integrity", status: "ok", message: "PRAGMA integrity_check: ok" }
          : {
              check: "integrity",
              status: "fail",
              message: `PRAGMA integrity_check: ${problems.slice(0, 3).join("; ")}`,
              fix: "restore the database from a backup (sqlite3 .recover can salvage rows)",
            };
      const schema: HealthFinding = !this.authTables()
        ? {
            check: "schema",
            status: "warn",
            message: "pywry's tables only: pywry-auth's registry, revocations and audit log are not set up yet",
            fix: "run any pywry-auth command that writes (e.g. pywry-auth token create), or pywry-auth init",
          }
        : this.schemaVersion < SCHEMA_VERSION
          ? {
              check: "schema",
              status: "warn",
              message: `pywry-auth schema version ${this.schemaVersion}; this pywry-auth upgrades it to ${SCHEMA_VERSION} (an index for audit --user) on its next write`,
              fix: "run any pywry-auth command that writes, or pywry-auth init",
            }
          : { check: "schema", status: "ok", message: `pywry-auth schema version ${SCHEMA_VERSION} (current)` };
      const encryption: HealthFinding = {
        check: "encryption",
        status: "ok",
        message: this.encryption ? `encrypted (SQLCipher ${this.encryption.version})` : "not encrypted (plain SQLite)",
      };
      return [encryption, integrity, schema];
    });
  }

  async close(): Promise<void> {
    this.transactions.endSnapshot();
    if (this.db.open) this.db.close();
  }

  protected override updateMetadata(
    sessionId: string,
    action: string,
    detail: Record<string, unknown>,
    change: MetadataChange,
  ): Promise<UserSession | null> {
    return this.write(() => {
      const session = this.sql.session(sessionId);
      if (!session) return null;
      const metadata = AuthStoreBase.plannedMetadata(session, change);
      if (metadata === null) return session;
      this.sql.setSessionMetadata(sessionId, metadata);
      this.audit(audit.sessionMetadataChanged(session, action, detail));
      return { ...session, metadata };
    });
  }

  private initialise(busyTimeoutMs: number, cacheSizeMb?: number): void {
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
    if (cacheSizeMb !== undefined && Number.isFinite(cacheSizeMb) && cacheSizeMb > 0) {
      // Negative: a size in KiB rather than in pages.
      this.db.pragma(`cache_size = -${Math.trunc(cacheSizeMb * 1024)}`);
    }
    // Touching the schema is what makes SQLite notice a file that is not a database.
    const tables = new Set(this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    const version = tables.has("pywry_auth_meta") ? readSchemaVersion(this.db) : 0;
    if (version > SCHEMA_VERSION) throw newerSchemaError(this.path, version, SCHEMA_VERSION);
    if (!this.writable) {
      if (!tables.has("sessions")) throw new StoreError(`${this.path} is not a pywry session store (it has no sessions table)`);
      // Every version has the tables; an older one only lacks later indexes (reads are slower).
      this.hasAuthTables = version >= 1;
      this.schemaVersion = version;
      return;
    }
    this.db.pragma("journal_mode = WAL");
    // NORMAL by default, FULL around every change that must survive a power loss: see
    // Transactions.write().
    this.db.pragma("synchronous = NORMAL");
    // Checkpoint (two fsyncs) every 10,000 WAL pages, not 1,000: see docs/performance.md, "5. Library
    // store ops". Readers are unaffected; pywry's own connection keeps its own threshold.
    this.db.pragma("wal_autocheckpoint = 10000");
    this.db.pragma("foreign_keys = ON");
    const current = version === SCHEMA_VERSION && tables.has("sessions") && tables.has("role_permissions");
    if (!current) setUpSchema(this.db);
    this.hasAuthTables = true;
    this.schemaVersion = SCHEMA_VERSION;
  }

  /**
   * Raises the page cache to at least `megabytes` until the returned function is called. Each
   * deleted row also leaves pywry's two indexes, whose entries are scattered: with SQLite's
   * default 2 MiB cache most of those pages are read again and again, and spilled to the WAL
   * before the commit writes them once more.
   */
  private enlargeCache(megabytes: number): () => void {
    const previous = this.db.pragma("cache_size", { simple: true }) as number;
    // Negative sizes are KiB, positive ones pages (SQLite's convention).
    const previousKib = previous < 0 ? -previous : (previous * (this.db.pragma("page_size", { simple: true }) as number)) / 1024;
    if (previousKib >= megabytes * 1024) return () => undefined;
    this.db.pragma(`cache_size = -${megabytes * 1024}`);
    return () => this.db.pragma(`cache_size = ${previous}`);
  }

  private insertSession(session: NewSession): UserSession {
    const created = buildSession(session, this.now(), DEFAULT_ROLES);
    this.sql.upsertSession(created);
    return created;
  }

  private recordToken(record: TokenRecord, session: NewSession | null): UserSession | null {
    if (session && this.sql.session(session.sessionId)) throw sessionIdTaken();
    this.sql.insertToken(record);
    const created = session ? this.insertSession(session) : null;
    this.audit(audit.tokenMinted(record, created?.roles ?? null));
    return created;
  }

  private revoke(request: Omit<Revocation, "revokedAt" | "accessor">): RevokeResult {
    const existing = this.sql.revocation(request.tokenHash);
    const revocation: Revocation = existing ?? { ...request, accessor: handleForHash(request.tokenHash), revokedAt: this.now() };
    if (!existing) this.sql.insertRevocation(revocation);
    this.sql.markTokenRevoked(request.tokenHash, revocation.revokedAt);
    const sessionsDeleted = this.deleteSessionsWithIdHash(request);
    if (!existing || sessionsDeleted > 0) this.audit(audit.tokenRevoked(request, revocation.accessor, sessionsDeleted));
    return { alreadyRevoked: existing !== null, sessionsDeleted, revocation };
  }

  /** The sessions whose id is the revoked token; pywry's login makes the token the session id. */
  private deleteSessionsWithIdHash(request: { tokenHash: string; subject: string | null }): number {
    const candidates = (request.subject === null
      ? this.sql.plucked("SELECT session_id FROM sessions")
      : this.sql.plucked("SELECT session_id FROM sessions WHERE user_id = ?")
    ).all(...(request.subject === null ? [] : [request.subject])) as string[];
    let deleted = 0;
    for (const id of candidates) {
      if (sha256Hex(id) === request.tokenHash) deleted += this.sql.deleteSession(id);
    }
    return deleted;
  }

  /** Expired as pywry reads it: any non-zero expiry in the past (negative ones included). */
  private selectExpired(): SessionRow[] {
    return this.sql.get(`SELECT * FROM sessions WHERE ${EXPIRED_CONDITION} ORDER BY expires_at`).all(this.now()) as SessionRow[];
  }

  /** Why a token no longer counts (see tokenRevocationStatus), in one cached statement. */
  private revocationCause(token: RevocationQuery): RevocationCause | null {
    if (!this.authTables()) return null;
    const [revoked, cutoff] = this.sql
      .raw(
        `SELECT EXISTS (SELECT 1 FROM pywry_auth_revocations WHERE token_hash = ?),
              (SELECT cutoff_at FROM pywry_auth_user_cutoffs WHERE user_id = ?)`,
      )
      .get(token.tokenHash, token.subject) as [number, number | null];
    return audit.revocationCause(revoked !== 0, cutoff, token.issuedAt);
  }

  private lookUpBearer(query: BearerQuery): BearerLookup {
    if (!this.authTables()) {
      const own = this.sql.session(query.token);
      return { revocation: null, kind: null, session: own && isSessionLive(own, this.now()) ? own : null };
    }
    const statement = this.sql.raw(
      `SELECT EXISTS (SELECT 1 FROM pywry_auth_revocations WHERE token_hash = ?),
              (SELECT cutoff_at FROM pywry_auth_user_cutoffs WHERE user_id = ?),
              (SELECT kind FROM pywry_auth_tokens WHERE token_hash = ?),
              s.user_id, s.roles, s.created_at, s.expires_at, s.metadata
         FROM (SELECT 1) LEFT JOIN sessions AS s ON s.session_id = ?`,
    );
    // Positional parameters (the hash twice): binding an object by name costs a tenth more.
    const [revoked, cutoff, kind, userId, roles, createdAt, expiresAt, metadata] = statement.get(
      query.tokenHash,
      query.subject,
      query.tokenHash,
      query.token,
    ) as [number, number | null, TokenKind | null, string | null, string, number, number | null, string | null];
    const own = userId === null ? null : decodeSession(query.token, userId, roles, createdAt, expiresAt, metadata);
    return {
      revocation: audit.revocationCause(revoked !== 0, cutoff, query.issuedAt),
      kind: kind === "session" || kind === "widget" ? kind : null,
      session: own && isSessionLive(own, this.now()) ? own : null,
    };
  }

  /** Appends to the audit log; always called inside the transaction of the change it records. */
  private audit(event: audit.AuditEvent): void {
    this.sql.appendAudit(this.now(), event, this.actor);
  }

  /**
   * Whether pywry-auth's tables are there to consult. A store opened read-only on a database that
   * pywry alone has used sees them appear when a `pywry-auth revoke` (or any change) creates them:
   * until then every read asks SQLite's schema cookie (PRAGMA schema_version, one cheap statement)
   * and looks at the tables again when it changed, so revocations, cut-offs and the registry count
   * from the first read after they exist, not from the next restart. Tables of a newer pywry-auth
   * appearing fail every read (ERR_STORE_VERSION) rather than be ignored.
   */
  private authTables(): boolean {
    if (this.hasAuthTables) return true;
    const schemaVersion = this.sql.plucked("PRAGMA schema_version").get() as number;
    if (schemaVersion === this.seenSchemaVersion) return false;
    this.seenSchemaVersion = schemaVersion;
    const hasMeta = this.sql.plucked("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pywry_auth_meta'").get() !== undefined;
    const version = hasMeta ? readSchemaVersion(this.db) : 0;
    if (version > SCHEMA_VERSION) throw newerSchemaError(this.path, version, SCHEMA_VERSION);
    // Every version has the tables; an older one only lacks later indexes (reads are slower).
    this.hasAuthTables = version >= 1;
    this.schemaVersion = version;
    return this.hasAuthTables;
  }

  /** A hot-path read, in a short shared read snapshot (see Transactions.inSnapshot). */
  private read<T>(operation: () => T): Promise<T> {
    return this.run(() => this.transactions.inSnapshot(operation));
  }

  /** A change in one transaction, in a store opened for writing (see Transactions.write). */
  private write<T>(change: () => T, durability: Durability = "durable"): Promise<T> {
    return this.run(() => {
      if (!this.hasAuthTables) throw new StoreError(`${this.path} was opened read-only; pywry-auth tables cannot be written`);
      return this.transactions.write(change, durability);
    });
  }

  private run<T>(operation: () => T): Promise<T> {
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(toStoreError(error, this.path));
    }
  }
}

/** The WHERE conditions of an audit filter, and their parameters in order. */
function auditConditions(filter: AuditFilter): { clauses: string[]; parameters: unknown[] } {
  const clauses: string[] = [];
  const parameters: unknown[] = [];
  if (filter.since !== undefined) (clauses.push("at >= ?"), parameters.push(filter.since));
  if (filter.action !== undefined) (clauses.push("(action = ? OR action LIKE ?)"), parameters.push(filter.action, `${filter.action}.%`));
  if (filter.subject !== undefined) (clauses.push("subject = ?"), parameters.push(filter.subject));
  return { clauses, parameters };
}
