/**
 * `token create`, `widget-token` and `token list`, end to end: the real CLI in a fresh HOME, the
 * SQLite file read back to check that what pywry-auth writes is what pywry itself would write.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import {
  FIXTURE_SESSIONS,
  Sandbox,
  assertCliError,
  assertExit,
  assertJsonError,
  handleOf,
  nowSeconds,
  okJson,
  pywryToken,
  sandboxFor,
  sessionRows,
  sha256Hex,
  show,
  withDb,
} from "../helpers/cli.js";

const SECRET = "tokens-test-secret";
const withSecret = { env: { PYWRY_AUTH_SECRET: SECRET } };
const TOKEN_LINE = /^([^:\n]+):(\d+):(\d+):([0-9a-f]{64})\n$/;

interface CreatedToken {
  token: string;
  user_id: string;
  issued_at: number;
  expires_at: number | null;
  session_id: string | null;
  accessor: string;
  roles: string[] | null;
}

interface WidgetToken {
  token: string;
  widget_id: string;
  issued_at: number;
  expires_at: number;
  accessor: string;
}

interface ListedToken {
  accessor: string;
  kind: "session" | "widget";
  subject: string;
  issued_at: number;
  expires_at: number | null;
  label: string | null;
  roles: string[] | null;
  created_at: number;
  revoked_at: number | null;
  status: "active" | "revoked" | "expired";
}

describe("token create", () => {
  test("the first mint creates an owner-only secret and says so on stderr once; stdout holds only the token", async (t) => {
    const sb = sandboxFor(t);
    assert.equal(existsSync(sb.secretFile), false);

    const first = await sb.run(["token", "create", "--user", "alice"]);
    assertExit(first, 0);
    const match = TOKEN_LINE.exec(first.stdout);
    assert.ok(match, `stdout should be exactly one token line\n${show(first)}`);
    assert.equal(match[1], "alice");

    assert.ok(existsSync(sb.secretFile), "secret file should exist after the first mint");
    assert.equal(statSync(sb.secretFile).mode & 0o777, 0o600);
    const secret = readFileSync(sb.secretFile, "utf8").trim();
    assert.match(secret, /^[0-9a-f]{64}$/);
    // The token is signed with that secret, in pywry's format.
    assert.equal(first.stdout.trimEnd(), pywryToken("alice", Number(match[2]), Number(match[3]), secret));

    const notices = first.stderr.match(/created a new signing secret/g) ?? [];
    assert.equal(notices.length, 1, show(first));
    assert.ok(first.stderr.includes(sb.secretFile), "the notice names the secret file");

    const second = await sb.run(["token", "create", "--user", "bob"]);
    assertExit(second, 0);
    assert.match(second.stdout, TOKEN_LINE);
    assert.equal(second.stderr, "", "no notice once the secret exists");
    assert.equal(readFileSync(sb.secretFile, "utf8").trim(), secret, "the secret is not replaced");
  });

  test("--json reports the token, its session and accessor; --roles editor creates the session row in pywry's format", async (t) => {
    const sb = sandboxFor(t);
    const before = Date.now() / 1000;
    const created = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "bob", "--roles", "editor", "--json"], withSecret));
    const afterwards = Date.now() / 1000;

    assert.deepEqual(Object.keys(created).sort(), ["accessor", "expires_at", "issued_at", "roles", "session_id", "token", "user_id"]);
    assert.equal(created.user_id, "bob");
    assert.equal(created.token, pywryToken("bob", created.issued_at, created.expires_at, SECRET));
    assert.equal(created.session_id, created.token, "pywry's login uses the token as the session id");
    assert.equal(created.accessor, handleOf(created.token));
    assert.deepEqual(created.roles, ["editor"]);
    assert.ok(created.issued_at >= Math.floor(before) && created.issued_at <= afterwards);
    assert.equal(created.expires_at, created.issued_at + 86400, "default lifetime is pywry's session_ttl, 24h");

    const row = sessionRows(sb.defaultStore).get(created.token);
    assert.ok(row, "the session row exists, keyed by the token");
    assert.equal(row.user_id, "bob");
    assert.equal(row.roles, '["editor"]');
    assert.equal(row.metadata, "{}");
    assert.ok(row.created_at >= before - 1 && row.created_at <= afterwards + 1);
    assert.ok(row.expires_at !== null && Math.abs(row.expires_at - (created.expires_at ?? 0)) < 2);
    const types = withDb(sb.defaultStore, (db) =>
      db.prepare("SELECT typeof(created_at) AS c, typeof(expires_at) AS e FROM sessions WHERE session_id = ?").get(created.token),
    );
    assert.deepEqual({ ...(types as object) }, { c: "real", e: "real" });
    assert.equal(existsSync(sb.secretFile), false, "with PYWRY_AUTH_SECRET set, no secret file is created");
  });

  test("several roles are stored as Python json.dumps text", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "dave", "--roles", "viewer, editor", "--json"], withSecret));
    assert.deepEqual(created.roles, ["viewer", "editor"]);
    assert.equal(sessionRows(sb.defaultStore).get(created.token)?.roles, '["viewer", "editor"]');
  });

  test("without --roles the session gets pywry's default role, viewer", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "carol", "--json"], withSecret));
    assert.deepEqual(created.roles, ["viewer"]);
    assert.equal(sessionRows(sb.defaultStore).get(created.token)?.roles, '["viewer"]');
  });

  test("--no-session mints only the token: no store file, no session in the output", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "alice", "--no-session", "--json"], withSecret));
    assert.equal(created.token, pywryToken("alice", created.issued_at, created.expires_at, SECRET));
    assert.equal(created.session_id, null);
    assert.equal(created.roles, null);
    assert.equal(existsSync(sb.defaultStore), false, "no store is created");
    assert.equal(existsSync(sb.path(".config", "pywry")), false, "not even its directory");
  });

  test("--ttl 15m: the token expires exactly 900 seconds after it was issued", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "alice", "--ttl", "15m", "--json"], withSecret));
    assert.equal(created.expires_at, created.issued_at + 900);
    const [, issued, expires] = created.token.split(":");
    assert.equal(Number(expires) - Number(issued), 900);
  });

  test("--expires-at takes an ISO 8601 time", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<CreatedToken>(
      await sb.run(["token", "create", "--user", "alice", "--expires-at", "2099-01-01T00:00:00Z", "--json"], withSecret),
    );
    assert.equal(created.expires_at, 4070908800);
    assert.match(created.token, /^alice:\d+:4070908800:[0-9a-f]{64}$/);
    const row = sessionRows(sb.defaultStore).get(created.token);
    assert.ok(row?.expires_at && Math.abs(row.expires_at - 4070908800) < 2, "the session expires with the token");
  });

  test("--expires-at in the past is refused with exit 2", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["token", "create", "--user", "alice", "--expires-at", "2020-01-01T00:00:00Z"], withSecret);
    assertCliError(result, 2, /past/);
    assert.equal(existsSync(sb.defaultStore), false);
  });

  test("--no-expiry mints a token with expires_at 0 and a session that never expires (NULL)", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "admin", "--no-expiry", "--json"], withSecret));
    assert.equal(created.expires_at, null);
    assert.match(created.token, /^admin:\d+:0:[0-9a-f]{64}$/);
    const row = sessionRows(sb.defaultStore).get(created.token);
    assert.ok(row, "session row exists");
    assert.equal(row.expires_at, null);
  });

  test("--ttl together with --no-expiry is a usage error (exit 2)", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--user", "alice", "--ttl", "5m", "--no-expiry"], withSecret), 2, /--no-expiry/);
    assert.equal(existsSync(sb.defaultStore), false);
  });

  test("--ttl together with --expires-at is a usage error (exit 2)", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["token", "create", "--user", "alice", "--ttl", "5m", "--expires-at", "2099-01-01", "--json"], withSecret);
    assertJsonError(result, 2, "ERR_USAGE");
  });

  for (const [what, id] of [
    ["an id containing ':'", "grid:main"],
    ["an empty id", ""],
  ] as const) {
    test(`${what} is refused with exit 2 before any secret or store is created`, async (t) => {
      const sb = sandboxFor(t);
      const result = await sb.run(["token", "create", "--user", id]);
      assertCliError(result, 2, /user id/);
      assert.equal(existsSync(sb.secretFile), false, "no secret file");
      assert.equal(existsSync(sb.path(".config")), false, "nothing under ~/.config at all");
    });
  }

  test("PYWRY_DEPLOY__SQLITE_PATH chooses the store, as it does for pywry", async (t) => {
    const sb = sandboxFor(t);
    const storePath = sb.path("deploy", "sessions.db");
    const created = okJson<CreatedToken>(
      await sb.run(["token", "create", "--user", "alice", "--json"], { env: { PYWRY_AUTH_SECRET: SECRET, PYWRY_DEPLOY__SQLITE_PATH: storePath } }),
    );
    assert.ok(sessionRows(storePath).has(created.token));
    assert.equal(existsSync(sb.defaultStore), false);
    assert.equal(statSync(storePath).mode & 0o777, 0o600, "the store holds credentials: owner-only");
  });

  test("minting into pywry's own database adds the session and leaves pywry's rows and tables alone", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const tablesBefore = withDb(store, (db) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    const rolesBefore = withDb(store, (db) => db.prepare("SELECT * FROM role_permissions ORDER BY role").all());
    const sessionsBefore = sessionRows(store);

    const created = okJson<CreatedToken>(await sb.run(["--store", store, "token", "create", "--user", "bob", "--roles", "editor", "--json"], withSecret));

    const sessionsAfter = sessionRows(store);
    assert.equal(sessionsAfter.size, sessionsBefore.size + 1);
    for (const id of FIXTURE_SESSIONS) assert.deepEqual(sessionsAfter.get(id), sessionsBefore.get(id), `pywry's session ${id} is unchanged`);
    assert.equal(sessionsAfter.get(created.token)?.roles, '["editor"]');
    const tablesAfter = withDb(store, (db) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    for (const table of tablesBefore) assert.ok(tablesAfter.includes(table), `pywry's table ${table} is still there`);
    for (const table of tablesAfter.filter((name) => !tablesBefore.includes(name))) {
      assert.match(table, /^pywry_auth_/, "pywry-auth only adds its own prefixed tables");
    }
    assert.deepEqual(withDb(store, (db) => db.prepare("SELECT * FROM role_permissions ORDER BY role").all()), rolesBefore);
  });

  test("minting twice within one second never hands out (or registers) the same token twice", async (t) => {
    // pywry's tokens are deterministic: one user, one second, one expiry give one token. To make
    // "the same second" certain, the registry is seeded, exactly as a first mint records it, with
    // the tokens for the seconds around now.
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertExit(await sb.run(["--store", store, "widget-token", "seed"], withSecret), 0); // creates pywry-auth's tables
    const expiresAt = 4102444800;
    const seeded = new Set<string>();
    const db = new Database(store);
    try {
      const insert = db.prepare(
        `INSERT INTO pywry_auth_tokens (token_hash, accessor, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at)
         VALUES (?, ?, 'session', 'dup', ?, ?, NULL, '["viewer"]', ?, NULL)`,
      );
      const now = nowSeconds();
      for (let second = now - 1; second <= now + 1; second += 1) {
        const token = pywryToken("dup", second, expiresAt, SECRET);
        seeded.add(token);
        insert.run(sha256Hex(token), handleOf(token), second, expiresAt, second);
      }
    } finally {
      db.close();
    }
    const result = await sb.run(["--store", store, "token", "create", "--user", "dup", "--expires-at", String(expiresAt)], withSecret);
    assert.doesNotMatch(result.stderr, /UNIQUE constraint/, show(result));
    assertExit(result, 0);
    assert.match(result.stdout, /^dup:\d+:4102444800:[0-9a-f]{64}\n$/);
    const token = result.stdout.trim();
    assert.ok(!seeded.has(token), "a token already issued is not handed out again");
    assert.ok(sessionRows(store).has(token), "its session exists");
  });

  test("never hands out a token that is already a session's id: a pywry login in the same second keeps its session", async (t) => {
    // pywry's login makes the token the session id and never tells the registry: the sessions
    // for the seconds around now are written as pywry writes them (admin, with metadata).
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const expiresAt = 4102444800;
    const logins = new Map<string, string>();
    const db = new Database(store);
    try {
      const insert = db.prepare(
        `INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, 'pat', '["admin"]', ?, ?, '{"team": "ops"}')`,
      );
      const now = nowSeconds();
      for (let second = now - 1; second <= now + 1; second += 1) {
        const token = pywryToken("pat", second, expiresAt, SECRET);
        insert.run(token, second, expiresAt);
        logins.set(token, JSON.stringify(sessionRows(store).get(token) ?? null));
      }
    } finally {
      db.close();
    }
    const result = await sb.run(["--store", store, "token", "create", "--user", "pat", "--expires-at", String(expiresAt)], withSecret);
    assertExit(result, 0);
    const token = result.stdout.trim();
    assert.ok(!logins.has(token), "a token that is a pywry session's id is not handed out");
    const rows = sessionRows(store);
    for (const [id, row] of logins) assert.equal(JSON.stringify(rows.get(id) ?? null), row, "pywry's session is left as it was");
    assert.deepEqual(JSON.parse(rows.get(token)?.roles ?? "null"), ["viewer"], "the new token has a session of its own");
  });

  test(
    "waits for another process's write transaction (busy timeout) instead of failing at once",
    async (t) => {
      const sb = sandboxFor(t);
      const store = sb.copyPywryFixture();
      assertExit(await sb.run(["--store", store, "token", "create", "--user", "first"], withSecret), 0);
      // Play pywry: hold a write transaction for a moment, as its create_session does.
      const db = new Database(store);
      t.after(() => {
        if (db.inTransaction) db.exec("ROLLBACK");
        db.close();
      });
      db.exec("BEGIN IMMEDIATE");
      db.prepare(
        `INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES ('from-pywry', 'zoe', '["viewer"]', ?, NULL, '{}')`,
      ).run(Date.now() / 1000);
      const release = setTimeout(() => db.exec("COMMIT"), 1500);
      const started = Date.now();
      const result = await sb.run(["--store", store, "token", "create", "--user", "second", "--json"], withSecret);
      clearTimeout(release);
      if (db.inTransaction) db.exec("COMMIT");
      const created = okJson<CreatedToken>(result);
      assert.ok(Date.now() - started >= 1000, "it waited for the lock");
      const rows = sessionRows(store);
      assert.ok(rows.has(created.token) && rows.has("from-pywry"), "both writes landed");
    },
  );

  test("a far-future expiry from pywry can be verified and listed, though pywry-auth will not mint one", async (t) => {
    // pywry accepts any integer expiry; 99999999999999 is a valid (if silly) one, past year 275760.
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--user", "far", "--expires-at", "99999999999999"], withSecret), 2, /9999/);
    const token = pywryToken("far", 1764000001, 99999999999999, SECRET);
    const verified = await sb.run(["verify", token, "--json"], withSecret);
    assert.equal(okJson<{ valid: boolean; expires_at: number }>(verified).expires_at, 99999999999999);
    const store = sb.copyPywryFixture();
    const db = new Database(store);
    db.prepare(`INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, 'far', '["viewer"]', 1.0, 99999999999999.0, '{}')`).run(token);
    db.close();
    const listed = await sb.run(["--store", store, "session", "list", "--user", "far"]);
    assertExit(listed, 0);
    assert.match(listed.stdout, /99999999999999 \(Unix seconds\)/);
  });

  test(
    "never prints a token that cannot validate: an expiry too large for plain digits is refused or written as digits",
    async (t) => {
      const sb = sandboxFor(t);
      const result = await sb.run(["token", "create", "--user", "big", "--expires-at", "1000000000000000000000", "--no-session"], withSecret);
      if (result.code === 2) {
        assertCliError(result, 2);
        return;
      }
      assertExit(result, 0);
      assert.match(result.stdout, /^big:\d+:\d+:[0-9a-f]{64}\n$/, "the expiry is written in digits, as pywry's int() would");
      assertExit(await sb.run(["verify", result.stdout.trim()], withSecret), 0);
    },
  );
});

describe("widget-token", () => {
  test("widget-token w1 --ttl 300 lasts exactly 300 s and verifies only for widget w1", async (t) => {
    const sb = sandboxFor(t);
    const minted = okJson<WidgetToken>(await sb.run(["widget-token", "w1", "--ttl", "300", "--json"], withSecret));
    assert.deepEqual(Object.keys(minted).sort(), ["accessor", "expires_at", "issued_at", "token", "widget_id"]);
    assert.equal(minted.widget_id, "w1");
    assert.equal(minted.expires_at - minted.issued_at, 300);
    assert.equal(minted.token, pywryToken("w1", minted.issued_at, minted.expires_at, SECRET));
    assert.equal(minted.accessor, handleOf(minted.token));

    const ok = okJson<{ valid: boolean; user_id: string }>(await sb.run(["verify", minted.token, "--widget", "w1", "--json"], withSecret));
    assert.equal(ok.valid, true);
    assert.equal(ok.user_id, "w1");

    const wrong = await sb.run(["verify", minted.token, "--widget", "w2", "--json"], withSecret);
    assertExit(wrong, 1);
    const body = JSON.parse(wrong.stdout) as { valid: boolean; error: { code: string } };
    assert.equal(body.valid, false);
    assert.equal(body.error.code, "ERR_TOKEN_SUBJECT");
  });

  test("a widget id containing ':' is refused with exit 2 and nothing is created", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["widget-token", "grid:main"]), 2, /widget id/);
    assert.equal(existsSync(sb.path(".config")), false);
  });

  test("--no-record mints without creating a store; the default ttl is pywry's 300 s", async (t) => {
    const sb = sandboxFor(t);
    const minted = okJson<WidgetToken>(await sb.run(["widget-token", "chart-1", "--no-record", "--json"], withSecret));
    assert.equal(minted.expires_at - minted.issued_at, 300);
    assert.equal(existsSync(sb.defaultStore), false);
  });
});

describe("token list", () => {
  const sb = new Sandbox();
  let alice: CreatedToken;
  let bob: CreatedToken;
  let widget: WidgetToken;
  let tokens: string[];

  before(async () => {
    alice = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "alice", "--label", "laptop", "--json"], withSecret));
    bob = okJson<CreatedToken>(await sb.run(["token", "create", "--user", "bob", "--roles", "editor", "--json"], withSecret));
    widget = okJson<WidgetToken>(await sb.run(["widget-token", "w1", "--json"], withSecret));
    assertExit(await sb.run(["revoke", "--accessor", bob.accessor], withSecret), 0);
    tokens = [alice.token, bob.token, widget.token];
  });
  after(() => sb.cleanup());

  function assertNoTokenIn(text: string): void {
    for (const token of tokens) {
      assert.ok(!text.includes(token), "the token itself is never printed");
      assert.ok(!text.includes(token.split(":")[3] ?? "?"), "nor its signature");
    }
  }

  test("lists live tokens by accessor, never the token itself (human output)", async () => {
    const result = await sb.run(["token", "list"]);
    assertExit(result, 0);
    assertNoTokenIn(result.stdout + result.stderr);
    assert.ok(result.stdout.includes(alice.accessor));
    assert.ok(result.stdout.includes(widget.accessor));
    assert.ok(result.stdout.includes("laptop"), "labels are shown");
    assert.ok(!result.stdout.includes(bob.accessor), "revoked tokens are hidden without --all");
  });

  test("--json gives one entry per live token, by accessor, without the token", async () => {
    const result = await sb.run(["token", "list", "--json"]);
    const listed = okJson<ListedToken[]>(result);
    assertNoTokenIn(result.stdout);
    assert.deepEqual(listed.map((entry) => entry.accessor).sort(), [alice.accessor, widget.accessor].sort());
    const aliceEntry = listed.find((entry) => entry.accessor === alice.accessor);
    assert.ok(aliceEntry);
    assert.equal(aliceEntry.kind, "session");
    assert.equal(aliceEntry.subject, "alice");
    assert.equal(aliceEntry.label, "laptop");
    assert.equal(aliceEntry.status, "active");
    assert.equal(aliceEntry.issued_at, alice.issued_at);
    assert.equal(aliceEntry.expires_at, alice.expires_at);
    assert.ok(!("token" in aliceEntry) && !("token_hash" in aliceEntry));
  });

  test("--all includes revoked tokens, marked revoked", async () => {
    const result = await sb.run(["token", "list", "--all", "--json"]);
    const listed = okJson<ListedToken[]>(result);
    assertNoTokenIn(result.stdout);
    assert.equal(listed.length, 3);
    const bobEntry = listed.find((entry) => entry.accessor === bob.accessor);
    assert.ok(bobEntry, "bob's revoked token is listed with --all");
    assert.equal(bobEntry.status, "revoked");
    assert.equal(typeof bobEntry.revoked_at, "number");
    assert.deepEqual(bobEntry.roles, ["editor"]);
  });

  test("--kind widget lists only widget tokens", async () => {
    const listed = okJson<ListedToken[]>(await sb.run(["token", "list", "--kind", "widget", "--json"]));
    assert.deepEqual(
      listed.map((entry) => [entry.kind, entry.subject, entry.accessor]),
      [["widget", "w1", widget.accessor]],
    );
  });

  test("--kind with an unknown kind is a usage error", async () => {
    assertCliError(await sb.run(["token", "list", "--kind", "cookie"]), 2, /cookie/);
  });
});
