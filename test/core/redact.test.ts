import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NOT_SHOWN, redactMessage } from "../../src/core/redact.js";

describe("redactMessage", () => {
  test("hides tokens, hex and base64 secrets, and store passwords, wherever they stand in a message", () => {
    const token = `alice:1795796873:1795883273:${"ab".repeat(32)}`;
    const hex = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const base64 = "M_PddF7cZ3xSYz92y5ep-rU9Fb9ZcIXyfWSYPFZk7Ik";
    assert.equal(redactMessage(`invalid --ttl '${token}': use 15m`), `invalid --ttl '${NOT_SHOWN}': use 15m`);
    assert.equal(redactMessage(`no role "${hex}" in the store`), `no role "${NOT_SHOWN}" in the store`);
    assert.equal(redactMessage(`cannot read /srv/app/${base64}/p.db: no such file`).includes(base64), false);
    assert.equal(redactMessage("cannot connect to redis://app:hunter2@cache:6379/0"), "cannot connect to redis://app:***@cache:6379/0");
    assert.equal(redactMessage("unknown option '--secrets=hunter2hunter2'"), "unknown option '--secrets=...'");
  });

  test("leaves ordinary words, paths, handles and times alone", () => {
    for (const text of [
      "no session store at /tmp/pywry-auth-cli-Ab3dEf/.config/pywry/pywry.db",
      "cannot read /srv/backups/pywry-auth-sessions-backup-2026-11-30.ndjson",
      "revoked 8da57535580c77fe for \"alice\" at 2026-11-27T15:22:20Z",
      "PYWRY_DEPLOY__STATE_BACKEND=sqlite",
    ]) {
      assert.equal(redactMessage(text), text);
    }
  });
});
