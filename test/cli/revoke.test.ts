/**
 * `revoke`, end to end: by token, by accessor (from `token list --json`) and by session handle
 * (from `session list --json`). Revoking deletes the session row so pywry stops honouring it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import {
  FIXTURE_SESSIONS,
  assertCliError,
  assertExit,
  assertJsonError,
  handleOf,
  nowSeconds,
  okJson,
  parseStdout,
  pywryToken,
  sandboxFor,
  sessionRows,
  withDb,
} from "../helpers/cli.js";

const SECRET = "revoke-test-secret";
const withSecret = { env: { PYWRY_AUTH_SECRET: SECRET } };

interface Revoked {
  revoked: boolean;
  already_revoked: boolean;
  accessor: string;
  subject: string | null;
  revoked_at: number;
  sessions_deleted: number;
}

describe("revoke", () => {
  test("by token (from stdin): deletes the token's session; a second revoke is a no-op that says already_revoked", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<{ token: string; accessor: string }>(await sb.run(["token", "create", "--user", "bob", "--json"], withSecret));
    assert.ok(sessionRows(sb.defaultStore).has(created.token));

    const first = okJson<Revoked>(await sb.run(["revoke", "-", "--reason", "laptop stolen", "--json"], { input: `${created.token}\n` }));
    assert.deepEqual(
      { ...first, revoked_at: typeof first.revoked_at },
      { revoked: true, already_revoked: false, known: true, accessor: created.accessor, subject: "bob", revoked_at: "number", sessions_deleted: 1 },
    );
    assert.equal(sessionRows(sb.defaultStore).has(created.token), false, "the session row is gone");

    const again = await sb.run(["revoke", created.token, "--json"]);
    const second = okJson<Revoked>(again);
    assert.equal(second.already_revoked, true);
    assert.equal(second.sessions_deleted, 0);
    assert.equal(second.revoked_at, first.revoked_at, "the original revocation time is kept");
  });

  test("by --accessor taken from `token list --json`", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<{ token: string }>(await sb.run(["token", "create", "--user", "alice", "--roles", "editor", "--json"], withSecret));
    const listed = okJson<Array<{ accessor: string; subject: string }>>(await sb.run(["token", "list", "--json"]));
    assert.equal(listed.length, 1);
    const accessor = listed[0]?.accessor ?? "";

    const human = await sb.run(["revoke", "--accessor", accessor]);
    assertExit(human, 0);
    assert.ok(human.stdout.includes(accessor), "the human line names the accessor");
    assert.ok(!human.stdout.includes(created.token), "and never the token");
    assert.equal(sessionRows(sb.defaultStore).has(created.token), false);

    const verdict = parseStdout<{ error: { code: string } | null }>(await sb.run(["verify", created.token, "--json"], withSecret));
    assert.equal(verdict.error?.code, "ERR_TOKEN_REVOKED");

    const again = okJson<Revoked>(await sb.run(["revoke", "--accessor", accessor, "--json"]));
    assert.equal(again.already_revoked, true);
  });

  test("by --session with a handle from `session list --json`, in pywry's own database", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const created = okJson<{ token: string; accessor: string }>(
      await sb.run(["--store", store, "token", "create", "--user", "frank", "--json"], withSecret),
    );
    const sessions = okJson<Array<{ handle: string; user_id: string }>>(await sb.run(["--store", store, "session", "list", "--user", "frank", "--json"]));
    assert.equal(sessions.length, 1);
    const handle = sessions[0]?.handle ?? "";
    assert.equal(handle, created.accessor, "a token and its session share one name");

    const revoked = okJson<Revoked>(await sb.run(["--store", store, "revoke", "--session", handle, "--json"]));
    assert.equal(revoked.sessions_deleted, 1);
    assert.equal(revoked.subject, "frank");

    const rows = sessionRows(store);
    assert.equal(rows.has(created.token), false);
    for (const id of FIXTURE_SESSIONS) assert.ok(rows.has(id), `pywry's session ${id} is untouched`);
    const verdict = parseStdout<{ error: { code: string } | null }>(
      await sb.run(["--store", store, "verify", created.token, "--json"], withSecret),
    );
    assert.equal(verdict.error?.code, "ERR_TOKEN_REVOKED", "revoking the session revokes the token it was made for");
  });

  test("by --session with a plain pywry session id handle (not a token) deletes that session", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const revoked = okJson<Revoked>(await sb.run(["--store", store, "revoke", "--session", handleOf("sess-editor"), "--json"]));
    assert.equal(revoked.subject, "bob");
    assert.equal(revoked.sessions_deleted, 1);
    const rows = sessionRows(store);
    assert.equal(rows.has("sess-editor"), false);
    assert.equal(rows.size, FIXTURE_SESSIONS.length - 1);
  });

  test("revoking a token deletes the session pywry's login made for it (session_id = token)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const now = nowSeconds();
    const token = pywryToken("gina", now, now + 86400, SECRET);
    const db = new Database(store);
    try {
      db.prepare(
        `INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, 'gina', '["viewer"]', ?, ?, '{}')`,
      ).run(token, now + 0.25, now + 86400.25);
    } finally {
      db.close();
    }
    const revoked = okJson<Revoked>(await sb.run(["--store", store, "revoke", token, "--json"]));
    assert.equal(revoked.sessions_deleted, 1);
    assert.equal(sessionRows(store).has(token), false);
  });

  test("an unknown accessor is 'not found' (exit 4)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "revoke", "--accessor", "0123456789abcdef"]), 4, /0123456789abcdef/);
    assertJsonError(await sb.run(["--store", store, "revoke", "--session", "0123456789abcdef", "--json"]), 4, "ERR_NOT_FOUND");
    assert.equal(sessionRows(store).size, FIXTURE_SESSIONS.length, "nothing was deleted");
  });

  test("naming nothing, or two things, to revoke is a usage error (exit 2)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "revoke"]), 2, /exactly one/);
    const token = pywryToken("alice", nowSeconds(), null, SECRET);
    assertJsonError(await sb.run(["--store", store, "revoke", token, "--accessor", handleOf(token), "--json"]), 2, "ERR_USAGE");
    assert.equal(sessionRows(store).size, FIXTURE_SESSIONS.length);
  });

  test("a malformed token is refused (exit 2) and nothing is revoked", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "revoke", "not-a-token"]), 2, /not a pywry token/);
    assertJsonError(await sb.run(["--store", store, "revoke", "a:b:c:d:e", "--json"]), 2, "ERR_TOKEN_MALFORMED");
    assert.equal(sessionRows(store).size, FIXTURE_SESSIONS.length);
  });

  test("the revocation is recorded with its reason and without the token", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("hank", nowSeconds(), null, SECRET);
    okJson<Revoked>(await sb.run(["--create", "revoke", token, "--reason", "left the company", "--json"], withSecret));
    const rows = withDb(sb.defaultStore, (db) => db.prepare("SELECT * FROM pywry_auth_revocations").all()) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.["reason"], "left the company");
    assert.equal(rows[0]?.["subject"], "hank");
    assert.ok(!JSON.stringify(rows).includes(token), "the store keeps the token's hash, not the token");
  });
});
