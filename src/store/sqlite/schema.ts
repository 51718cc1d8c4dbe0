/**
 * The SQLite schema: pywry's own session tables, exactly as pywry's SqliteSessionStore creates
 * them, plus pywry-auth's tables, all prefixed `pywry_auth_` and versioned for migrations.
 * pywry's other tables (widgets, threads, messages, ...) are never touched.
 */
import type Database from "better-sqlite3-multiple-ciphers";
import { pythonJson } from "../../core/pyjson.js";
import { DEFAULT_ROLE_PERMISSIONS } from "../../core/rbac.js";

export const PYWRY_SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '["admin"]',
    created_at REAL NOT NULL,
    expires_at REAL,
    metadata TEXT DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS role_permissions (
    role TEXT PRIMARY KEY,
    permissions TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(user_id);
`;

export const SCHEMA_VERSION = 2;

/** Index i holds the SQL that takes the pywry-auth tables from version i to version i + 1. */
export const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE IF NOT EXISTS pywry_auth_tokens (
    token_hash TEXT PRIMARY KEY,
    accessor TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'widget')),
    subject TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER,
    label TEXT,
    roles TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS idx_pywry_auth_tokens_subject ON pywry_auth_tokens(subject);
CREATE TABLE IF NOT EXISTS pywry_auth_revocations (
    token_hash TEXT PRIMARY KEY,
    accessor TEXT NOT NULL,
    subject TEXT,
    revoked_at REAL NOT NULL,
    expires_at INTEGER,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS pywry_auth_user_cutoffs (
    user_id TEXT PRIMARY KEY,
    cutoff_at REAL NOT NULL,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS pywry_auth_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    target TEXT,
    actor TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_pywry_auth_audit_at ON pywry_auth_audit(at);
`,
  // `audit --user`: one user's entries in order, without reading the whole log.
  `
CREATE INDEX IF NOT EXISTS idx_pywry_auth_audit_subject ON pywry_auth_audit(subject, id);
`,
];

export const META_TABLE = `CREATE TABLE IF NOT EXISTS pywry_auth_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`;

/** The pywry-auth schema version the file records (0: none yet). */
export function readSchemaVersion(db: Database.Database): number {
  const value = db.prepare("SELECT value FROM pywry_auth_meta WHERE key = 'schema_version'").pluck().get();
  return Number(value ?? 0);
}

/**
 * Creates what is missing (pywry's tables, pywry-auth's) and migrates pywry-auth's tables to
 * SCHEMA_VERSION, in one transaction. IMMEDIATE: the write lock is taken before reading, so a
 * busy database is waited for (busy_timeout) instead of failing at once when a read turns into a
 * write.
 */
export function setUpSchema(db: Database.Database): void {
  db.transaction(() => {
    db.exec(PYWRY_SCHEMA);
    seedRolePermissions(db);
    db.exec(META_TABLE);
    const from = readSchemaVersion(db);
    for (let step = from; step < SCHEMA_VERSION; step += 1) db.exec(MIGRATIONS[step] ?? "");
    db.prepare("INSERT OR REPLACE INTO pywry_auth_meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
  }).immediate();
}

/** pywry seeds its default roles, as `json.dumps` lists, into an empty table on first use; do the same, never more. */
function seedRolePermissions(db: Database.Database): void {
  const count = db.prepare("SELECT COUNT(*) FROM role_permissions").pluck().get() as number;
  if (count > 0) return;
  const insert = db.prepare("INSERT INTO role_permissions (role, permissions) VALUES (?, ?)");
  for (const [role, permissions] of Object.entries(DEFAULT_ROLE_PERMISSIONS)) insert.run(role, pythonJson(permissions));
}
