/**
 * What the CLI writes, pywry reads and enforces; what pywry mints, the CLI accepts. "pywry" here is
 * test/fixtures/pywry_reference.py: pywry's algorithms as docs/pywry-compatibility.md states them, run by python3.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertExit, handleOf, okJson, sandboxFor, type Sandbox } from "../helpers/cli.js";
import { pywry } from "../helpers/python.js";

const SECRET = "interop-secret-päss🔑";

function cli(sandbox: Sandbox, store: string) {
  return (args: string[], input?: string) =>
    sandbox.run(["--store", store, ...args], { env: { PYWRY_AUTH_SECRET: SECRET }, ...(input === undefined ? {} : { input }) });
}

function pywryAllows(store: string, sessionId: string, permission: string, resource = "widget:w1"): boolean {
  const [type, id] = resource.split(/:(.*)/s);
  return pywry<{ allowed: boolean }>({
    op: "check_permission",
    path: store,
    session_id: sessionId,
    resource_type: type,
    resource_id: id,
    permission,
    now: Date.now() / 1000,
  }).allowed;
}

describe("pywry interop through the CLI", () => {
  test("a token from `token create` validates in pywry's algorithm, and pywry's validates in `verify`", async (t) => {
    const sandbox = sandboxFor(t);
    const run = cli(sandbox, sandbox.copyPywryFixture());
    const minted = okJson<{ token: string }>(await run(["--json", "token", "create", "--user", "ünï@example.com", "--ttl", "15m"]));
    assert.deepEqual(pywry({ op: "validate", token: minted.token, secret: SECRET, now: Date.now() / 1000 }), {
      valid: true,
      user_id: "ünï@example.com",
      error: null,
    });
    const theirs = pywry<{ token: string }>({ op: "generate", user_id: "carol", secret: SECRET, now: Date.now() / 1000, expires_at: Date.now() / 1000 + 600 });
    const verdict = okJson<{ valid: boolean; user_id: string }>(await run(["--json", "verify", "-"], theirs.token));
    assert.equal(verdict.user_id, "carol");
  });

  test("pywry's check_permission on the same file sees role changes made by the CLI", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.copyPywryFixture();
    const run = cli(sandbox, store);
    assert.equal(pywryAllows(store, "sess-editor", "publish"), false);
    assertExit(await run(["roles", "grant", "editor", "publish"]), 0);
    assert.equal(pywryAllows(store, "sess-editor", "publish"), true);
    assertExit(await run(["roles", "revoke", "editor", "write"]), 0);
    assert.equal(pywryAllows(store, "sess-editor", "write"), false);
  });

  test("pywry's check_permission sees per-resource grants made by the CLI, and the CLI agrees with it", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.copyPywryFixture();
    const run = cli(sandbox, store);
    const carol = handleOf("sess-viewer");
    assert.equal(pywryAllows(store, "sess-viewer", "write", "widget:w1"), false);
    assertExit(await run(["session", "grant", carol, "widget:w1", "read,write"]), 0);
    assert.equal(pywryAllows(store, "sess-viewer", "write", "widget:w1"), true);
    assertExit(await run(["can", "write", "--session", carol, "--resource", "widget:w1"]), 0);
    assertExit(await run(["session", "ungrant", carol, "widget:w1", "write"]), 0);
    assert.equal(pywryAllows(store, "sess-viewer", "write", "widget:w1"), false);
    assertExit(await run(["can", "write", "--session", carol, "--resource", "widget:w1"]), 1);
    assert.equal(pywryAllows(store, "sess-viewer", "write", "widget:dashboard-1"), true, "pywry's own grant is untouched");
  });

  test("after `revoke`, pywry no longer finds the token's session (its cookie stops working at once)", async (t) => {
    const sandbox = sandboxFor(t);
    const store = sandbox.copyPywryFixture();
    const run = cli(sandbox, store);
    const token = (await run(["token", "create", "--user", "zoe", "--roles", "editor"])).stdout.trim();
    assert.equal(pywryAllows(store, token, "write"), true);
    assertExit(await run(["revoke", "-"], token), 0);
    assert.equal(pywryAllows(store, token, "read"), false);
    const sessions = pywry<{ sessions: Array<{ session_id: string }> }>({ op: "read_sessions", path: store }).sessions;
    assert.equal(sessions.some((row) => row.session_id === token), false);
  });
});
