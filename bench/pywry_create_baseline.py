"""The baseline for target 5: what pywry's SqliteSessionStore.create_session does per call.

pywry itself cannot be installed on the benchmark machine (PyPI is unreachable from it), so this
is a re-creation from pywry's behaviour as docs/pywry-compatibility.md describes it, not pywry's
code: one sqlite3 connection opened the way pywry opens it (PRAGMA journal_mode=WAL, foreign_keys=ON, its schema),
then for each create_session: build the row (time.time(), json.dumps of roles and metadata,
expires_at = now + ttl) and `INSERT OR REPLACE INTO sessions ...` followed by `commit()`, one
transaction per call, at the connection's default `synchronous` level (printed in the result).

Usage: python3 pywry_create_baseline.py PATH COUNT  ->  one JSON object on stdout.
"""
import json
import sqlite3
import sys
import time

SCHEMA = """
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
"""


def open_store(path):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    conn.commit()
    return conn


def create_session(conn, session_id, user_id, roles=None, ttl=None, metadata=None):
    now = time.time()
    roles = roles or ["viewer"]
    expires_at = now + ttl if ttl else None
    conn.execute(
        "INSERT OR REPLACE INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (session_id, user_id, json.dumps(roles), now, expires_at, json.dumps(metadata or {})),
    )
    conn.commit()
    return {"session_id": session_id, "user_id": user_id, "roles": roles, "created_at": now, "expires_at": expires_at}


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    conn = open_store(path)
    synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    started = time.perf_counter()
    for index in range(count):
        create_session(conn, f"py-session-{index}", f"user-{index % 100}", ["viewer"], 3600)
    elapsed = time.perf_counter() - started
    conn.close()
    json.dump({"creates": count, "seconds": elapsed, "per_second": count / elapsed, "synchronous": synchronous}, sys.stdout)


if __name__ == "__main__":
    main()
