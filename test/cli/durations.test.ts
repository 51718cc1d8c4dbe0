/**
 * One duration grammar everywhere (issue 16, item 2): flags, the environment, the config file and
 * init's wizard all read Go/Vault-style durations (1h30m, 90s, 36h, 7d), and refuse what is
 * ambiguous (15M), fractions of a second and anything under a second, saying why.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertCliError, okJson, sandboxFor, type Sandbox } from "../helpers/cli.js";
import { inTerminal } from "../helpers/pty.js";

const SECRET = "durations-secret-0123456789abcdef0123";
const env = { PYWRY_AUTH_SECRET: SECRET };

interface Minted {
  issued_at: number;
  expires_at: number;
}

async function lifetime(sb: Sandbox, args: string[], extraEnv: Record<string, string> = {}): Promise<number> {
  const minted = okJson<Minted>(await sb.run(["--json", "token", "create", "--user", "alice", "--no-session", ...args], { env: { ...env, ...extraEnv } }));
  return minted.expires_at - minted.issued_at;
}

describe("durations on the command line", () => {
  test("--ttl takes compound Go-style durations", async (t) => {
    const sb = sandboxFor(t);
    assert.equal(await lifetime(sb, ["--ttl", "1h30m"]), 5400);
    assert.equal(await lifetime(sb, ["--ttl", "36h"]), 36 * 3600);
    assert.equal(await lifetime(sb, ["--ttl", "90s"]), 90);
    assert.equal(await lifetime(sb, ["--ttl", "1.5h"]), 5400);
    assert.equal(await lifetime(sb, ["--ttl", "3600"]), 3600);
  });

  test("--ttl under a second says so (it said 'expiry is in the past')", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--user", "alice", "--no-session", "--ttl", "500ms"], { env }), 2, /--ttl: .*under a second/);
  });

  test("an ambiguous unit is refused, not read as minutes", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--user", "alice", "--no-session", "--ttl", "15M"], { env }), 2, /--ttl: .*"15M".*ambiguous/);
    assertCliError(await sb.run(["widget-token", "w1", "--no-record", "--ttl", "1Y"], { env }), 2, /--ttl: /);
  });

  test("fractions that are not whole seconds are refused", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--user", "alice", "--no-session", "--ttl", "1.5"], { env }), 2, /whole seconds/);
    assertCliError(await sb.run(["token", "create", "--user", "alice", "--no-session", "--ttl", "1500ms"], { env }), 2, /whole seconds/);
  });

  test("init's duration flags use the same grammar", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["init", "--yes", "--store", sb.path("a.db"), "--session-ttl", "15M"]), 2, /--session-ttl: .*ambiguous/);
    okJson(await sb.run(["--json", "init", "--yes", "--store", sb.path("a.db"), "--session-ttl", "1h30m", "--widget-ttl", "90s"]));
    const config = JSON.parse(readFileSync(sb.path(".config", "pywry-auth", "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config["sessionTtl"], 5400);
    assert.equal(config["widgetTtl"], 90);
  });
});

describe("durations in the environment and the config file", () => {
  test("PYWRY_AUTH_SESSION_TTL and PYWRY_AUTH_WIDGET_TTL take the same grammar", async (t) => {
    const sb = sandboxFor(t);
    assert.equal(await lifetime(sb, [], { PYWRY_AUTH_SESSION_TTL: "1h30m" }), 5400);
    const widget = okJson<Minted>(await sb.run(["--json", "widget-token", "w1", "--no-record"], { env: { ...env, PYWRY_AUTH_WIDGET_TTL: "2m" } }));
    assert.equal(widget.expires_at - widget.issued_at, 120);
  });

  test("a config file's sessionTtl may be a duration string or whole seconds", async (t) => {
    const sb = sandboxFor(t);
    const configDir = sb.path(".config", "pywry-auth");
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, "config.json"), JSON.stringify({ sessionTtl: "36h" }));
    assert.equal(await lifetime(sb, []), 36 * 3600);
    writeFileSync(join(configDir, "config.json"), JSON.stringify({ sessionTtl: 600 }));
    assert.equal(await lifetime(sb, []), 600);
  });
});

describe("durations in init's wizard", () => {
  test("an ambiguous answer is refused with the grammar's reason, and a compound one is taken", (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("wizard.db");
    const result = inTerminal(sb, ["init"], [
      { expect: "Where are the sessions kept\\?", send: "\r" },
      { expect: "SQLite file", send: `${store}\r` },
      { expect: "Signing secret", send: "\r" },
      { expect: "Default session lifetime", send: "\x7f\x7f\x7f15M\r" },
      { expect: "ambiguous", send: "\x7f\x7f\x7f1h30m\r" },
      { expect: "Default widget-token lifetime", send: "\r" },
      { expect: "Default roles for new sessions", send: "\r" },
    ]);
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 0, result.output);
    const config = JSON.parse(readFileSync(sb.path(".config", "pywry-auth", "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config["sessionTtl"], 5400);
  });
});
