/**
 * Nothing mistyped is silently acted on (issue 16, items 7 to 15): every input is checked before
 * anything changes, a cancelled prompt changes nothing, and a success message is always true.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { describe, test } from "node:test";
import { assertCliError, assertExit, assertJsonError, okJson, sandboxFor } from "../helpers/cli.js";

const SECRET = "strict-input-test-secret";
const withSecret = { env: { PYWRY_AUTH_SECRET: SECRET } };

describe("error messages (item 14)", () => {
  test("--secret-file naming a directory says so, without Node's raw EISDIR", async (t) => {
    const sb = sandboxFor(t);
    mkdirSync(sb.path("secrets"));
    const result = await sb.run(["--secret-file", sb.path("secrets"), "token", "create", "--user", "alice", "--no-session"]);
    assertCliError(result, 3, /is a directory/);
    assert.doesNotMatch(result.stderr, /EISDIR/);
  });

  test("migrate --json names its dry-run field dry_run, like every other command", async (t) => {
    const sb = sandboxFor(t);
    assertExit(await sb.run(["--store", sb.path("a.db"), "session", "create", "--user", "ann"]), 0);
    const dry = okJson(await sb.run(["--json", "migrate", "--from", sb.path("a.db"), "--to", sb.path("b.db"), "--dry-run"]));
    assert.equal(dry["dry_run"], true);
    assert.equal("dryRun" in dry, false);
  });
});
