/**
 * `session list|show|delete` against a copy of a database written by pywry itself
 * (test/fixtures/pywry-sessions.db): local (admin, permanent), sess-editor (bob), sess-viewer
 * (carol, with a widget grant), sess-multi (dave), sess-old (erin, expired in 2023).
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import {
  FIXTURE_SESSIONS,
  assertCliError,
  assertExit,
  assertJsonError,
  handleOf,
  okJson,
  sandboxFor,
  sessionRows,
  withDb,
} from "../helpers/cli.js";

interface ListedSession {
  handle: string;
  session_id?: string;
  user_id: string;
  roles: string[];
  created_at: number;
  expires_at: number | null;
  expired: boolean;
  metadata: Record<string, unknown>;
}

const RAW_IDS = FIXTURE_SESSIONS.filter((id) => id !== "local"); // "local" is also an ordinary word

describe("session list", () => {
  test("lists live sessions by handle, never by raw id, and warns about pywry's permanent 'local' admin session", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const result = await sb.run(["--store", store, "session", "list"]);
    assertExit(result, 0);
    for (const id of RAW_IDS) assert.ok(!result.stdout.includes(id), `raw id ${id} is not shown`);
    for (const id of ["local", "sess-editor", "sess-viewer", "sess-multi"]) {
      assert.ok(result.stdout.includes(handleOf(id)), `handle of ${id} is shown`);
    }
    assert.ok(!result.stdout.includes(handleOf("sess-old")), "expired sessions are hidden without --all");
    assert.ok(!/\berin\b/.test(result.stdout));
    assert.match(result.stderr, /^warning: .*"local"/m);
    assert.ok(result.stderr.includes(handleOf("local")), "the warning names the session by handle");
  });

  test("--json: handles, users, roles, pywry's times; no session_id field", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const result = await sb.run(["--store", store, "session", "list", "--json"]);
    const sessions = okJson<ListedSession[]>(result);
    for (const id of FIXTURE_SESSIONS) assert.ok(!result.stdout.includes(`"${id}"`), `raw id ${id} is not in the JSON`);
    assert.deepEqual(sessions.map((s) => s.user_id).sort(), ["admin", "bob", "carol", "dave"]);
    for (const session of sessions) assert.equal("session_id" in session, false);
    const dave = sessions.find((s) => s.user_id === "dave");
    assert.equal(dave?.handle, handleOf("sess-multi"));
    assert.deepEqual(dave?.roles, ["viewer", "editor"]);
    const admin = sessions.find((s) => s.user_id === "admin");
    assert.equal(admin?.expires_at, null);
    const row = sessionRows(store).get("sess-multi");
    assert.equal(dave?.created_at, row?.created_at, "times are pywry's float seconds, unrounded");
  });

  test("--all includes erin's expired session, marked expired", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const sessions = okJson<ListedSession[]>(await sb.run(["--store", store, "session", "list", "--all", "--json"]));
    assert.equal(sessions.length, 5);
    const erin = sessions.find((s) => s.user_id === "erin");
    assert.ok(erin, "erin is listed with --all");
    assert.equal(erin.handle, handleOf("sess-old"));
    assert.equal(erin.expired, true);
    assert.equal(erin.expires_at, 1700000000);
    assert.ok(sessions.filter((s) => s !== erin).every((s) => !s.expired));
  });

  test("--reveal shows raw session ids; --user filters", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const revealed = await sb.run(["--store", store, "session", "list", "--reveal", "--user", "bob"]);
    assertExit(revealed, 0);
    assert.ok(revealed.stdout.includes("sess-editor"));
    assert.ok(!revealed.stdout.includes("sess-viewer"), "--user bob shows only bob's sessions");
    assert.equal(revealed.stderr, "", "no 'local' warning when local is not listed");
  });

  test("only reads: listing leaves pywry's database without pywry-auth tables", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertExit(await sb.run(["--store", store, "session", "list", "--all"]), 0);
    const tables = withDb(store, (db) => db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'pywry_auth%'").pluck().all());
    assert.deepEqual(tables, []);
  });
});

describe("session show", () => {
  test("by handle: user, roles and carol's widget grant; the raw id only with --reveal", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const handle = handleOf("sess-viewer");

    const human = await sb.run(["--store", store, "session", "show", handle]);
    assertExit(human, 0);
    assert.match(human.stdout, /^user\s+"carol"$/m);
    assert.match(human.stdout, /^roles\s+viewer$/m);
    assert.match(human.stdout, /widget:dashboard-1/);
    assert.ok(!human.stdout.includes("sess-viewer"));

    const shown = okJson<ListedSession>(await sb.run(["--store", store, "session", "show", handle, "--reveal", "--json"]));
    assert.equal(shown.session_id, "sess-viewer");
    assert.equal(shown.handle, handle);
    assert.deepEqual(shown.metadata, { permissions: { "widget:dashboard-1": ["read", "write"] } });
    assert.equal(shown.expires_at, null);
  });

  test("an unknown id or handle is 'not found' (exit 4)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "session", "show", "0000000000000000"]), 4, /no session/);
    assertJsonError(await sb.run(["--store", store, "session", "show", "nobody", "--json"]), 4, "ERR_NOT_FOUND");
  });
});

describe("session delete", () => {
  test("by handle: the row is gone from pywry's table, the others are untouched", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const handle = handleOf("sess-editor");
    const deleted = okJson<{ deleted: boolean; handle: string; user_id: string }>(
      await sb.run(["--store", store, "session", "delete", handle, "--json"]),
    );
    assert.deepEqual(deleted, { deleted: true, handle, user_id: "bob" });
    const rows = sessionRows(store);
    assert.equal(rows.has("sess-editor"), false);
    assert.deepEqual([...rows.keys()].sort(), FIXTURE_SESSIONS.filter((id) => id !== "sess-editor").sort());

    assertCliError(await sb.run(["--store", store, "session", "show", handle]), 4);
    assertCliError(await sb.run(["--store", store, "session", "delete", handle]), 4, /no session/);
  });
});

describe("session commands without a usable store", () => {
  test("a missing store is an environment error (exit 3) and is not created", async (t) => {
    const sb = sandboxFor(t);
    const missing = sb.path("nowhere", "pywry.db");
    assertCliError(await sb.run(["--store", missing, "session", "list"]), 3, /no session store/);
    assertJsonError(await sb.run(["--store", missing, "session", "delete", handleOf("local"), "--json"]), 3, "ERR_STORE");
    assert.equal(existsSync(missing), false);
    assert.equal(existsSync(sb.path("nowhere")), false);
  });

  test("the default store (~/.config/pywry/pywry.db) is used when no --store is given", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["session", "list"]), 3, /\.config\/pywry\/pywry\.db/);
    assert.equal(existsSync(sb.defaultStore), false);
  });

  test("a file that is not SQLite is an environment error (exit 3) with a clear message", async (t) => {
    const sb = sandboxFor(t);
    const notDb = sb.path("notes.db");
    writeFileSync(notDb, "this is a text file that happens to be called notes.db, not a SQLite database\n".repeat(4));
    const result = await sb.run(["--store", notDb, "session", "list"]);
    assertCliError(result, 3, /not a plain SQLite database, and no SQLCipher key was found/);
    assert.ok(result.stderr.includes(notDb), "the message names the file");
  });
});

describe("metadata pywry wrote with Python's json.dumps", () => {
  /** NaN, ±Infinity, 2**63+1, 1.0, -0.0 and 1e16 as json.dumps writes them. */
  const PYTHON_METADATA = '{"a": NaN, "b": Infinity, "c": -Infinity, "d": 9223372036854775809, "e": 1.0, "f": -0.0, "g": 1e+16}';
  let deep = "1";
  for (let level = 0; level < 5000; level += 1) deep = `{"a": ${deep}}`;

  function addRows(store: string, rows: Record<string, string>): void {
    const db = new Database(store);
    try {
      const insert = db.prepare("INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, 'olga', '[\"viewer\"]', 1764000000.0, NULL, ?)");
      for (const [id, metadata] of Object.entries(rows)) insert.run(id, metadata);
    } finally {
      db.close();
    }
  }

  test("session grant keeps every number; export, import and migrate copy the rows byte for byte", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    addRows(store, { "py-numbers": PYTHON_METADATA, "py-deep": deep });
    assertExit(await sb.run(["--store", store, "session", "grant", handleOf("py-numbers"), "widget:w1", "read"]), 0);
    const granted = `${PYTHON_METADATA.slice(0, -1)}, "permissions": {"widget:w1": ["read"]}}`;
    assert.equal(sessionRows(store).get("py-numbers")?.metadata, granted);

    const exported = await sb.run(["--store", store, "session", "export", "--user", "olga"]);
    assertExit(exported, 0);
    const imported = sb.path("imported.db");
    assertExit(await sb.run(["--store", imported, "--create", "session", "import", "-"], { input: exported.stdout }), 0);
    assert.equal(sessionRows(imported).get("py-numbers")?.metadata, granted);
    assert.equal(sessionRows(imported).get("py-deep")?.metadata, deep);

    const migrated = sb.path("migrated.db");
    assertExit(await sb.run(["migrate", "--from", store, "--to", migrated]), 0);
    assert.equal(sessionRows(migrated).get("py-numbers")?.metadata, granted);
    assert.equal(sessionRows(migrated).get("py-deep")?.metadata, deep);
  });

  test("--json session list shows metadata nested 5,000 deep, numbers as stored and NaN as a string", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    addRows(store, { "py-numbers": PYTHON_METADATA, "py-deep": deep });
    const listed = await sb.run(["--store", store, "--json", "session", "list", "--user", "olga"]);
    assertExit(listed, 0);
    // --json lists write one compact row per line (issue 17).
    assert.match(listed.stdout, /"d":9223372036854775809,/);
    assert.match(listed.stdout, /"e":1\.0,/);
    assert.match(listed.stdout, /"a":"NaN",/);
    assert.equal(okJson<ListedSession[]>(listed).length, 2, "valid JSON");
  });

  test("session grant on metadata that is not JSON fails with exit 3, says why, and leaves the row alone", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    addRows(store, { "py-broken": '{"a": 1, "b": ' });
    const result = await sb.run(["--store", store, "session", "grant", handleOf("py-broken"), "widget:w1", "read"]);
    assertCliError(result, 3, /metadata is not valid JSON.*never rewrites/);
    assert.equal(sessionRows(store).get("py-broken")?.metadata, '{"a": 1, "b": ');
  });
});
