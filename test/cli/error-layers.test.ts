/**
 * Errors by layer: the library reports a bad value as ERR_INVALID_INPUT whoever passed it; the
 * command line reports a bad flag value (a duration, a time, an --after cursor, an existing --out
 * file) as its own ERR_USAGE, and keeps the library's code where the library judged the input
 * (a user id it cannot hold). Both exit 2.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parseInstant, parseTtl } from "../../src/core/duration.js";
import { assertExit, assertJsonError, sandboxFor } from "../helpers/cli.js";

const env = { PYWRY_AUTH_SECRET: "error-layers-secret-0123456789abcdef" };

describe("errors by layer", () => {
  test("the library's parsers report ERR_INVALID_INPUT", () => {
    assert.throws(() => parseTtl("15M", "--ttl"), { code: "ERR_INVALID_INPUT", message: /^--ttl: / });
    assert.throws(() => parseInstant("tomorrow"), { code: "ERR_INVALID_INPUT" });
  });

  test("a bad duration or time flag is the command line's ERR_USAGE", async (t) => {
    const sb = sandboxFor(t);
    assertJsonError(await sb.run(["--json", "token", "create", "--user", "alice", "--no-session", "--ttl", "15M"], { env }), 2, "ERR_USAGE");
    assertJsonError(await sb.run(["--json", "widget-token", "w1", "--no-record", "--ttl", "1Y"], { env }), 2, "ERR_USAGE");
    assertJsonError(await sb.run(["--json", "token", "create", "--user", "alice", "--no-session", "--expires-at", "tomorrow"], { env }), 2, "ERR_USAGE");
    assertJsonError(await sb.run(["--json", "verify", "--at", "tomorrow", "--stdin"], { env }), 2, "ERR_USAGE");
  });

  test("an --after cursor the store did not make is ERR_USAGE; a user id the library refuses stays ERR_INVALID_INPUT", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    assertExit(await sb.run(["--store", store, "--create", "session", "create", "--user", "alice"], { env }), 0);
    for (const command of [["session", "list"], ["token", "list"], ["audit"], ["session", "export"]]) {
      assertJsonError(await sb.run(["--json", "--store", store, ...command, "--after", "not-a-cursor"], { env }), 2, "ERR_USAGE");
    }
    assertJsonError(await sb.run(["--json", "--store", store, "session", "create", "--user", "a:b"], { env }), 2, "ERR_INVALID_INPUT");
  });

  test("secret generate into an existing file is ERR_USAGE", async (t) => {
    const sb = sandboxFor(t);
    const out = sb.path("secret.next");
    writeFileSync(out, "keep me\n", { mode: 0o600 });
    assertJsonError(await sb.run(["--json", "secret", "generate", "--out", out], { env }), 2, "ERR_USAGE");
  });
});
