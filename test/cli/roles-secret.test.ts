/** `roles list|show` against pywry's own database, and `secret generate`. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { assertCliError, assertExit, assertJsonError, okJson, sandboxFor } from "../helpers/cli.js";

const PYWRY_DEFAULTS = {
  admin: ["read", "write", "admin", "delete", "manage_users"],
  editor: ["read", "write"],
  viewer: ["read"],
  anonymous: [],
};

describe("roles", () => {
  test("list: pywry's default roles plus the fixture's analyst role", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const roles = okJson<Record<string, string[]>>(await sb.run(["--store", store, "roles", "list", "--json"]));
    assert.deepEqual(roles, { ...PYWRY_DEFAULTS, analyst: ["read", "export"] });

    const human = await sb.run(["--store", store, "roles", "list"]);
    assertExit(human, 0);
    assert.match(human.stdout, /^analyst\s+read, export$/m);
    assert.match(human.stdout, /^admin\s+read, write, admin, delete, manage_users$/m);
  });

  test("show analyst: its permissions", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assert.deepEqual(okJson(await sb.run(["--store", store, "roles", "show", "analyst", "--json"])), {
      role: "analyst",
      permissions: ["read", "export"],
    });
    const human = await sb.run(["--store", store, "roles", "show", "analyst"]);
    assertExit(human, 0);
    assert.equal(human.stdout, "read\nexport\n");
  });

  test("show of an unknown role is 'not found' (exit 4)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "roles", "show", "auditor"]), 4, /auditor/);
  });

  test("a store created by pywry-auth is seeded with pywry's defaults, as pywry does", async (t) => {
    const sb = sandboxFor(t);
    assertExit(await sb.run(["widget-token", "w1"], { env: { PYWRY_AUTH_SECRET: "s" } }), 0);
    assert.deepEqual(okJson(await sb.run(["roles", "list", "--json"])), PYWRY_DEFAULTS);
  });
});

describe("secret generate", () => {
  test("prints 32 random bytes as 64 lowercase hex characters, different every time", async (t) => {
    const sb = sandboxFor(t);
    const first = await sb.run(["secret", "generate"]);
    assertExit(first, 0);
    assert.match(first.stdout, /^[0-9a-f]{64}\n$/);
    const second = okJson<{ secret: string }>(await sb.run(["secret", "generate", "--json"]));
    assert.match(second.secret, /^[0-9a-f]{64}$/);
    assert.notEqual(second.secret, first.stdout.trim());
    assert.equal(existsSync(sb.secretFile), false, "generate never touches the configured secret");
  });

  test("--out writes an owner-only (0600) file and does not print the secret", async (t) => {
    const sb = sandboxFor(t);
    const out = sb.path("keys", "pywry.secret");
    const result = await sb.run(["secret", "generate", "--out", out]);
    assertExit(result, 0);
    const content = readFileSync(out, "utf8");
    assert.match(content, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.ok(!result.stdout.includes(content.trim()) && !result.stderr.includes(content.trim()), "the secret is not echoed");
  });

  test("--out refuses to replace an existing file (exit 2) unless --force", async (t) => {
    const sb = sandboxFor(t);
    const out = sb.path("existing.secret");
    writeFileSync(out, "keep-me\n", { mode: 0o600 });
    assertCliError(await sb.run(["secret", "generate", "--out", out]), 2, /--force/);
    assert.equal(readFileSync(out, "utf8"), "keep-me\n", "the existing file is untouched");

    assertExit(await sb.run(["secret", "generate", "--out", out, "--force"]), 0);
    assert.match(readFileSync(out, "utf8"), /^[0-9a-f]{64}\n$/);
  });

  test("a file written by --out works as --secret-file for minting and verifying", async (t) => {
    const sb = sandboxFor(t);
    assertExit(await sb.run(["secret", "generate", "--out", "app.secret"]), 0); // relative to the working directory
    const minted = await sb.run(["--secret-file", "app.secret", "token", "create", "--user", "alice", "--no-session"]);
    assertExit(minted, 0);
    assert.equal(minted.stderr, "", "no new default secret is created when --secret-file is given");
    assert.equal(existsSync(sb.secretFile), false);
    assertJsonError(await sb.run(["verify", minted.stdout.trim(), "--json"]), 3, "ERR_NO_SECRET");
    assertExit(await sb.run(["--secret-file", sb.path("app.secret"), "verify", minted.stdout.trim()]), 0);
  });
});
