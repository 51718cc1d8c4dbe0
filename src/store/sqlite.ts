/**
 * SqliteSessionStore: pywry's own SQLite schema, so a pywry app and this library can share one
 * database file at the same time (WAL, busy timeout, pywry's JSON and float-seconds encodings).
 */
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { PywryAuthError, StoreError } from "../core/errors.js";
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../core/handles.js";
import { pythonJson } from "../core/pyjson.js";
import { DEFAULT_ROLES, sessionGrants } from "../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../core/session.js";
import { META_TABLE, MIGRATIONS, PYWRY_SCHEMA, SCHEMA_VERSION, defaultRoleRows } from "./sqlite-schema.js";
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

interface RevocationRow {
  token_hash: string;
  accessor: string;
  subject: string | null;
  revoked_at: number;
  expires_at: number | null;
  reason: string | null;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export class SqliteSessionStore implements AuthStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly writable: boolean;
  private hasAuthTables: boolean;

  private constructor(path: string, db: Database.Database, options: SqliteStoreOptions) {
    this.path = path;
    this.db = db;
    this.now = options.now ?? (() => Date.now() / 1000);
    this.writable = options.mode !== "read";
    this.hasAuthTables = false;
  }

  /** Opens (and in write mode creates) the database at `path`. */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteSessionStore {
    const mode = options.mode ?? "write";
    if (!existsSync(path)) {
      if (mode === "read" || options.create === false) throw new StoreError(`no session store at ${path}`);
      createPrivateFile(path);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { fileMustExist: true });
      const store = new SqliteSessionStore(path, db, options);
      store.initialise(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
      return store;
    } catch (error) {
      db?.close();
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
    return this.run(() => this.insertSession({ sessionId, userId, roles: roles ?? undefined, ttl, metadata: metadata ?? undefined }));
  }

  async getSession(sessionId: string): Promise<UserSession | null> {
    return this.run(() => {
      const session = this.selectSession(sessionId);
      return session && isSessionLive(session, this.now()) ? session : null;
    });
  }

  async validateSession(sessionId: string): Promise<boolean> {
    return (await this.getSession(sessionId)) !== null;
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    return this.run(() => this.db.prepare("DELETE FROM sessions WHERE session_id = ?").run(sessionId).changes > 0);
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    return this.run(() => {
      const session = this.selectSession(sessionId);
      if (!session || !isSessionLive(session, this.now())) return false;
      if (extendTtl) {
        this.db.prepare("UPDATE sessions SET expires_at = ? WHERE session_id = ?").run(this.now() + extendTtl, sessionId);
      }
      return true;
    });
  }

  async listUserSessions(userId: string): Promise<UserSession[]> {
    return this.listSessions({ userId });
  }

  async listSessions(filter: SessionFilter = {}): Promise<UserSession[]> {
    return this.run(() => {
      const rows = (filter.userId === undefined
        ? this.db.prepare("SELECT * FROM sessions ORDER BY created_at DESC")
        : this.db.prepare("SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at DESC")
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

  async checkPermission(sessionId: string, resourceType: string, resourceId: string, permission: string): Promise<boolean> {
    const session = await this.getSession(sessionId);
    if (!session) return false;
    const roles = await this.listRoles();
    return sessionGrants(session, (role) => roles.get(role), permission, { type: resourceType, id: resourceId });
  }

  async getRolePermissions(role: string): Promise<string[] | null> {
    return this.run(() => {
      const text = this.db.prepare("SELECT permissions FROM role_permissions WHERE role = ?").pluck().get(role) as
        | string
        | undefined;
      return text === undefined ? null : parseStringList(text);
    });
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    return this.run(() => {
      this.db
        .prepare("INSERT OR REPLACE INTO role_permissions (role, permissions) VALUES (?, ?)")
        .run(role, pythonJson([...new Set(permissions)]));
    });
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.run(() => {
      const rows = this.db.prepare("SELECT role, permissions FROM role_permissions ORDER BY role").all() as Array<{
        role: string;
        permissions: string;
      }>;
      return new Map(rows.map((row) => [row.role, parseStringList(row.permissions)]));
    });
  }

  async recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null> {
    return this.run(() =>
      this.db.transaction(() => {
        this.requireAuthTables();
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
        return session ? this.insertSession(session) : null;
      })(),
    );
  }

  async findToken(query: { accessor: string } | { tokenHash: string }): Promise<TokenRecord | null> {
    return this.run(() => {
      if (!this.hasAuthTables) return null;
      const row = ("accessor" in query
        ? this.db.prepare("SELECT * FROM pywry_auth_tokens WHERE accessor = ?").get(query.accessor)
        : this.db.prepare("SELECT * FROM pywry_auth_tokens WHERE token_hash = ?").get(query.tokenHash)) as
        | TokenRow
        | undefined;
      return row ? toTokenRecord(row) : null;
    });
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    return this.run(() => {
      if (!this.hasAuthTables) return [];
      const rows = this.db.prepare("SELECT * FROM pywry_auth_tokens ORDER BY created_at DESC").all() as TokenRow[];
      const now = this.now();
      return rows
        .map(toTokenRecord)
        .filter((record) => filter.subject === undefined || record.subject === filter.subject)
        .filter((record) => filter.kind === undefined || record.kind === filter.kind)
        .filter((record) => filter.all || (record.revokedAt === null && (record.expiresAt === null || record.expiresAt >= now)));
    });
  }

  async revokeToken(request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    return this.run(() =>
      this.db.transaction(() => {
        this.requireAuthTables();
        const existing = this.selectRevocation(request.tokenHash);
        const revocation: Revocation = existing ?? {
          ...request,
          accessor: handleForHash(request.tokenHash),
          revokedAt: this.now(),
        };
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
        return { alreadyRevoked: existing !== null, sessionsDeleted: this.deleteSessionsWithIdHash(request), revocation };
      })(),
    );
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    return this.run(() => (this.hasAuthTables ? this.selectRevocation(tokenHash) : null));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private initialise(busyTimeoutMs: number): void {
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
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
      this.hasAuthTables = version === SCHEMA_VERSION;
      return;
    }
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
    this.db.transaction(() => {
      this.db.exec(PYWRY_SCHEMA);
      this.seedRolePermissions();
      this.db.exec(META_TABLE);
      for (let step = version; step < SCHEMA_VERSION; step += 1) this.db.exec(MIGRATIONS[step] ?? "");
      this.db.prepare("INSERT OR REPLACE INTO pywry_auth_meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    })();
    this.hasAuthTables = true;
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
    this.db
      .prepare(
        `INSERT OR REPLACE INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
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
    const row = this.db.prepare("SELECT * FROM sessions WHERE session_id = ?").get(sessionId) as SessionRow | undefined;
    return row ? toSession(row) : null;
  }

  private selectRevocation(tokenHash: string): Revocation | null {
    const row = this.db.prepare("SELECT * FROM pywry_auth_revocations WHERE token_hash = ?").get(tokenHash) as
      | RevocationRow
      | undefined;
    return row ? toRevocation(row) : null;
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

function toStoreError(error: unknown, path: string): PywryAuthError {
  if (error instanceof PywryAuthError) return error;
  const code = (error as { code?: string }).code ?? "";
  const detail = (error as Error).message ?? String(error);
  const explanations: Record<string, string> = {
    SQLITE_NOTADB: `${path} is not a SQLite database (if pywry encrypted it with SQLCipher, pywry-auth cannot read it)`,
    SQLITE_BUSY: `${path} is locked by another process (gave up waiting)`,
    SQLITE_CORRUPT: `${path} is corrupt: ${detail}`,
    SQLITE_READONLY: `${path} is read-only: ${detail}`,
    SQLITE_CANTOPEN: `cannot open ${path}: ${detail}`,
  };
  const explained = Object.entries(explanations).find(([prefix]) => code.startsWith(prefix));
  return new StoreError(explained ? explained[1] : `session store ${path}: ${detail}`, { cause: error });
}

function toSession(row: SessionRow): UserSession {
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    roles: parseStringList(row.roles),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    metadata: parseObject(row.metadata),
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
