/**
 * Session administration end to end: `session create|refresh|purge`, the `session list` filters,
 * and `audit`. Each test runs the real CLI against a fresh store or a temporary copy of
 * test/fixtures/pywry-sessions.db, written by pywry itself: local (admin, no expiry),
 * sess-editor (bob), sess-viewer (carol, no expiry), sess-multi (dave, viewer+editor),
 * sess-old (erin, admin, expired in 2023).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { newSessionId } from "../../src/cli/commands/sessions.js";
import {
  FIXTURE_SESSIONS,
  assertCliError,
  assertExit,
  assertJsonError,
  handleOf,
  nowSeconds,
  okJson,
  sandboxFor,
  sessionRows,
  show,
  withDb,
  type CliResult,
} from "../helpers/cli.js";

interface CreatedSession {
  session_id: string;
  handle: string;
  user_id: string;
  roles: string[];
  created_at: number;
  expires_at: number | null;
  metadata: Record<string, unknown>;
}

interface ListedSession {
  handle: string;
  user_id: string;
  roles: string[];
  expires_at: number | null;
  expired: boolean;
}

interface PurgeResult {
  purged: number;
  dry_run: boolean;
  sessions: Array<{ handle: string; user_id: string; expires_at: number | null }>;
}

interface AuditLine {
  id: number;
  at: number;
  action: string;
  subject: string | null;
  target: string | null;
  actor: string | null;
  detail: Record<string, unknown>;
}

/** A session id as `session create` makes them: 32 random bytes, base64url without padding. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const DAY = 86400;
const ERIN_EXPIRY = 1700000000;

/** Parses NDJSON: every line must be one complete JSON object. */
function ndjson(result: CliResult): AuditLine[] {
  assertExit(result, 0);
  if (result.stdout === "") return [];
  assert.ok(result.stdout.endsWith("\n"), `NDJSON ends with a newline\n${show(result)}`);
  return result.stdout
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      try {
        return JSON.parse(line) as AuditLine;
      } catch {
        return assert.fail(`line is not JSON: ${line}\n${show(result)}`);
      }
    });
}

function userIds(sessions: readonly ListedSession[]): string[] {
  return sessions.map((session) => session.user_id).sort();
}

function auditTable(path: string): Array<{ action: string; subject: string | null; target: string | null; detail: string }> {
  return withDb(path, (db) => db.prepare("SELECT action, subject, target, detail FROM pywry_auth_audit ORDER BY id").all()) as Array<{
    action: string;
    subject: string | null;
    target: string | null;
    detail: string;
  }>;
}

describe("session create", () => {
  test("never makes an id that begins with '-', which commands would take for an option", () => {
    // Without the redraw, 1 id in 64 would begin with '-': 5,000 draws would all but surely show one.
    for (let draw = 0; draw < 5000; draw += 1) {
      const id = newSessionId();
      assert.ok(!id.startsWith("-"), id);
      assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    }
  });

  test("creates a missing store (asked with --create, and says so) and prints only the new random session id, stored in pywry's format", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("data", "pywry.db");

    const first = await sb.run(["--store", store, "--create", "session", "create", "--user", "bob", "--roles", "editor"]);
    assertExit(first, 0);
    assert.match(first.stderr, /created a new session store at .*data\/pywry\.db/);
    const id = first.stdout.replace(/\n$/, "");
    assert.match(id, SESSION_ID, `stdout is the session id and nothing else\n${show(first)}`);
    assert.equal(first.stdout, `${id}\n`);

    const row = sessionRows(store).get(id);
    assert.ok(row, "the session is in pywry's sessions table under the printed id");
    assert.equal(row.user_id, "bob");
    assert.equal(row.roles, '["editor"]', "roles are json.dumps text");
    assert.equal(row.metadata, "{}");
    assert.ok(row.expires_at !== null && Math.abs(row.expires_at - row.created_at - DAY) < 1, "default lifetime is pywry's 24h");
    assert.ok(Math.abs(row.created_at - Date.now() / 1000) < 60, "created_at is Unix seconds");
    const types = withDb(store, (db) => db.prepare("SELECT typeof(created_at) AS c, typeof(expires_at) AS e FROM sessions WHERE session_id = ?").get(id));
    assert.deepEqual(types, { c: "real", e: "real" }, "times are REAL like pywry's");

    const second = okJson<CreatedSession>(
      await sb.run([
        "--store", store, "session", "create", "--user", "bob", "--roles", "viewer,editor", "--no-expiry",
        "--metadata", 'permissions={"widget:w1":["read"]}', "--metadata", "note=hello world", "--metadata", "count=3", "--json",
      ]),
    );
    assert.match(second.session_id, SESSION_ID);
    assert.notEqual(second.session_id, id, "every create makes a new random id");
    assert.equal(second.handle, handleOf(second.session_id));
    assert.equal(second.user_id, "bob");
    assert.deepEqual(second.roles, ["viewer", "editor"]);
    assert.equal(second.expires_at, null);
    assert.deepEqual(second.metadata, { permissions: { "widget:w1": ["read"] }, note: "hello world", count: 3 });
    const row2 = sessionRows(store).get(second.session_id);
    assert.equal(row2?.roles, '["viewer", "editor"]');
    assert.equal(row2?.expires_at, null, "--no-expiry stores NULL");
    assert.equal(row2?.metadata, '{"permissions": {"widget:w1": ["read"]}, "note": "hello world", "count": 3}');
    assert.equal(row2?.created_at, second.created_at);

    const short = okJson<CreatedSession>(await sb.run(["--store", store, "session", "create", "--user", "carol", "--ttl", "15m", "--json"]));
    assert.deepEqual(short.roles, ["viewer"], "roles default to viewer");
    assert.ok(short.expires_at !== null && Math.abs(short.expires_at - short.created_at - 900) < 1e-6);
  });

  test("refuses ids pywry could never put in a token, bad lifetimes, roles and metadata (exit 2), before touching the store", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const refusals: Array<[string[], RegExp]> = [
      [["--user", "grid:main"], /':'/],
      [["--user", ""], /user id/],
      [["--user", "bob", "--ttl", "1h", "--no-expiry"], /--no-expiry/],
      [["--user", "bob", "--ttl", "soon"], /--ttl: invalid duration/],
      [["--user", "bob", "--roles", "a b"], /role/],
      [["--user", "bob", "--metadata", "novalue"], /key=value/],
      [["--user", "bob", "--metadata", "=x"], /key=value/],
    ];
    for (const [args, mentions] of refusals) {
      assertCliError(await sb.run(["--store", store, "session", "create", ...args]), 2, mentions);
    }
    assertJsonError(await sb.run(["--store", store, "session", "create", "--user", "a:b", "--json"]), 2, "ERR_INVALID_INPUT");
    assert.equal(existsSync(store), false, "no store is created for a refused command");
  });
});

describe("session list filters", () => {
  test("--role, --user and --expired select sessions; expired ones only with --expired", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const list = async (...args: string[]) => okJson<ListedSession[]>(await sb.run(["--store", store, "session", "list", "--json", ...args]));

    assert.deepEqual(userIds(await list("--role", "editor")), ["bob", "dave"]);
    assert.deepEqual(userIds(await list("--role", "admin")), ["admin"], "erin's admin session has expired");
    assert.deepEqual(userIds(await list("--role", "viewer", "--user", "dave")), ["dave"]);

    const expired = await list("--expired");
    assert.deepEqual(userIds(expired), ["erin"]);
    assert.equal(expired[0]?.handle, handleOf("sess-old"));
    assert.equal(expired[0]?.expired, true);
  });

  test("--expiring-within lists live sessions expiring before now + duration, never permanent ones", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertExit(await sb.run(["--store", store, "session", "create", "--user", "frank", "--ttl", "30m"]), 0);

    const soon = okJson<ListedSession[]>(await sb.run(["--store", store, "session", "list", "--expiring-within", "1h", "--json"]));
    assert.deepEqual(userIds(soon), ["frank"], "bob and dave expire in 2036, admin and carol never, erin already has");

    assertCliError(await sb.run(["--store", store, "session", "list", "--expired", "--expiring-within", "1h"]), 2, /--expired/);
    assertCliError(await sb.run(["--store", store, "session", "list", "--expiring-within", "soon"]), 2, /soon/);
  });
});

describe("session refresh", () => {
  test("extends a live session by handle or id: --ttl from now, else pywry's 24h", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const created = await sb.run(["--store", store, "session", "create", "--user", "frank", "--ttl", "10m"]);
    assertExit(created, 0);
    const id = created.stdout.trim();

    const before = nowSeconds();
    const refreshed = okJson<{ handle: string; expires_at: number }>(
      await sb.run(["--store", store, "session", "refresh", handleOf(id), "--ttl", "2h", "--json"]),
    );
    assert.equal(refreshed.handle, handleOf(id));
    assert.ok(refreshed.expires_at >= before + 7200 && refreshed.expires_at < nowSeconds() + 7201, "expires 2h from now");
    assert.equal(sessionRows(store).get(id)?.expires_at, refreshed.expires_at, "the reported expiry is the stored one");

    const human = await sb.run(["--store", store, "session", "refresh", id]);
    assertExit(human, 0);
    assert.match(human.stdout, new RegExp(`${handleOf(id)}.*expires \\d{4}-\\d\\d-\\d\\dT`));
    assert.ok(!human.stdout.includes(id), "the raw id is not echoed");
    const expiresAt = sessionRows(store).get(id)?.expires_at ?? 0;
    assert.ok(Math.abs(expiresAt - (Date.now() / 1000 + DAY)) < 60, "default refresh is 24h from now");
  });

  test("an expired session cannot be refreshed (exit 4, says it expired); unknown is exit 4; bad TTL exit 2; no store exit 3", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "session", "refresh", handleOf("sess-old")]), 4, /expired/);
    assert.equal(sessionRows(store).get("sess-old")?.expires_at, ERIN_EXPIRY, "erin's session is unchanged");
    assertJsonError(await sb.run(["--store", store, "session", "refresh", "nobody", "--json"]), 4, "ERR_NOT_FOUND");
    assertCliError(await sb.run(["--store", store, "session", "refresh", "sess-editor", "--ttl", "0"]), 2, /--ttl: .*longer than zero/);

    const missing = sb.path("nowhere.db");
    assertCliError(await sb.run(["--store", missing, "session", "refresh", "sess-editor"]), 3, /no session store/);
    assert.equal(existsSync(missing), false);
  });
});

describe("session purge", () => {
  test("--dry-run lists erin's expired session and deletes nothing", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const human = await sb.run(["--store", store, "session", "purge", "--dry-run"]);
    assertExit(human, 0);
    assert.ok(human.stdout.includes(handleOf("sess-old")));
    assert.match(human.stdout, /\berin\b/);
    assert.match(human.stdout, /would purge 1 expired session\b/);
    assert.ok(!human.stdout.includes("sess-old"), "by handle, not by raw id");

    const json = okJson<PurgeResult>(await sb.run(["--store", store, "session", "purge", "--dry-run", "--json"]));
    assert.deepEqual(json, {
      purged: 0,
      dry_run: true,
      sessions: [{ handle: handleOf("sess-old"), user_id: "erin", expires_at: ERIN_EXPIRY }],
    });
    assert.deepEqual([...sessionRows(store).keys()].sort(), [...FIXTURE_SESSIONS].sort(), "nothing was deleted");
  });

  test("without --yes and without a terminal it refuses (exit 2); --yes deletes only expired rows", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "session", "purge"]), 2, /--yes/);
    assert.equal(sessionRows(store).size, FIXTURE_SESSIONS.length, "a refused purge deletes nothing");

    const purged = okJson<PurgeResult>(await sb.run(["--store", store, "session", "purge", "--yes", "--json"]));
    assert.equal(purged.purged, 1);
    assert.equal(purged.dry_run, false);
    assert.deepEqual(purged.sessions.map((s) => s.user_id), ["erin"]);
    assert.deepEqual([...sessionRows(store).keys()].sort(), FIXTURE_SESSIONS.filter((id) => id !== "sess-old").sort());

    const again = await sb.run(["--store", store, "session", "purge", "--yes"]);
    assertExit(again, 0);
    assert.match(again.stdout, /no expired sessions/);
  });

  test("a missing store is exit 3 and is not created", async (t) => {
    const sb = sandboxFor(t);
    const missing = sb.path("nowhere.db");
    assertCliError(await sb.run(["--store", missing, "session", "purge", "--yes"]), 3, /no session store/);
    assert.equal(existsSync(missing), false);
  });
});

describe("audit", () => {
  test("every change is in pywry_auth_audit; --json is NDJSON, by handle, never a raw session id", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const created = await sb.run(["--store", store, "session", "create", "--user", "bob", "--roles", "editor"]);
    assertExit(created, 0);
    const id = created.stdout.trim();
    assertExit(await sb.run(["--store", store, "session", "refresh", handleOf("sess-viewer")]), 0);
    assertExit(await sb.run(["--store", store, "session", "purge", "--yes"]), 0);

    const rows = auditTable(store);
    assert.deepEqual(rows.map((row) => row.action), ["session.create", "session.refresh", "session.purge"]);
    assert.deepEqual([rows[0]?.subject, rows[0]?.target], ["bob", handleOf(id)]);
    assert.deepEqual([rows[1]?.subject, rows[1]?.target], ["carol", handleOf("sess-viewer")]);

    const result = await sb.run(["--store", store, "audit", "--json"]);
    const lines = ndjson(result);
    assert.deepEqual(lines.map((line) => line.action), ["session.create", "session.refresh", "session.purge"]);
    // cursor: where to continue (--after) when the log is read in pages.
    for (const line of lines) assert.deepEqual(Object.keys(line), ["id", "at", "action", "subject", "target", "actor", "detail", "cursor"]);
    assert.deepEqual(lines[0]?.detail, JSON.parse(rows[0]?.detail ?? "null"));
    assert.equal(lines[2]?.detail["count"], 1);
    for (const secret of [id, "sess-viewer", "sess-old"]) assert.ok(!result.stdout.includes(secret), `${secret} is not in the audit output`);

    const human = await sb.run(["--store", store, "audit"]);
    assertExit(human, 0);
    assert.match(human.stdout, /^TIME\s+ACTION\s+SUBJECT\s+TARGET\s+ACTOR\s+DETAIL$/m);
    assert.match(human.stdout, new RegExp(`session\\.create\\s+bob\\s+${handleOf(id)}`));
    assert.match(human.stdout, /3 audit events/);
    assert.ok(!human.stdout.includes(id));
  });

  test("--action (a group), --since (a duration or an instant), --user and --limit filter the log", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertExit(await sb.run(["--store", store, "session", "create", "--user", "bob"]), 0);
    const now = Date.now() / 1000;
    const db = new Database(store);
    try {
      const insert = db.prepare("INSERT INTO pywry_auth_audit (at, action, subject, target, actor, detail) VALUES (?, ?, ?, ?, 'test', '{}')");
      insert.run(now - 3 * 3600, "session.delete", "olduser", "0123456789abcdef");
      insert.run(now - 60, "token.mint", "bob", "fedcba9876543210");
      insert.run(now - 30, "sessionless.thing", "bob", null);
    } finally {
      db.close();
    }
    const audit = async (...args: string[]) => ndjson(await sb.run(["--store", store, "audit", "--json", ...args]));

    const recentSessions = await audit("--action", "session", "--since", "1h");
    assert.deepEqual(recentSessions.map((line) => [line.action, line.subject]), [["session.create", "bob"]]);

    const sinceInstant = await audit("--since", String(Math.floor(now - 4 * 3600)));
    assert.equal(sinceInstant.length, 4, "Unix seconds are an instant, not a duration");
    const sinceIso = await audit("--since", new Date((now - 2 * 3600) * 1000).toISOString());
    assert.ok(!sinceIso.some((line) => line.subject === "olduser"), "ISO 8601 instants work");
    assert.equal(sinceIso.length, 3);

    assert.deepEqual((await audit("--user", "olduser")).map((line) => line.action), ["session.delete"]);
    assert.equal((await audit("--limit", "2")).length, 2);
  });

  test("bad --limit or --since is exit 2; a missing store exit 3; a plain pywry store has an empty log and stays unchanged", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "audit", "--limit", "0"]), 2, /--limit/);
    assertCliError(await sb.run(["--store", store, "audit", "--limit", "ten"]), 2, /--limit/);
    assertJsonError(await sb.run(["--store", store, "audit", "--since", "yesterday", "--json"]), 2, "ERR_USAGE");

    const empty = await sb.run(["--store", store, "audit", "--json"]);
    assert.deepEqual(ndjson(empty), []);
    const human = await sb.run(["--store", store, "audit"]);
    assertExit(human, 0);
    assert.match(human.stdout, /no audit events/);
    const tables = withDb(store, (db) => db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'pywry_auth%'").pluck().all());
    assert.deepEqual(tables, [], "audit only reads");

    const missing = sb.path("nowhere.db");
    assertCliError(await sb.run(["--store", missing, "audit"]), 3, /no session store/);
    assert.equal(existsSync(missing), false);
  });
});
