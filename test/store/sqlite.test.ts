import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { generateSessionToken, validateSessionToken } from "../../src/auth.js";
import { handleFor } from "../../src/core/handles.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";
import { fixturesDir } from "../helpers/paths.js";
import { pywry } from "../helpers/python.js";
import { describeSessionStore, tokenRecord } from "../../src/testing/store-suite.js";

const workDir = mkdtempSync(join(tmpdir(), "pywry-auth-sqlite-"));
after(() => rmSync(workDir, { recursive: true, force: true }));

let counter = 0;
function freshPath(): string {
  counter += 1;
  return join(workDir, `store-${counter}`, "pywry.db");
}

function pywryDatabaseCopy(): string {
  counter += 1;
  const path = join(workDir, `pywry-${counter}.db`);
  copyFileSync(join(fixturesDir, "pywry-sessions.db"), path);
  return path;
}

function tableNames(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]);
  } finally {
    db.close();
  }
}

describeSessionStore("SqliteSessionStore", (clock) => SqliteSessionStore.open(freshPath(), { now: () => clock.now }));

describe("SqliteSessionStore on a database made by pywry", () => {
  test("reads pywry's sessions, roles, metadata grants and expiry as pywry wrote them", async () => {
    const store = SqliteSessionStore.open(pywryDatabaseCopy(), { mode: "read" });
    try {
      const all = await store.listSessions({ includeExpired: true });
      assert.deepEqual(all.map((s) => s.sessionId).sort(), ["local", "sess-editor", "sess-multi", "sess-old", "sess-viewer"]);
      const carol = await store.getSession("sess-viewer");
      assert.deepEqual(carol?.roles, ["viewer"]);
      assert.equal(carol?.expiresAt, null);
      assert.deepEqual(carol?.metadata, { permissions: { "widget:dashboard-1": ["read", "write"] } });
      assert.deepEqual((await store.getSession("sess-multi"))?.roles, ["viewer", "editor"]);
      assert.equal(await store.getSession("sess-old"), null, "erin's session expired in 2023");
      assert.deepEqual(await store.getRolePermissions("analyst"), ["read", "export"]);
      assert.equal(await store.checkPermission("sess-viewer", "widget", "dashboard-1", "write"), true);
      assert.equal(await store.checkPermission("sess-viewer", "widget", "other", "write"), false);
      assert.equal(await store.checkPermission("sess-multi", "widget", "x", "write"), true);
    } finally {
      await store.close();
    }
  });

  test("read mode changes nothing: no pywry-auth tables are added", async () => {
    const path = pywryDatabaseCopy();
    const before = tableNames(path);
    const store = SqliteSessionStore.open(path, { mode: "read" });
    await store.listSessions();
    assert.deepEqual(await store.listTokens(), []);
    assert.equal(await store.findRevocation("0".repeat(64)), null);
    await store.close();
    assert.deepEqual(tableNames(path), before);
  });

  test("write mode adds only pywry_auth_ tables and leaves pywry's other tables and rows alone", async () => {
    const path = pywryDatabaseCopy();
    const before = tableNames(path);
    const store = SqliteSessionStore.open(path);
    await store.createSession("new", "zoe", ["editor"]);
    await store.close();
    const added = tableNames(path).filter((name) => !before.includes(name));
    assert.deepEqual(added.sort(), ["pywry_auth_audit", "pywry_auth_meta", "pywry_auth_revocations", "pywry_auth_tokens", "pywry_auth_user_cutoffs"]);
    const pywrySees = pywry<{ sessions: Array<{ session_id: string }>; role_permissions: Record<string, string[]> }>({ op: "read_sessions", path });
    assert.equal(pywrySees.sessions.length, 6);
    assert.deepEqual(pywrySees.role_permissions["analyst"], ["read", "export"], "existing roles are not re-seeded");
  });
});

describe("SqliteSessionStore writes what pywry reads", () => {
  test("rows use json.dumps text, REAL seconds and NULL for no expiry", async () => {
    const path = freshPath();
    const store = SqliteSessionStore.open(path, { now: () => 1_800_000_000 });
    await store.createSession("s-int-time", "bob", ["viewer", "editor"], 3600, { permissions: { "widget:w1": ["read"] } });
    await store.createSession("s-forever", "ünï", ["admin"]);
    await store.close();
    const seen = pywry<{ sessions: Array<Record<string, unknown>> }>({ op: "read_sessions", path }).sessions;
    const bob = seen.find((row) => row["session_id"] === "s-int-time");
    assert.equal(bob?.["roles_text"], '["viewer", "editor"]');
    assert.equal(bob?.["created_at_type"], "float", "pywry stores REAL seconds even when the clock is integral");
    assert.equal(bob?.["expires_at"], 1_800_003_600);
    assert.deepEqual(bob?.["metadata"], { permissions: { "widget:w1": ["read"] } });
    const forever = seen.find((row) => row["session_id"] === "s-forever");
    assert.equal(forever?.["expires_at"], null);
    assert.equal(forever?.["user_id"], "ünï");
  });

  test("a session pywry writes into a pywry-auth store is read back", async () => {
    const path = freshPath();
    SqliteSessionStore.open(path).close();
    pywry({ op: "write_session", path, row: { session_id: "py-1", user_id: "frank", roles: ["editor"], created_at: 1.5e9, expires_at: null, metadata: { x: 1 } } });
    const store = SqliteSessionStore.open(path, { mode: "read" });
    const session = await store.getSession("py-1");
    await store.close();
    assert.deepEqual(session, { sessionId: "py-1", userId: "frank", roles: ["editor"], createdAt: 1.5e9, expiresAt: null, metadata: { x: 1 } });
  });

  test("a new store seeds pywry's default roles but not pywry's permanent 'local' admin session", async () => {
    const path = freshPath();
    const store = SqliteSessionStore.open(path);
    assert.deepEqual([...(await store.listRoles()).keys()], ["admin", "anonymous", "editor", "viewer"]);
    assert.deepEqual(await store.listSessions({ includeExpired: true }), []);
    await store.close();
    const rolesText = new Database(path, { readonly: true }).prepare("SELECT permissions FROM role_permissions WHERE role = 'editor'").pluck().get();
    assert.equal(rolesText, '["read", "write"]');
  });

  test("tokens minted by this library validate in pywry's algorithm, and pywry's in ours", () => {
    const now = 1_800_000_000;
    const ours = generateSessionToken("alice@example.com", "päss🔑", now + 600, { now: () => now });
    assert.deepEqual(pywry({ op: "validate", token: ours, secret: "päss🔑", now: now + 1 }), { valid: true, user_id: "alice@example.com", error: null });
    const theirs = pywry<{ token: string }>({ op: "generate", user_id: "ünïcødé", secret: "päss🔑", now, expires_at: now + 600 }).token;
    assert.equal(theirs, generateSessionToken("ünïcødé", "päss🔑", now + 600, { now: () => now }), "byte-for-byte the same token");
    assert.equal(validateSessionToken(theirs, "päss🔑", { now: () => now + 1 }).userId, "ünïcødé");
  });
});

describe("SqliteSessionStore bearerLookup (the middleware's reads for a Bearer token, in one statement)", () => {
  const T0 = 1_800_000_000;
  const clock = { now: T0 };
  const hashOf = (token: string) => createHash("sha256").update(token).digest("hex");
  const query = (token: string, subject: string, issuedAt = T0) => ({ token, tokenHash: hashOf(token), subject, issuedAt });

  test("reads exactly what tokenRevocationStatus, findToken and getSession read one by one", async () => {
    const store = SqliteSessionStore.open(freshPath(), { now: () => clock.now });
    await store.recordIssuedToken(tokenRecord("tok-live", { subject: "alice" }), { sessionId: "tok-live", userId: "alice", roles: ["editor"], ttl: 3600, metadata: { a: 1 } });
    await store.recordIssuedToken(tokenRecord("tok-widget", { kind: "widget", subject: "w1" }));
    await store.recordIssuedToken(tokenRecord("tok-revoked", { subject: "bob" }), { sessionId: "tok-revoked", userId: "bob", roles: ["viewer"], ttl: 3600, metadata: {} });
    await store.revokeToken({ tokenHash: hashOf("tok-revoked"), subject: "bob", expiresAt: T0 + 3600, reason: null });
    await store.createSession("tok-expiring", "carol", ["viewer"], 60);
    await store.revokeUser("dave", null);
    const cases = [
      query("tok-live", "alice"),
      query("tok-widget", "w1"),
      query("tok-revoked", "bob"),
      query("tok-expiring", "carol"),
      query("unknown", "erin"),
      query("dave-old", "dave", T0 - 10),
      query("dave-new", "dave", T0 + 10),
    ];
    for (const at of [T0, T0 + 120]) {
      clock.now = at;
      for (const q of cases) {
        const oneByOne = {
          revocation: await store.tokenRevocationStatus(q),
          kind: (await store.findToken({ tokenHash: q.tokenHash }))?.kind ?? null,
          session: await store.getSession(q.token),
        };
        assert.deepEqual(await store.bearerLookup(q), oneByOne, `${q.token} at ${at}`);
        assert.deepEqual(store.bearerLookupSync(q), oneByOne, `${q.token} at ${at}, synchronously`);
      }
    }
    clock.now = T0;
    assert.deepEqual(await store.bearerLookup(query("tok-live", "alice")), {
      revocation: null,
      kind: "session",
      session: { sessionId: "tok-live", userId: "alice", roles: ["editor"], createdAt: T0, expiresAt: T0 + 3600, metadata: { a: 1 } },
    });
    assert.equal((await store.bearerLookup(query("tok-revoked", "bob"))).revocation, "token");
    assert.equal((await store.bearerLookup(query("dave-old", "dave", T0 - 10))).revocation, "user");
    assert.equal((await store.bearerLookup(query("tok-widget", "w1"))).kind, "widget");
    clock.now = T0 + 120;
    assert.equal((await store.bearerLookup(query("tok-expiring", "carol"))).session, null, "an expired session is no session");
    await store.close();
    assert.throws(() => store.bearerLookupSync(query("tok-live", "alice")), (error: Error & { code?: string }) => error.code === "ERR_STORE");
  });

  test("works read-only on pywry's own database, which has no pywry-auth tables", async () => {
    const store = SqliteSessionStore.open(pywryDatabaseCopy(), { mode: "read" });
    const found = await store.bearerLookup(query("sess-editor", "bob"));
    assert.equal(found.revocation, null);
    assert.equal(found.kind, null);
    assert.deepEqual(found.session, await store.getSession("sess-editor"));
    assert.ok(found.session !== null);
    await store.close();
  });
});

describe("SqliteSessionStore purge", () => {
  test("treats a negative expiry as expired, as pywry's `if expires_at and now > expires_at` does", async () => {
    const path = freshPath();
    const store = SqliteSessionStore.open(path);
    await store.createSession("keep", "alice");
    await store.close();
    const db = new Database(path);
    db.prepare("INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at) VALUES ('neg', 'bob', '[\"viewer\"]', 1.0, -1.0)").run();
    db.close();
    const reopened = SqliteSessionStore.open(path);
    assert.equal(await reopened.getSession("neg"), null);
    assert.deepEqual((await reopened.purgeExpired()).map((s) => s.sessionId), ["neg"]);
    assert.deepEqual((await reopened.listSessions({ includeExpired: true })).map((s) => s.sessionId), ["keep"]);
    await reopened.close();
  });

  test("a dry run works on a store opened read-only and leaves the file's tables as they were", async () => {
    const path = pywryDatabaseCopy();
    const before = tableNames(path);
    const store = SqliteSessionStore.open(path, { mode: "read" });
    assert.deepEqual((await store.purgeExpired({ dryRun: true })).map((s) => s.sessionId), ["sess-old"]);
    await store.close();
    assert.deepEqual(tableNames(path), before);
  });
});

describe("SqliteSessionStore opening rules", () => {
  test("creates the file owner-only (0600) with its directory", async () => {
    const path = freshPath();
    (SqliteSessionStore.open(path)).close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    db.close();
  });

  test("read mode refuses a missing file and does not create it", () => {
    const path = freshPath();
    assert.throws(() => SqliteSessionStore.open(path, { mode: "read" }), { code: "ERR_STORE" });
    assert.equal(existsSync(path), false);
  });

  test("write mode with create: false refuses a missing file", () => {
    const path = freshPath();
    assert.throws(() => SqliteSessionStore.open(path, { create: false }), { code: "ERR_STORE" });
    assert.equal(existsSync(path), false);
  });

  test("a file that is not SQLite is a clear ERR_STORE_KEY without a key (it could be encrypted), and with one", () => {
    const path = join(workDir, "not-a-db.db");
    writeFileSync(path, "this is not a database, just some text that is long enough to have a header".repeat(20));
    assert.throws(() => SqliteSessionStore.open(path, { mode: "read" }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_STORE_KEY");
      assert.match(error.message, /not a plain SQLite database, and no SQLCipher key was given/);
      return true;
    });
    assert.throws(() => SqliteSessionStore.open(path, { mode: "read", key: "k", keySource: "a test" }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_STORE_KEY");
      assert.match(error.message, /cannot open .* with the key from a test: the key is wrong, or the file is not a SQLCipher 3 or 4 database/);
      return true;
    });
  });

  test("a SQLite file without pywry's tables is refused in read mode", () => {
    const path = join(workDir, "other.db");
    const db = new Database(path);
    db.exec("CREATE TABLE unrelated (x)");
    db.close();
    assert.throws(() => SqliteSessionStore.open(path, { mode: "read" }), /no sessions table/);
  });

  test("a schema from a newer pywry-auth is refused, in both modes", async () => {
    const path = freshPath();
    SqliteSessionStore.open(path).close();
    const db = new Database(path);
    db.prepare("UPDATE pywry_auth_meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    for (const mode of ["read", "write"] as const) {
      assert.throws(() => SqliteSessionStore.open(path, { mode }), { code: "ERR_STORE_VERSION" });
    }
  });

  test("handles are stable: the same id always gets the same 16-hex handle", () => {
    assert.equal(handleFor("local"), handleFor("local"));
    assert.match(handleFor("local"), /^[0-9a-f]{16}$/);
    assert.notEqual(handleFor("local"), handleFor("locak"));
  });
});

describe("SqliteSessionStore driver failures", () => {
  test("a driver that is not built for this Node is one actionable line, not the loader's list of paths", async () => {
    const { toStoreError } = await import("../../src/store/sqlite/store.js");
    const loaderError = new Error("Could not locate the bindings file. Tried:\n → /a/build/better_sqlite3.node\n → /b/build/better_sqlite3.node");
    const described = toStoreError(loaderError, "/tmp/x.db");
    assert.equal(described.code, "ERR_STORE");
    assert.match(described.message, /npm rebuild better-sqlite3-multiple-ciphers/);
    assert.equal(described.message.includes("\n"), false);
  });
});

describe("SqliteSessionStore keeps Python's JSON as pywry wrote it", () => {
  /** What pywry's json.dumps writes for NaN, ±Infinity, 2**63+1, 1.0, -0.0, 1e16 and "é". */
  const PYTHON_METADATA = '{"a": NaN, "b": Infinity, "c": -Infinity, "d": 9223372036854775809, "e": 1.0, "f": -0.0, "g": 1e+16, "u": "\\u00e9"}';

  function pywryRow(path: string, id: string, metadata: string): void {
    const db = new Database(path);
    try {
      db.prepare("INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, 'olga', '[\"viewer\"]', 1.0, NULL, ?)").run(id, metadata);
    } finally {
      db.close();
    }
  }

  function metadataText(path: string, id: string): string {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare("SELECT metadata FROM sessions WHERE session_id = ?").pluck().get(id) as string;
    } finally {
      db.close();
    }
  }

  test("a grant keeps every number as pywry wrote it, and the row reads back the same", async () => {
    const path = pywryDatabaseCopy();
    pywryRow(path, "py-numbers", PYTHON_METADATA);
    const store = SqliteSessionStore.open(path);
    try {
      await store.grantResource("py-numbers", "widget:w1", ["read"]);
      assert.equal(metadataText(path, "py-numbers"), `${PYTHON_METADATA.slice(0, -1)}, "permissions": {"widget:w1": ["read"]}}`);
      await store.ungrantResource("py-numbers", "widget:w1");
      assert.equal(metadataText(path, "py-numbers"), `${PYTHON_METADATA.slice(0, -1)}, "permissions": {}}`);
    } finally {
      await store.close();
    }
  });

  test("metadata that is not a JSON object is never rewritten: a grant fails with ERR_STORE and says why", async () => {
    const path = pywryDatabaseCopy();
    pywryRow(path, "py-broken", '{"a": 1, "b": ');
    pywryRow(path, "py-list", "[1, 2]");
    const store = SqliteSessionStore.open(path);
    try {
      for (const id of ["py-broken", "py-list"]) {
        await assert.rejects(store.grantResource(id, "widget:w1", ["read"]), (error: Error & { code?: string }) => {
          assert.equal(error.code, "ERR_STORE");
          assert.match(error.message, new RegExp(`session ${handleFor(id)}: its metadata is not`));
          assert.doesNotMatch(error.message, new RegExp(id));
          return true;
        });
      }
      assert.equal(metadataText(path, "py-broken"), '{"a": 1, "b": ');
      assert.equal(metadataText(path, "py-list"), "[1, 2]");
      assert.equal((await store.getSession("py-broken"))?.userId, "olga", "the session itself still reads");
    } finally {
      await store.close();
    }
  });

  test("metadata nested 5,000 deep is read, copied and written without overflowing the stack", async () => {
    const path = pywryDatabaseCopy();
    let deep = "1";
    for (let level = 0; level < 5000; level += 1) deep = `{"a": ${deep}}`;
    pywryRow(path, "py-deep", deep);
    const store = SqliteSessionStore.open(path);
    const target = SqliteSessionStore.open(freshPath());
    try {
      const session = await store.findSession("py-deep");
      assert.ok(session);
      await target.importRecords({ roles: new Map(), sessions: [session], tokens: [], revocations: [], cutoffs: [] });
      await target.grantResource("py-deep", "widget:w1", ["read"]);
      assert.equal(metadataText(target.path, "py-deep"), `${deep.slice(0, -1)}, "permissions": {"widget:w1": ["read"]}}`);
    } finally {
      await store.close();
      await target.close();
    }
  });
});

describe("SqliteSessionStore opened read-only before pywry-auth's tables exist", () => {
  const now = 1_800_000_000;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

  test("notices the tables when another process creates them: revocations, cut-offs and the registry count at once", async () => {
    const path = pywryDatabaseCopy();
    assert.deepEqual(tableNames(path).filter((name) => name.startsWith("pywry_auth")), [], "a database pywry alone has used");
    const reader = SqliteSessionStore.open(path, { mode: "read", now: () => now });
    const token = generateSessionToken("alice", "s", now + 3600, { now: () => now });
    const widget = generateSessionToken("w1", "s", now + 300, { now: () => now });
    const query = (value: string, subject: string) => ({ token: value, tokenHash: sha256(value), subject, issuedAt: now });
    try {
      assert.equal(await reader.tokenRevocationStatus(query(token, "alice")), null);
      assert.equal(reader.bearerLookupSync(query(token, "alice")).revocation, null);
      await settle();
      const writer = SqliteSessionStore.open(path, { now: () => now + 1 });
      await writer.revokeToken({ tokenHash: sha256(token), subject: "alice", expiresAt: now + 3600, reason: null });
      await writer.revokeUser("bob", null);
      await writer.recordIssuedToken(tokenRecord(widget, { kind: "widget", subject: "w1", roles: null }));
      await writer.close();
      await settle();
      assert.equal(await reader.tokenRevocationStatus(query(token, "alice")), "token");
      assert.equal(reader.bearerLookupSync(query(token, "alice")).revocation, "token", "the middleware's synchronous look-up too");
      assert.equal(await reader.tokenRevocationStatus(query("bob:1:0:x", "bob")), "user");
      assert.equal(reader.bearerLookupSync(query(widget, "w1")).kind, "widget");
      assert.equal((await reader.findToken({ tokenHash: sha256(widget) }))?.kind, "widget");
    } finally {
      await reader.close();
    }
  });

  test("tables of a newer pywry-auth appearing later fail every read instead of being ignored", async () => {
    const path = pywryDatabaseCopy();
    const reader = SqliteSessionStore.open(path, { mode: "read", now: () => now });
    try {
      assert.equal(await reader.tokenRevocationStatus({ tokenHash: "x", subject: "alice", issuedAt: now }), null);
      await settle();
      const db = new Database(path);
      db.exec("CREATE TABLE pywry_auth_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO pywry_auth_meta VALUES ('schema_version', '99');");
      db.close();
      await settle();
      await assert.rejects(reader.tokenRevocationStatus({ tokenHash: "x", subject: "alice", issuedAt: now }), { code: "ERR_STORE_VERSION" });
    } finally {
      await reader.close();
    }
  });
});

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
