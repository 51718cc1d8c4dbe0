/**
 * SqliteSessionStore: pywry's own SQLite schema, so a pywry app and this library can share one
 * database file at the same time (WAL, busy timeout, pywry's JSON and float-seconds encodings).
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import Database from "better-sqlite3-multiple-ciphers";
import { PywryAuthError, StoreError } from "../core/errors.js";
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../core/handles.js";
import { pythonJson, readMetadata } from "../core/pyjson.js";
import { DEFAULT_ROLES } from "../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../core/session.js";
import { connect, type Connection, type SqliteEncryption } from "./sqlite-connection.js";
import { META_TABLE, MIGRATIONS, PYWRY_SCHEMA, SCHEMA_VERSION, defaultRoleRows } from "./sqlite-schema.js";
import { AuthStoreBase, sessionIdTaken, type MetadataChange } from "./base.js";
import { pageSizeOf, parseIdCursor } from "./paging.js";
import { changedAnything, emptyExisting, importAuditDetail, planImport, sessionBars } from "./transfer.js";
import {
  BearerLookup,
  BearerQuery,
  AuditEntry,
  AuditFilter,
  HealthFinding,
  ImportOptions,
  ListPage,
  PageOptions,
  RoleEntry,
  StoreTransfer,
  TransferCounts,
  UserCutoff,
  PurgeBatchOptions,
  PurgeBatchResult,
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
  TokenKind,
  TokenRecord,
  matchesTokenFilter,
} from "./types.js";

export interface SqliteStoreOptions {
  /**
   * "write" (default) creates the file and the schema when missing; "read" requires an existing
   * file and never changes its schema, so inspecting a database leaves it as it was.
   */
  mode?: "read" | "write";
  /** In write mode, whether a missing file may be created (default true). */
  create?: boolean;
  /** How long to wait for another process's write lock, in milliseconds. */
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

interface SessionRow {
  session_id: string;
  user_id: string;
  roles: string;
  created_at: number;
  expires_at: number | null;
  metadata: string | null;
}

interface TokenRow {
  token_hash: string;
  accessor: string;
  kind: "session" | "widget";
  subject: string;
  issued_at: number;
  expires_at: number | null;
  label: string | null;
  roles: string | null;
  created_at: number;
  revoked_at: number | null;
}

/** sessionPages' raw rows: rowid, then the columns in the order of SessionRow. */
type RawSessionRow = [number, string, string, string, number, number | null, string | null];
/** tokenPages' raw rows: rowid, accessor, token_hash, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at. */
type RawTokenRow = [number, string, string, TokenKind, string, number, number | null, string | null, string | null, number, number | null];

interface AuditRow {
  id: number;
  at: number;
  action: string;
  subject: string | null;
  target: string | null;
  actor: string | null;
  detail: string;
}

interface RevocationRow {
  token_hash: string;
  accessor: string;
  subject: string | null;
  revoked_at: number;
  expires_at: number | null;
  reason: string | null;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** How long hot-path reads may share one read transaction, in milliseconds (see read()). */
const SNAPSHOT_MS = 1;

/** Expired as pywry reads it (any non-zero expiry in the past); one parameter: now. */
const EXPIRED_CONDITION = "expires_at IS NOT NULL AND expires_at != 0 AND expires_at < ?";
/**
 * purgeExpiredInBatches: rows per transaction, and the page cache meanwhile; the fastest measured
 * pair that holds the write lock well under pywry's 5 s busy wait (bench/README.md, "4. Bulk").
 */
const PURGE_BATCH_ROWS = 100_000;
const PURGE_CACHE_MB = 64;

export class SqliteSessionStore extends AuthStoreBase {
  readonly path: string;
  /** How the file is encrypted (null: plain SQLite), as found when it was opened. */
  readonly encryption: SqliteEncryption;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly writable: boolean;
  private readonly actor: string | null;
  private hasAuthTables: boolean;
  /** The schema cookie when the tables were last looked for (see authTables). */
  private seenSchemaVersion: number | null = null;
  /** The pywry-auth schema version of the file (older ones are read as they are in read mode). */
  private schemaVersion = 0;
  /** Prepared statements by SQL (and mode), so hot paths never compile SQL twice. */
  private readonly statements = new Map<string, Database.Statement>();
  /** When the open read snapshot began (performance.now()), or null when none is open; see read(). */
  private snapshotSince: number | null = null;

  private constructor(path: string, connection: Connection, options: SqliteStoreOptions) {
    super();
    this.path = path;
    this.db = connection.db;
    this.encryption = connection.encryption;
    this.now = options.now ?? (() => Date.now() / 1000);
    this.writable = options.mode !== "read";
    this.actor = options.actor ?? osUser();
    this.hasAuthTables = false;
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
      this.audit("session.create", session.userId, handleFor(sessionId), { roles: session.roles, expires_at: session.expiresAt });
      return session;
    }, "relaxed");
  }

  // The hot reads (getSession, findToken, tokenRevocationStatus) return read()'s promise as it is:
  // an async wrapper would add microtask turns to every request the middleware resolves.
  getSession(sessionId: string): Promise<UserSession | null> {
    return this.read(() => {
      const session = this.selectSession(sessionId);
      return session && isSessionLive(session, this.now()) ? session : null;
    });
  }


  async deleteSession(sessionId: string): Promise<boolean> {
    return this.write(() => {
      const session = this.selectSession(sessionId);
      if (!session) return false;
      this.stmt("DELETE FROM sessions WHERE session_id = ?").run(sessionId);
      this.audit("session.delete", session.userId, handleFor(sessionId), {});
      return true;
    });
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    return this.write(() => {
      const session = this.selectSession(sessionId);
      if (!session || !isSessionLive(session, this.now())) return false;
      if (extendTtl) {
        const expiresAt = this.now() + extendTtl;
        this.stmt("UPDATE sessions SET expires_at = ? WHERE session_id = ?").run(expiresAt, sessionId);
        this.audit("session.refresh", session.userId, handleFor(sessionId), { expires_at: expiresAt });
      }
      return true;
    });
  }


  async listSessions(filter: SessionFilter = {}): Promise<UserSession[]> {
    return this.read(() => {
      const rows = (filter.userId === undefined
        ? this.stmt("SELECT * FROM sessions ORDER BY created_at DESC")
        : this.stmt("SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at DESC")
      ).all(...(filter.userId === undefined ? [] : [filter.userId])) as SessionRow[];
      const now = this.now();
      return rows.map(toSession).filter((session) => filter.includeExpired || isSessionLive(session, now));
    });
  }

  async findSession(idOrHandle: string): Promise<UserSession | null> {
    return this.run(() => {
      const exact = this.selectSession(idOrHandle);
      if (exact || !looksLikeHandle(idOrHandle)) return exact;
      // Handles are hashes, so finding one means hashing every id; admin-sized tables make this cheap.
      const ids = this.db.prepare("SELECT session_id FROM sessions").pluck().all() as string[];
      const match = ids.find((id) => handleFor(id) === idOrHandle);
      return match === undefined ? null : this.selectSession(match);
    });
  }


  async getRolePermissions(role: string): Promise<string[] | null> {
    return this.run(() => this.selectRole(role));
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    return this.write(() => {
      const before = this.selectRole(role);
      const after = [...new Set(permissions)];
      this.db.prepare("INSERT OR REPLACE INTO role_permissions (role, permissions) VALUES (?, ?)").run(role, pythonJson(after));
      this.audit("role.set", role, null, { before, after });
    });
  }

  async updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate> {
    return this.write(() => {
      const before = this.selectRole(role);
      const after = AuthStoreBase.plannedRole(before, edit);
      if (after === null) return { before, after: before, changed: false };
      this.db.prepare("INSERT OR REPLACE INTO role_permissions (role, permissions) VALUES (?, ?)").run(role, pythonJson(after));
      this.audit("role.set", role, null, { before, after });
      return { before, after, changed: true };
    });
  }

  async deleteRole(role: string): Promise<boolean> {
    return this.write(() => {
      const before = this.selectRole(role);
      if (before === null) return false;
      this.db.prepare("DELETE FROM role_permissions WHERE role = ?").run(role);
      this.audit("role.delete", role, null, { before });
      return true;
    });
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.read(() => {
      const rows = this.stmt("SELECT role, permissions FROM role_permissions ORDER BY role").all() as Array<{
        role: string;
        permissions: string;
      }>;
      return new Map(rows.map((row) => [row.role, parseStringList(row.permissions)]));
    });
  }



  async purgeExpired(options: { dryRun?: boolean } = {}): Promise<UserSession[]> {
    if (options.dryRun) return this.run(() => this.selectExpired().map(toSession));
    return this.write(() => {
      const rows = this.selectExpired();
      if (rows.length === 0) return [];
      const remove = this.db.prepare("DELETE FROM sessions WHERE session_id = ?");
      for (const row of rows) remove.run(row.session_id);
      this.audit("session.purge", null, null, { count: rows.length, users: [...new Set(rows.map((row) => row.user_id))].length });
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
      const row = ("accessor" in query
        ? this.stmt("SELECT * FROM pywry_auth_tokens WHERE accessor = ?").get(query.accessor)
        : this.stmt("SELECT * FROM pywry_auth_tokens WHERE token_hash = ?").get(query.tokenHash)) as
        | TokenRow
        | undefined;
      return row ? toTokenRecord(row) : null;
    });
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const rows = this.db.prepare("SELECT * FROM pywry_auth_tokens ORDER BY created_at DESC").all() as TokenRow[];
      const now = this.now();
      return rows.map(toTokenRecord).filter((record) => matchesTokenFilter(record, filter, now));
    });
  }

  async revokeToken(request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    return this.write(() => this.revoke(request, "token.revoke"));
  }

  async renewToken(
    old: Omit<Revocation, "revokedAt" | "accessor">,
    record: TokenRecord,
    session: NewSession | null,
  ): Promise<UserSession | null> {
    return this.write(() => {
      this.revoke(old, "token.revoke");
      const created = this.recordToken(record, session);
      this.audit("token.renew", record.subject, record.accessor, { replaced: handleForHash(old.tokenHash), expires_at: record.expiresAt });
      return created;
    });
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    return this.run(() => (this.authTables() ? this.selectRevocation(tokenHash) : null));
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
      return this.readInSnapshot(() => this.lookUpBearer(query));
    } catch (error) {
      throw toStoreError(error, this.path);
    }
  }

  private lookUpBearer(query: BearerQuery): BearerLookup {
    if (!this.authTables()) {
      const own = this.selectSession(query.token);
      return { revocation: null, kind: null, session: own && isSessionLive(own, this.now()) ? own : null };
    }
    const statement = this.rawStmt(
      "bearer-lookup",
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
    const own =
      userId === null
        ? null
        : toSession({ session_id: query.token, user_id: userId, roles, created_at: createdAt, expires_at: expiresAt, metadata });
    return {
      revocation: revocationCauseOf(revoked, cutoff, query.issuedAt),
      kind: kind === "session" || kind === "widget" ? kind : null,
      session: own && isSessionLive(own, this.now()) ? own : null,
    };
  }

  /**
   * tokenRevocationStatus for many tokens at once, in one read transaction: one snapshot of the
   * revocations, and one read lock instead of one per token (for `verify --stdin`).
   */
  override async tokenRevocationStatuses(tokens: readonly RevocationQuery[]): Promise<Array<RevocationCause | null>> {
    return this.run(() => {
      this.endSnapshot();
      return this.db.transaction(() => tokens.map((token) => this.revocationCause(token))).deferred();
    });
  }

  /** The registry's kind for many tokens at once (null: not recorded), in one read transaction (for `verify --stdin`). */
  override async registryKinds(tokenHashes: readonly string[]): Promise<Array<TokenKind | null>> {
    return this.run(() => {
      this.endSnapshot();
      if (!this.authTables()) return tokenHashes.map(() => null);
      const kind = this.plucked("SELECT kind FROM pywry_auth_tokens WHERE token_hash = ?");
      return this.db.transaction(() => tokenHashes.map((tokenHash) => (kind.get(tokenHash) as TokenKind | undefined) ?? null)).deferred();
    });
  }

  async revokeUser(userId: string, reason: string | null): Promise<UserRevocation> {
    return this.write(() => {
      const now = this.now();
      const cutoffAt = Math.max(now, this.selectCutoff(userId) ?? now);
      this.db
        .prepare("INSERT OR REPLACE INTO pywry_auth_user_cutoffs (user_id, cutoff_at, reason) VALUES (?, ?, ?)")
        .run(userId, cutoffAt, reason);
      const sessionsDeleted = this.db.prepare("DELETE FROM sessions WHERE user_id = ?").run(userId).changes;
      const tokensRevoked = this.db
        .prepare("UPDATE pywry_auth_tokens SET revoked_at = ? WHERE subject = ? AND revoked_at IS NULL AND issued_at <= ?")
        .run(now, userId, cutoffAt).changes;
      this.audit("user.revoke", userId, null, { cutoff_at: cutoffAt, sessions_deleted: sessionsDeleted, tokens_revoked: tokensRevoked, reason });
      return { userId, cutoffAt, sessionsDeleted };
    });
  }

  async findUserCutoff(userId: string): Promise<number | null> {
    return this.run(() => (this.authTables() ? this.selectCutoff(userId) : null));
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (filter.since !== undefined) (clauses.push("at >= ?"), params.push(filter.since));
      if (filter.action !== undefined) (clauses.push("(action = ? OR action LIKE ?)"), params.push(filter.action, `${filter.action}.%`));
      if (filter.subject !== undefined) (clauses.push("subject = ?"), params.push(filter.subject));
      const where = clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : "";
      // With a limit, the newest entries, still listed oldest first.
      const limit = filter.limit === undefined ? "" : `LIMIT ${Math.max(0, Math.trunc(filter.limit))}`;
      const rows = this.db.prepare(`SELECT * FROM pywry_auth_audit ${where} ORDER BY id DESC ${limit}`).all(...params) as AuditRow[];
      return rows.reverse().map(toAuditEntry);
    });
  }

  async listRevocations(): Promise<Revocation[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const rows = this.db.prepare("SELECT * FROM pywry_auth_revocations ORDER BY revoked_at").all() as RevocationRow[];
      return rows.map(toRevocation);
    });
  }

  async listUserCutoffs(): Promise<UserCutoff[]> {
    return this.run(() => {
      if (!this.authTables()) return [];
      const rows = this.db.prepare("SELECT user_id, cutoff_at, reason FROM pywry_auth_user_cutoffs ORDER BY user_id").all() as Array<{
        user_id: string;
        cutoff_at: number;
        reason: string | null;
      }>;
      return rows.map((row) => ({ userId: row.user_id, cutoffAt: row.cutoff_at, reason: row.reason }));
    });
  }

  async importRecords(data: StoreTransfer, options: ImportOptions = {}): Promise<TransferCounts> {
    const plan = () => {
      const existing = emptyExisting();
      for (const role of data.roles.keys()) {
        const permissions = this.selectRole(role);
        if (permissions !== null) existing.roles.set(role, permissions);
      }
      for (const { sessionId } of data.sessions) {
        const session = this.selectSession(sessionId);
        if (session) existing.sessions.set(sessionId, session);
      }
      if (this.authTables()) {
        const token = this.db.prepare("SELECT * FROM pywry_auth_tokens WHERE token_hash = ?");
        for (const { tokenHash } of data.tokens) {
          const row = token.get(tokenHash) as TokenRow | undefined;
          if (row) existing.tokens.set(tokenHash, toTokenRecord(row));
        }
        for (const { tokenHash } of data.revocations) {
          const revocation = this.selectRevocation(tokenHash);
          if (revocation) existing.revocations.set(tokenHash, revocation);
        }
        for (const { userId } of data.cutoffs) {
          const cutoff = this.selectCutoff(userId);
          if (cutoff !== null) existing.cutoffs.set(userId, cutoff);
        }
        const bars = sessionBars(data.sessions);
        for (const tokenHash of bars.tokenHashes) if (this.selectRevocation(tokenHash)) existing.barringRevocations.add(tokenHash);
        for (const userId of bars.userIds) {
          const cutoff = this.selectCutoff(userId);
          if (cutoff !== null) existing.barringCutoffs.set(userId, cutoff);
        }
      }
      return planImport(data, existing);
    };
    if (options.dryRun) return this.run(() => plan().counts);
    return this.write(() => {
      const { counts, roles, sessions, tokens, revocations, cutoffs } = plan();
      if (!changedAnything(counts)) return counts;
      const role = this.db.prepare("INSERT OR REPLACE INTO role_permissions (role, permissions) VALUES (?, ?)");
      for (const [name, permissions] of roles) role.run(name, pythonJson(permissions));
      const session = this.db.prepare(
        "INSERT OR REPLACE INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const s of sessions) session.run(s.sessionId, s.userId, pythonJson(s.roles), s.createdAt, s.expiresAt, pythonJson(s.metadata));
      const token = this.db.prepare(
        `INSERT OR REPLACE INTO pywry_auth_tokens
           (token_hash, accessor, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const r of tokens) {
        token.run(r.tokenHash, r.accessor, r.kind, r.subject, r.issuedAt, r.expiresAt, r.label, r.roles === null ? null : pythonJson(r.roles), r.createdAt, r.revokedAt);
      }
      const revocation = this.db.prepare(
        "INSERT OR REPLACE INTO pywry_auth_revocations (token_hash, accessor, subject, revoked_at, expires_at, reason) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const r of revocations) revocation.run(r.tokenHash, r.accessor, r.subject, r.revokedAt, r.expiresAt, r.reason);
      const cutoff = this.db.prepare("INSERT OR REPLACE INTO pywry_auth_user_cutoffs (user_id, cutoff_at, reason) VALUES (?, ?, ?)");
      for (const c of cutoffs) cutoff.run(c.userId, c.cutoffAt, c.reason);
      this.audit("store.import", null, null, importAuditDetail(counts, options.source));
      return counts;
    });
  }

  /**
   * Newest first by rowid (the order rows were inserted; pywry's own table has no other index
   * to walk in order, and pywry-auth leaves that table as pywry made it), one indexed range read
   * per page. Cursors are rowids. A VACUUM renumbers rowids: cursors made before one are stale.
   */
  override async *sessionPages(filter: SessionFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<UserSession>> {
    const size = pageSizeOf(page);
    const byUser = filter.userId !== undefined ? "user_id = ? AND " : "";
    // Raw rows (arrays): a third cheaper to read than rows as objects, at a million rows.
    const sql = `SELECT rowid, session_id, user_id, roles, created_at, expires_at, metadata FROM sessions WHERE ${byUser}rowid < ? ORDER BY rowid DESC LIMIT ?`;
    const statement = this.rawStmt(sql, sql);
    const parameters = filter.userId !== undefined ? [filter.userId] : [];
    let before = page.after === undefined ? Number.MAX_SAFE_INTEGER : parseIdCursor(page.after, 1);
    for (;;) {
      const rows = await this.read(() => statement.all(...parameters, before, size) as RawSessionRow[]);
      if (rows.length === 0) return;
      before = rows[rows.length - 1]![0];
      const now = this.now();
      const out: ListPage<UserSession> = { rows: [], cursors: [] };
      for (const [rowid, sessionId, userId, roles, createdAt, expiresAt, metadata] of rows) {
        // Metadata as every other read gives it (readMetadata): Python's numbers kept, unreadable text marked, never rewritten.
        const session: UserSession = {
          sessionId,
          userId,
          roles: parseStringList(roles),
          createdAt,
          expiresAt,
          metadata: readMetadata(metadata, () => `session ${handleFor(sessionId)}`),
        };
        if (!filter.includeExpired && !isSessionLive(session, now)) continue;
        out.rows.push(session);
        out.cursors.push(String(rowid));
      }
      if (out.rows.length > 0) yield out;
      if (rows.length < size) return;
    }
  }

  /** Newest first by rowid, as sessionPages; cursors are rowids of the registry table. */
  override async *tokenPages(filter: TokenFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<TokenRecord>> {
    const size = pageSizeOf(page);
    let before = page.after === undefined ? Number.MAX_SAFE_INTEGER : parseIdCursor(page.after, 1);
    if (!this.authTables()) return;
    const bySubject = filter.subject !== undefined ? "subject = ? AND " : "";
    const sql = `SELECT rowid, accessor, token_hash, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at
      FROM pywry_auth_tokens WHERE ${bySubject}rowid < ? ORDER BY rowid DESC LIMIT ?`;
    const statement = this.rawStmt(sql, sql);
    const parameters = filter.subject !== undefined ? [filter.subject] : [];
    for (;;) {
      const rows = await this.read(() => statement.all(...parameters, before, size) as RawTokenRow[]);
      if (rows.length === 0) return;
      before = rows[rows.length - 1]![0];
      const now = this.now();
      const out: ListPage<TokenRecord> = { rows: [], cursors: [] };
      for (const [rowid, accessor, tokenHash, kind, subject, issuedAt, expiresAt, label, roles, createdAt, revokedAt] of rows) {
        const record: TokenRecord = {
          accessor,
          tokenHash,
          kind,
          subject,
          issuedAt,
          expiresAt,
          label,
          roles: roles === null ? null : parseStringList(roles),
          createdAt,
          revokedAt,
        };
        if (!matchesTokenFilter(record, filter, now)) continue;
        out.rows.push(record);
        out.cursors.push(String(rowid));
      }
      if (out.rows.length > 0) yield out;
      if (rows.length < size) return;
    }
  }

  /** Oldest first by entry number; `subject` reads the (subject, id) index. Cursors are ids. */
  override async *auditPages(filter: AuditFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<AuditEntry>> {
    const size = pageSizeOf(page);
    let after = page.after === undefined ? 0 : parseIdCursor(page.after);
    if (!this.authTables()) return;
    const clauses = ["id > ?"];
    const parameters: unknown[] = [];
    if (filter.since !== undefined) (clauses.push("at >= ?"), parameters.push(filter.since));
    if (filter.action !== undefined) (clauses.push("(action = ? OR action LIKE ?)"), parameters.push(filter.action, `${filter.action}.%`));
    if (filter.subject !== undefined) (clauses.push("subject = ?"), parameters.push(filter.subject));
    const statement = this.stmt(`SELECT * FROM pywry_auth_audit WHERE ${clauses.join(" AND ")} ORDER BY id LIMIT ?`);
    let left = Number.POSITIVE_INFINITY;
    if (filter.limit !== undefined && page.after === undefined) {
      // The newest `limit` entries: start just before the limit-th newest.
      left = Math.max(0, Math.trunc(filter.limit));
      if (left === 0) return;
      const first = this.plucked(`SELECT id FROM pywry_auth_audit WHERE ${clauses.join(" AND ")} ORDER BY id DESC LIMIT 1 OFFSET ?`);
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
    const first = this.stmt("SELECT role, permissions FROM role_permissions ORDER BY role LIMIT ?");
    const next = this.stmt("SELECT role, permissions FROM role_permissions WHERE role > ? ORDER BY role LIMIT ?");
    let after = page.after ?? null;
    for (;;) {
      const from = after;
      const rows = await this.read(
        () => (from === null ? first.all(size) : next.all(from, size)) as Array<{ role: string; permissions: string }>,
      );
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.role;
      yield { rows: rows.map((row) => ({ role: row.role, permissions: parseStringList(row.permissions) })), cursors: rows.map((row) => row.role) };
      if (rows.length < size) return;
    }
  }

  /** How many sessions purgeExpired would delete now. */
  override async countExpired(): Promise<number> {
    return this.run(
      () => this.plucked(`SELECT COUNT(*) FROM sessions WHERE ${EXPIRED_CONDITION}`).get(this.now()) as number,
    );
  }

  /**
   * purgeExpired for big stores: deletes the sessions expired at the start in transactions of
   * `batchSize` rows, walking the table once in rowid order, so a pywry app writing to the same
   * file waits for one batch at most, and each committed batch is audited as `session.purge`.
   * Reports progress after each batch. Returns the purged sessions' ids, users and expiries only
   * when `collect` is set (a million of them is a lot of memory).
   */
  override async purgeExpiredInBatches(options: PurgeBatchOptions = {}): Promise<PurgeBatchResult> {
    const size = Math.max(1, Math.trunc(options.batchSize ?? PURGE_BATCH_ROWS));
    const now = this.now();
    const collect = Boolean(options.collect);
    const sessions: PurgeBatchResult["sessions"] = collect ? [] : null;
    // Each batch: the rowid of the size-th expired row after the last batch (one scan in rowid
    // order), then a range delete up to it. Returning only what is needed (the users, for the
    // audit entry; whole rows only for --json) keeps it about a third faster than returning rows.
    const boundary = this.plucked(
      `SELECT max(rowid) FROM (SELECT rowid FROM sessions WHERE rowid > ? AND ${EXPIRED_CONDITION} ORDER BY rowid LIMIT ?)`,
    );
    const remove = (collect ? this.stmt.bind(this) : this.plucked.bind(this))(
      `DELETE FROM sessions WHERE rowid > ? AND rowid <= ? AND ${EXPIRED_CONDITION} RETURNING ${collect ? "session_id, user_id, expires_at" : "user_id"}`,
    );
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
          this.audit("session.purge", null, null, { count: rows.length, users: users.size });
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
    this.endSnapshot();
    if (this.db.open) this.db.close();
  }

  private initialise(busyTimeoutMs: number, cacheSizeMb?: number): void {
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
    if (cacheSizeMb !== undefined && Number.isFinite(cacheSizeMb) && cacheSizeMb > 0) {
      // Negative: a size in KiB rather than in pages.
      this.db.pragma(`cache_size = -${Math.trunc(cacheSizeMb * 1024)}`);
    }
    // Touching the schema is what makes SQLite notice a file that is not a database.
    const tables = new Set(this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    const version = tables.has("pywry_auth_meta") ? this.readSchemaVersion() : 0;
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `${this.path} was written by a newer pywry-auth (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade pywry-auth`,
        { code: "ERR_STORE_VERSION" },
      );
    }
    if (!this.writable) {
      if (!tables.has("sessions")) throw new StoreError(`${this.path} is not a pywry session store (it has no sessions table)`);
      // Every version has the tables; an older one only lacks later indexes (reads are slower).
      this.hasAuthTables = version >= 1;
      this.schemaVersion = version;
      return;
    }
    this.db.pragma("journal_mode = WAL");
    // NORMAL by default, FULL around every change that must survive a power loss: see write().
    this.db.pragma("synchronous = NORMAL");
    // Checkpoint (two fsyncs) every 10,000 WAL pages, not 1,000: see bench/README.md, "5. Library
    // store ops". Readers are unaffected; pywry's own connection keeps its own threshold.
    this.db.pragma("wal_autocheckpoint = 10000");
    this.db.pragma("foreign_keys = ON");
    const current = version === SCHEMA_VERSION && tables.has("sessions") && tables.has("role_permissions");
    if (!current) {
      // IMMEDIATE: take the write lock before reading, so a busy database is waited for
      // (busy_timeout) instead of failing at once when a read turns into a write.
      this.db
        .transaction(() => {
          this.db.exec(PYWRY_SCHEMA);
          this.seedRolePermissions();
          this.db.exec(META_TABLE);
          const from = this.readSchemaVersion();
          for (let step = from; step < SCHEMA_VERSION; step += 1) this.db.exec(MIGRATIONS[step] ?? "");
          this.db.prepare("INSERT OR REPLACE INTO pywry_auth_meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
        })
        .immediate();
    }
    this.hasAuthTables = true;
    this.schemaVersion = SCHEMA_VERSION;
  }

  private readSchemaVersion(): number {
    const value = this.db.prepare("SELECT value FROM pywry_auth_meta WHERE key = 'schema_version'").pluck().get();
    return Number(value ?? 0);
  }

  /** pywry seeds its default roles into an empty table on first use; do the same, never more. */
  private seedRolePermissions(): void {
    const count = this.db.prepare("SELECT COUNT(*) FROM role_permissions").pluck().get() as number;
    if (count > 0) return;
    const insert = this.db.prepare("INSERT INTO role_permissions (role, permissions) VALUES (?, ?)");
    for (const [role, permissions] of defaultRoleRows()) insert.run(role, permissions);
  }

  private insertSession(session: NewSession): UserSession {
    const created = buildSession(session, this.now(), DEFAULT_ROLES);
    this.stmt(
      `INSERT OR REPLACE INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(
        created.sessionId,
        created.userId,
        pythonJson(created.roles),
        created.createdAt,
        created.expiresAt,
        pythonJson(created.metadata),
      );
    return created;
  }

  private selectSession(sessionId: string): UserSession | null {
    const row = this.stmt("SELECT * FROM sessions WHERE session_id = ?").get(sessionId) as SessionRow | undefined;
    return row ? toSession(row) : null;
  }

  private selectRevocation(tokenHash: string): Revocation | null {
    const row = this.stmt("SELECT * FROM pywry_auth_revocations WHERE token_hash = ?").get(tokenHash) as
      | RevocationRow
      | undefined;
    return row ? toRevocation(row) : null;
  }

  private recordToken(record: TokenRecord, session: NewSession | null): UserSession | null {
    if (session && this.selectSession(session.sessionId)) throw sessionIdTaken();
    this.db
      .prepare(
        `INSERT INTO pywry_auth_tokens
           (token_hash, accessor, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
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
      );
    const created = session ? this.insertSession(session) : null;
    this.audit("token.mint", record.subject, record.accessor, {
      kind: record.kind,
      expires_at: record.expiresAt,
      roles: created?.roles ?? null,
      label: record.label,
    });
    return created;
  }

  private revoke(request: Omit<Revocation, "revokedAt" | "accessor">, action: string): RevokeResult {
    const existing = this.selectRevocation(request.tokenHash);
    const revocation: Revocation = existing ?? { ...request, accessor: handleForHash(request.tokenHash), revokedAt: this.now() };
    if (!existing) {
      this.db
        .prepare(
          `INSERT INTO pywry_auth_revocations (token_hash, accessor, subject, revoked_at, expires_at, reason)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(revocation.tokenHash, revocation.accessor, revocation.subject, revocation.revokedAt, revocation.expiresAt, revocation.reason);
    }
    this.db
      .prepare("UPDATE pywry_auth_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL")
      .run(revocation.revokedAt, request.tokenHash);
    const sessionsDeleted = this.deleteSessionsWithIdHash(request);
    if (!existing || sessionsDeleted > 0) {
      this.audit(action, request.subject, revocation.accessor, { sessions_deleted: sessionsDeleted, reason: request.reason });
    }
    return { alreadyRevoked: existing !== null, sessionsDeleted, revocation };
  }

  /** The sessions whose id is the revoked token; pywry's login makes the token the session id. */
  private deleteSessionsWithIdHash(request: { tokenHash: string; subject: string | null }): number {
    const candidates = (request.subject === null
      ? this.db.prepare("SELECT session_id FROM sessions")
      : this.db.prepare("SELECT session_id FROM sessions WHERE user_id = ?")
    )
      .pluck()
      .all(...(request.subject === null ? [] : [request.subject])) as string[];
    const remove = this.db.prepare("DELETE FROM sessions WHERE session_id = ?");
    let deleted = 0;
    for (const id of candidates) {
      if (sha256Hex(id) === request.tokenHash) deleted += remove.run(id).changes;
    }
    return deleted;
  }

  protected override updateMetadata(
    sessionId: string,
    action: string,
    detail: Record<string, unknown>,
    change: MetadataChange,
  ): Promise<UserSession | null> {
    return this.write(() => {
      const session = this.selectSession(sessionId);
      if (!session) return null;
      const metadata = change(session.metadata);
      if (pythonJson(metadata) === pythonJson(session.metadata)) return session;
      this.db.prepare("UPDATE sessions SET metadata = ? WHERE session_id = ?").run(pythonJson(metadata), sessionId);
      this.audit(action, session.userId, handleFor(sessionId), detail);
      return { ...session, metadata };
    });
  }

  /** Expired as pywry reads it: any non-zero expiry in the past (negative ones included). */
  private selectExpired(): SessionRow[] {
    return this.db
      .prepare(`SELECT * FROM sessions WHERE ${EXPIRED_CONDITION} ORDER BY expires_at`)
      .all(this.now()) as SessionRow[];
  }

  private selectRole(role: string): string[] | null {
    const text = this.plucked("SELECT permissions FROM role_permissions WHERE role = ?").get(role) as string | undefined;
    return text === undefined ? null : parseStringList(text);
  }

  private selectCutoff(userId: string): number | null {
    const value = this.plucked("SELECT cutoff_at FROM pywry_auth_user_cutoffs WHERE user_id = ?").get(userId);
    return typeof value === "number" ? value : null;
  }

  /** Appends to the audit log; always called inside the transaction of the change it records. */
  private audit(action: string, subject: string | null, target: string | null, detail: Record<string, unknown>): void {
    this.stmt("INSERT INTO pywry_auth_audit (at, action, subject, target, actor, detail) VALUES (?, ?, ?, ?, ?, ?)").run(
      this.now(),
      action,
      subject,
      target,
      this.actor,
      JSON.stringify(detail),
    );
  }

  /**
   * Runs a change in one transaction, in a store opened for writing.
   *
   * Durability: the connection runs with synchronous=NORMAL (set in initialise), under which a
   * WAL commit is not fsynced: it survives the process crashing, but the last commits may be
   * lost if the machine loses power or the OS crashes. That is acceptable for "relaxed" changes
   * (a new or refreshed session: the worst case is a user logging in again) and is what makes
   * createSession several times faster than pywry's commit-and-fsync per call. Every other change
   * is "durable": it runs with synchronous=FULL, so the WAL is fsynced before the commit returns
   * and a revocation (or a deleted session, a removed permission) that a command has reported can
   * never come back. An fsync also makes every earlier relaxed commit durable (same WAL file).
   */
  private write<T>(change: () => T, durability: "durable" | "relaxed" = "durable"): Promise<T> {
    return this.run(() => {
      this.requireAuthTables();
      // A write never runs inside a read snapshot (it would start from a possibly stale one).
      this.endSnapshot();
      // IMMEDIATE for the same reason as in initialise: wait for other writers, never fail early.
      if (durability === "relaxed") return this.transaction(change);
      this.db.pragma("synchronous = FULL");
      try {
        return this.transaction(change);
      } finally {
        this.db.pragma("synchronous = NORMAL");
      }
    });
  }

  /**
   * Runs a hot-path read (getSession, tokenRevocationStatus, findToken, listSessions, listRoles) in a short
   * shared read snapshot.
   *
   * Outside a transaction SQLite starts and ends a read transaction for every statement, and in
   * WAL mode that costs file-lock system calls worth more than the indexed look-up itself
   * (measured in bench/README.md, "1."). So reads made within SNAPSHOT_MS of the first one share
   * one read transaction. A read may see the database as it was at most SNAPSHOT_MS (1 ms)
   * earlier, which is no staler than the same read scheduled 1 ms sooner. The snapshot is ended
   * before any write on this connection, by close(), by the first read after SNAPSHOT_MS, and by
   * a timer soon after that, so it never holds back other writers or WAL checkpoints for more
   * than a millisecond or two. (Why not once per event-loop turn: bench/README.md, "6.")
   */
  private read<T>(operation: () => T): Promise<T> {
    return this.run(() => this.readInSnapshot(operation));
  }

  private readInSnapshot<T>(operation: () => T): T {
    const now = performance.now();
    if (this.snapshotSince !== null && now - this.snapshotSince > SNAPSHOT_MS) this.endSnapshot();
    if (this.snapshotSince === null && !this.db.inTransaction) {
      this.stmt("BEGIN DEFERRED").run();
      this.snapshotSince = now;
      setTimeout(this.endSnapshotSoon, SNAPSHOT_MS).unref();
    }
    return operation();
  }

  private readonly endSnapshotSoon = (): void => {
    try {
      this.endSnapshot();
    } catch {
      // Busy (an iteration is open) or closed: the next read or write ends it instead.
    }
  };

  private endSnapshot(): void {
    if (this.snapshotSince === null) return;
    // Forgotten only once committed: a snapshot that could not end yet is retried, never reused.
    if (this.db.open && this.db.inTransaction) this.stmt("COMMIT").run();
    this.snapshotSince = null;
  }

  /**
   * BEGIN IMMEDIATE ... COMMIT with cached statements: better-sqlite3-multiple-ciphers's db.transaction() builds
   * five wrapper functions on every call, which showed in createSession's profile. Nested calls
   * (none today) would get better-sqlite3-multiple-ciphers's savepoints.
   */
  private transaction<T>(change: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(change)();
    this.stmt("BEGIN IMMEDIATE").run();
    try {
      const result = change();
      this.stmt("COMMIT").run();
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.stmt("ROLLBACK").run();
      throw error;
    }
  }

  /** A prepared statement for `sql`, compiled once per connection. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** A cached statement that returns the first column only (pluck mode is per statement). */
  private plucked(sql: string): Database.Statement {
    const key = `pluck\u0000${sql}`;
    let statement = this.statements.get(key);
    if (statement === undefined) {
      statement = this.db.prepare(sql).pluck();
      this.statements.set(key, statement);
    }
    return statement;
  }

  /** Why a token no longer counts (see tokenRevocationStatus), with one cached statement. */
  private revocationCause(token: RevocationQuery): RevocationCause | null {
    if (!this.authTables()) return null;
    const statement = this.rawStmt(
      "revocation-cause",
      `SELECT EXISTS (SELECT 1 FROM pywry_auth_revocations WHERE token_hash = ?),
              (SELECT cutoff_at FROM pywry_auth_user_cutoffs WHERE user_id = ?)`,
    );
    const [revoked, cutoff] = statement.get(token.tokenHash, token.subject) as [number, number | null];
    return revocationCauseOf(revoked, cutoff, token.issuedAt);
  }

  /** A prepared statement in raw mode (rows as arrays), cached under its own key. */
  private rawStmt(key: string, sql: string): Database.Statement {
    let statement = this.statements.get(key);
    if (statement === undefined) {
      statement = this.db.prepare(sql).raw();
      this.statements.set(key, statement);
    }
    return statement;
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
    const schemaVersion = this.plucked("PRAGMA schema_version").get() as number;
    if (schemaVersion === this.seenSchemaVersion) return false;
    this.seenSchemaVersion = schemaVersion;
    const hasMeta = this.plucked("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pywry_auth_meta'").get() !== undefined;
    const version = hasMeta ? this.readSchemaVersion() : 0;
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `${this.path} was written by a newer pywry-auth (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade pywry-auth`,
        { code: "ERR_STORE_VERSION" },
      );
    }
    // Every version has the tables; an older one only lacks later indexes (reads are slower).
    this.hasAuthTables = version >= 1;
    this.schemaVersion = version;
    return this.hasAuthTables;
  }

  private requireAuthTables(): void {
    if (!this.hasAuthTables) throw new StoreError(`${this.path} was opened read-only; pywry-auth tables cannot be written`);
  }

  private run<T>(operation: () => T): Promise<T> {
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(toStoreError(error, this.path));
    }
  }
}

function createPrivateFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // The database holds live credentials (pywry uses tokens as session ids): owner-only from birth.
    closeSync(openSync(path, "wx", 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw new StoreError(`cannot create session store at ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** The one-line, actionable error for anything the SQLite driver throws. */
export function toStoreError(error: unknown, path: string): PywryAuthError {
  if (error instanceof PywryAuthError) return error;
  const code = (error as { code?: string }).code ?? "";
  const detail = (error as Error).message ?? String(error);
  if (detail.includes("Could not locate the bindings file") || code === "ERR_DLOPEN_FAILED") {
    return new StoreError(
      "the SQLite driver (better-sqlite3-multiple-ciphers) is not built for this Node.js: run `npm rebuild better-sqlite3-multiple-ciphers` where pywry-auth is installed",
      { cause: error },
    );
  }
  const explanations: Record<string, string> = {
    SQLITE_NOTADB: `${path} is not a SQLite database (nor a SQLCipher one that the key opens)`,
    SQLITE_BUSY: `${path} is locked by another process (gave up waiting)`,
    SQLITE_CORRUPT: `${path} is corrupt: ${detail}`,
    // Before SQLITE_READONLY, which prefixes it: a WAL database needs its -shm file beside it.
    SQLITE_READONLY_DIRECTORY:
      `cannot use ${path}: SQLite must create ${path}-shm beside it (the database is in WAL mode), but this user cannot write to its directory; ` +
      `run pywry-auth as the database's owner, or copy the file and pass --store <copy>`,
    SQLITE_READONLY: `${path} is read-only for this user (${detail}): run pywry-auth as the database's owner, or fix its permissions`,
    SQLITE_CANTOPEN: `cannot open ${path}: ${detail}`,
  };
  const explained = Object.entries(explanations).find(([prefix]) => code.startsWith(prefix));
  return new StoreError(explained ? explained[1] : `session store ${path}: ${detail}`, { cause: error });
}

function revocationCauseOf(revoked: number, cutoff: number | null, issuedAt: number): RevocationCause | null {
  if (revoked) return "token";
  return typeof cutoff === "number" && issuedAt <= cutoff ? "user" : null;
}

function toSession(row: SessionRow): UserSession {
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    roles: parseStringList(row.roles),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    metadata: readMetadata(row.metadata, () => `session ${handleFor(row.session_id)}`),
  };
}

function toTokenRecord(row: TokenRow): TokenRecord {
  return {
    accessor: row.accessor,
    tokenHash: row.token_hash,
    kind: row.kind,
    subject: row.subject,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    label: row.label,
    roles: row.roles === null ? null : parseStringList(row.roles),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

function toAuditEntry(row: AuditRow): AuditEntry {
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

function osUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return process.env["USER"] ?? null;
  }
}

function toRevocation(row: RevocationRow): Revocation {
  return {
    tokenHash: row.token_hash,
    accessor: row.accessor,
    subject: row.subject,
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    reason: row.reason,
  };
}

function parseStringList(text: string): string[] {
  const value: unknown = safeJson(text);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function parseObject(text: string | null): Record<string, unknown> {
  const value: unknown = text ? safeJson(text) : {};
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
