import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertCliError, assertExit, handleOf, okJson, sandboxFor, withDb, type Sandbox } from "../helpers/cli.js";

const SECRET = "revocation-test-secret-0123456789abcdef";

/** Runs against `store`, which each test starts without (--create lets its first command make it). */
function cli(sandbox: Sandbox, store: string) {
  return (args: string[], input?: string) =>
    sandbox.run(["--store", store, "--create", ...args], { env: { PYWRY_AUTH_SECRET: SECRET }, ...(input === undefined ? {} : { input }) });
}

async function mint(run: ReturnType<typeof cli>, user: string, ...extra: string[]): Promise<string> {
  const result = await run(["token", "create", "--user", user, ...extra]);
  assertExit(result, 0);
  return result.stdout.trim();
}

describe("revoke --user: revocation that sticks", () => {
  test("deletes all of the user's sessions, and the user's earlier tokens fail verify even with a new session", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.copyPywryFixture();
    const run = cli(sandbox, store);
    const first = await mint(run, "bob", "--roles", "editor");
    const second = await mint(run, "bob");

    const revoked = okJson<{ user_id: string; sessions_deleted: number; cutoff_at: number }>(
      await run(["--json", "revoke", "--user", "bob", "--yes", "--reason", "left"]),
    );
    assert.equal(revoked.user_id, "bob");
    assert.equal(revoked.sessions_deleted, 3, "pywry's sess-editor plus the two token sessions");
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE user_id = 'bob'").pluck().get()), 0);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE user_id = 'carol'").pluck().get()), 1, "others keep theirs");

    // A new session for bob (made the way pywry would, with some other id) does not revive old tokens.
    assertExit(await run(["session", "create", "--user", "bob"]), 0);
    for (const token of [first, second]) {
      const verdict = await run(["--json", "verify", "-"], token);
      assertExit(verdict, 1);
      assert.equal(JSON.parse(verdict.stdout).error.code, "ERR_TOKEN_REVOKED");
    }
  });

  test("a token minted right after the revocation is valid (never born revoked in the cut-off's second)", async (t) => {
    const sandbox = sandboxFor(t);
    const run = cli(sandbox, sandbox.path("store.db"));
    await mint(run, "alice");
    assertExit(await run(["revoke", "--user", "alice", "--yes"]), 0);
    const fresh = await mint(run, "alice");
    assertExit(await run(["verify", "-"], fresh), 0);
  });

  test("without a terminal and without --yes it refuses, exit 2, and changes nothing", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.copyPywryFixture();
    const run = cli(sandbox, store);
    const result = await run(["revoke", "--user", "bob"]);
    assertCliError(result, 2, /--yes/);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE user_id = 'bob'").pluck().get()), 1);
  });

  test("is recorded in the audit log with the OS user, and never with a token", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.path("store.db");
    const run = cli(sandbox, store);
    const token = await mint(run, "dave");
    assertExit(await run(["revoke", "--user", "dave", "--yes"]), 0);
    const rows = withDb(store, (db) => db.prepare("SELECT action, subject, actor, detail FROM pywry_auth_audit WHERE action = 'user.revoke'").all()) as Array<{
      action: string;
      subject: string;
      actor: string | null;
      detail: string;
    }>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.subject, "dave");
    assert.ok(rows[0]?.actor, "the OS user is recorded");
    assert.equal(JSON.parse(rows[0]?.detail ?? "{}").sessions_deleted, 1);
    const everything = withDb(store, (db) => JSON.stringify(db.prepare("SELECT * FROM pywry_auth_audit").all()));
    assert.equal(everything.includes(token), false);
  });

  test("cannot be combined with another target", async (t) => {
    const sandbox = sandboxFor(t);
    const run = cli(sandbox, sandbox.path("store.db"));
    assertCliError(await run(["revoke", "--user", "bob", "--session", "x", "--yes"]), 2);
  });
});

describe("token renew", () => {
  test("mints a fresh token for the same subject and roles, moves the session, revokes the old one", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.path("store.db");
    const run = cli(sandbox, store);
    const old = await mint(run, "erin", "--roles", "admin,editor", "--ttl", "1h");
    const renewed = okJson<{ token: string; user_id: string; replaced: string; roles: string[]; expires_at: number; issued_at: number }>(
      await run(["--json", "token", "renew", "--ttl", "2h", "-"], old),
    );
    assert.notEqual(renewed.token, old);
    assert.equal(renewed.user_id, "erin");
    assert.equal(renewed.replaced, handleOf(old));
    assert.deepEqual(renewed.roles, ["admin", "editor"]);
    assert.equal(renewed.expires_at - renewed.issued_at, 7200);

    assertExit(await run(["verify", "-"], renewed.token), 0);
    const oldVerdict = await run(["--json", "verify", "-"], old);
    assertExit(oldVerdict, 1);
    assert.equal(JSON.parse(oldVerdict.stdout).error.code, "ERR_TOKEN_REVOKED");

    const sessions = withDb(store, (db) => db.prepare("SELECT session_id, roles FROM sessions WHERE user_id = 'erin'").all()) as Array<{
      session_id: string;
      roles: string;
    }>;
    assert.deepEqual(sessions, [{ session_id: renewed.token, roles: '["admin", "editor"]' }]);
  });

  test("prints only the new token on stdout", async (t) => {
    const sandbox = sandboxFor(t);
    const run = cli(sandbox, sandbox.path("store.db"));
    const old = await mint(run, "frank");
    const result = await run(["token", "renew", "-"], old);
    assertExit(result, 0);
    assert.match(result.stdout, /^frank:\d+:\d+:[0-9a-f]{64}\n$/);
  });

  test("renews by accessor", async (t) => {
    const sandbox = sandboxFor(t);
    const run = cli(sandbox, sandbox.path("store.db"));
    const old = await mint(run, "gina", "--roles", "viewer");
    const result = await run(["token", "renew", "--accessor", handleOf(old)]);
    assertExit(result, 0);
    assertExit(await run(["verify", "-"], result.stdout.trim()), 0);
    assertExit(await run(["verify", "-"], old), 1);
  });

  test("refuses a revoked token, a forged one, and an unknown accessor", async (t) => {
    const sandbox = sandboxFor(t);
    const run = cli(sandbox, sandbox.path("store.db"));
    const old = await mint(run, "hank");
    assertExit(await run(["revoke", "-"], old), 0);
    assertCliError(await run(["token", "renew", "-"], old), 1, /revoked/);
    assertCliError(await run(["token", "renew", "--accessor", handleOf(old)]), 1, /revoked/);
    const forged = old.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    assertCliError(await run(["token", "renew", "-"], forged), 1, /signature/);
    assertCliError(await run(["token", "renew", "--accessor", "0000000000000000"]), 4);
    assertCliError(await run(["token", "renew"]), 2);
  });
});
