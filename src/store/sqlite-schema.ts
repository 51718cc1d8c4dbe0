/**
 * The SQLite schema: pywry's own session tables, exactly as pywry's SqliteSessionStore creates
 * them, plus pywry-auth's tables, all prefixed `pywry_auth_` and versioned for migrations.
 * pywry's other tables (widgets, threads, messages, ...) are never touched.
 */
import { pythonJson } from "../core/pyjson.js";
import { DEFAULT_ROLE_PERMISSIONS } from "../core/rbac.js";

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

/** pywry seeds these, as `json.dumps` lists, when role_permissions is empty. */
export function defaultRoleRows(): Array<[string, string]> {
  return Object.entries(DEFAULT_ROLE_PERMISSIONS).map(([role, permissions]) => [role, pythonJson(permissions)]);
}
