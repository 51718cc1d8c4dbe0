/** Behaviour shared by every command: version, usage errors, --secret refusal, JSON and colour. */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ANSI, STACK_FRAME, assertCliError, assertExit, assertJsonError, nowSeconds, okJson, pywryToken, sandboxFor } from "../helpers/cli.js";
import { projectRoot } from "../helpers/paths.js";

describe("pywry-auth (global behaviour)", () => {
  test("--version prints the package.json version", async (t) => {
    const sb = sandboxFor(t);
    const { version } = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string };
    const result = await sb.run(["--version"]);
    assertExit(result, 0);
    assert.equal(result.stdout, `${version}\n`);
  });

  test("an unknown command is a usage error (exit 2), in text and in JSON", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["mint"]), 2, /unknown command 'mint'/);
    const error = assertJsonError(await sb.run(["mint", "--json"]), 2, "ERR_USAGE");
    assert.match(error.message, /mint/);
  });

  test("a missing required option is a usage error (exit 2)", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create"]), 2, /--user/);
  });

  test("--secret <value> is refused (exit 2) and points to --secret-file", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("alice", nowSeconds(), null, "hunter2-secret");
    const result = await sb.run(["--secret", "hunter2-secret", "verify", token]);
    assertCliError(result, 2, /--secret-file/);
    assert.ok(!result.stderr.includes("hunter2-secret"), "the secret is not echoed back");

    // After the subcommand too, and before anything is minted or created.
    assertJsonError(await sb.run(["token", "create", "--user", "alice", "--secret", "hunter2-secret", "--json"]), 2, "ERR_USAGE");
    assert.deepEqual(readdirSync(sb.home), [], "nothing (no secret, no store) was created in HOME");
  });

  test("--json output is never coloured, even with FORCE_COLOR=1 (human output is, as a control)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const env = { FORCE_COLOR: "1", PYWRY_AUTH_SECRET: "colour-secret" };
    const token = pywryToken("alice", nowSeconds(), null, "colour-secret");

    const human = await sb.run(["verify", token], { env });
    assertExit(human, 0);
    assert.match(human.stdout, ANSI, "FORCE_COLOR=1 does colour human output");

    const verified = await sb.run(["verify", token, "--json"], { env });
    assert.doesNotMatch(verified.stdout, ANSI);
    assert.equal(okJson<{ valid: boolean }>(verified).valid, true);

    const listed = await sb.run(["--store", store, "session", "list", "--json"], { env });
    assert.doesNotMatch(listed.stdout, ANSI);
    assert.doesNotMatch(listed.stderr, ANSI);
    assert.equal(okJson<unknown[]>(listed).length, 4);

    const failed = await sb.run(["--store", store, "roles", "show", "nobody", "--json"], { env });
    assert.doesNotMatch(failed.stdout + failed.stderr, ANSI);
    assertJsonError(failed, 4, "ERR_NOT_FOUND");

    const usage = await sb.run(["bogus", "--json"], { env });
    assert.doesNotMatch(usage.stdout + usage.stderr, ANSI);
    assertJsonError(usage, 2, "ERR_USAGE");
  });

  test("--no-color turns colour off even with FORCE_COLOR=1", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("alice", nowSeconds(), null, "colour-secret");
    const result = await sb.run(["--no-color", "verify", token], { env: { FORCE_COLOR: "1", PYWRY_AUTH_SECRET: "colour-secret" } });
    assertExit(result, 0);
    assert.doesNotMatch(result.stdout, ANSI);
    assert.doesNotMatch(result.stderr, STACK_FRAME);
  });
});
