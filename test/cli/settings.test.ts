/**
 * One schema for every setting (issue 16, item 1): an invalid value from any source is refused
 * before anything is done, naming the source and the key (exit 2 for a flag, 3 for the
 * environment or the config file), unknown config keys get a "did you mean", and `config show`
 * and `doctor` list invalid settings instead of hiding them.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertCliError, assertExit, assertJsonError, okJson, parseStdout, sandboxFor, sessionRows, type Sandbox } from "../helpers/cli.js";
import { binPath, fixturesDir } from "../helpers/paths.js";

const SECRET = "settings-secret-0123456789abcdef0123";

function writeConfig(sb: Sandbox, config: unknown): string {
  const dir = sb.path(".config", "pywry-auth");
  mkdirSync(dir, { recursive: true });
  const path = sb.path(".config", "pywry-auth", "config.json");
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config));
  return path;
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

type Shown = Record<string, { value: unknown; origin: string; error?: string }>;

describe("settings from the config file", () => {
  test('sessionTtl "1h" is one hour in pywry\'s REAL expires_at column, not the text "…1h"', async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    writeConfig(sb, { store, sessionTtl: "1h" });
    const created = okJson<{ session_id: string }>(await sb.run(["--json", "session", "create", "--user", "bob"], { env: { PYWRY_AUTH_SECRET: SECRET } }));
    const row = sessionRows(store).get(created.session_id);
    assert.ok(row);
    assert.equal(typeof row.expires_at, "number");
    assert.equal(Math.round((row.expires_at as number) - row.created_at), 3600);
  });

  for (const bad of [0, -5, "soon", 1.5, true]) {
    test(`sessionTtl ${JSON.stringify(bad)} is exit 3 naming the file and the key, and creates nothing`, async (t) => {
      const sb = sandboxFor(t);
      const store = sb.path("pywry.db");
      const path = writeConfig(sb, { store, sessionTtl: bad });
      const result = await sb.run(["session", "create", "--user", "bob"], { env: { PYWRY_AUTH_SECRET: SECRET } });
      assertCliError(result, 3, new RegExp(`config ${escaped(path)} key sessionTtl: `));
      assert.equal(existsSync(store), false, "nothing was created");
      const json = assertJsonError(await sb.run(["--json", "token", "create", "--user", "bob", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, "ERR_CONFIG");
      assert.match(json.message, /sessionTtl/);
    });
  }

  test("misspelt keys are refused with a suggestion, not ignored", async (t) => {
    const sb = sandboxFor(t);
    writeConfig(sb, { stor: sb.path("typo.db") });
    assertCliError(await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, /key stor: unknown key: did you mean store\?/);
    writeConfig(sb, { sessionTTL: 60 });
    assertCliError(await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, /key sessionTTL: unknown key: did you mean sessionTtl\?/);
    writeConfig(sb, { colour: "blue" });
    assertCliError(await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, /key colour: unknown key: the keys are store, /);
  });

  test("every key the program knows is accepted, sqliteKeyFile included", async (t) => {
    const sb = sandboxFor(t);
    writeConfig(sb, {
      store: sb.path("pywry.db"),
      secretFile: sb.path("secret"),
      redisPrefix: "app",
      sessionTtl: 3600,
      widgetTtl: "5m",
      defaultRoles: ["viewer"],
      sqliteKeyFile: sb.path("sqlite.key"),
    });
    const shown = okJson<Shown>(await sb.run(["--json", "config", "show"]));
    assert.equal(shown["widget_ttl"]?.value, 300);
  });

  test("defaultRoles must be a list of role names", async (t) => {
    const sb = sandboxFor(t);
    writeConfig(sb, { defaultRoles: "viewer" });
    assertCliError(await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, /key defaultRoles: must be a list of role names/);
    writeConfig(sb, { defaultRoles: [] });
    assertCliError(await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, /key defaultRoles: names no role/);
  });
});

describe("settings from the environment", () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ["PYWRY_AUTH_SESSION_TTL=abc", { PYWRY_AUTH_SESSION_TTL: "abc" }, /env PYWRY_AUTH_SESSION_TTL: invalid duration "abc"/],
    ["PYWRY_AUTH_WIDGET_TTL=0", { PYWRY_AUTH_WIDGET_TTL: "0" }, /env PYWRY_AUTH_WIDGET_TTL: invalid duration "0": a duration must be longer than zero/],
    ["PYWRY_AUTH_CONFIG=/nope.json", { PYWRY_AUTH_CONFIG: "/nope.json" }, /env PYWRY_AUTH_CONFIG: no such file: \/nope\.json/],
    ["PYWRY_DEPLOY__STATE_BACKEND=mongo", { PYWRY_DEPLOY__STATE_BACKEND: "mongo" }, /env PYWRY_DEPLOY__STATE_BACKEND: "mongo" is not one of pywry's backends/],
    ["PYWRY_AUTH_SECRET_FILE= (empty)", { PYWRY_AUTH_SECRET_FILE: "" }, /env PYWRY_AUTH_SECRET_FILE: is set but empty/],
    ["PYWRY_AUTH_DEFAULT_ROLES=[bad", { PYWRY_AUTH_DEFAULT_ROLES: "[bad" }, /env PYWRY_AUTH_DEFAULT_ROLES: "\[bad" starts like a JSON list but is not one/],
    ["PYWRY_AUTH_STORE= (empty)", { PYWRY_AUTH_STORE: "" }, /env PYWRY_AUTH_STORE: is set but empty/],
    ["PYWRY_DEPLOY__SESSION_TTL=30 (pywry requires 60 or more)", { PYWRY_DEPLOY__SESSION_TTL: "30" }, /env PYWRY_DEPLOY__SESSION_TTL: 30: pywry requires at least 60 seconds/],
    ["PYWRY_DEPLOY__SESSION_TTL=1h (pywry reads whole seconds)", { PYWRY_DEPLOY__SESSION_TTL: "1h" }, /env PYWRY_DEPLOY__SESSION_TTL: "1h": pywry reads whole seconds/],
    ["PYWRY_AUTH_STORE_TIMEOUT_MS=5s (whole milliseconds)", { PYWRY_AUTH_STORE_TIMEOUT_MS: "5s" }, /env PYWRY_AUTH_STORE_TIMEOUT_MS: "5s": give whole milliseconds/],
    ["PYWRY_AUTH_STORE_TIMEOUT_MS=0", { PYWRY_AUTH_STORE_TIMEOUT_MS: "0" }, /env PYWRY_AUTH_STORE_TIMEOUT_MS: 0: give 1 to 600000 milliseconds/],
    ['PYWRY_DEPLOY__DEFAULT_ROLES=["a"] (pywry splits on commas)', { PYWRY_DEPLOY__DEFAULT_ROLES: '["a"]' }, /env PYWRY_DEPLOY__DEFAULT_ROLES: .*not JSON/],
  ];
  for (const [name, env, message] of cases) {
    test(`${name} is exit 3 naming the variable, before anything is created`, async (t) => {
      const sb = sandboxFor(t);
      const result = await sb.run(["session", "create", "--user", "bob"], { env: { PYWRY_AUTH_SECRET: SECRET, ...env } });
      assertCliError(result, 3, message);
      assert.equal(existsSync(sb.defaultStore), false, "no store was created");
      assert.equal(existsSync(sb.secretFile), false, "no secret was created");
    });
  }

  test("PYWRY_AUTH_SECRET= (empty) stays exit 3, like its file variant", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: "" } }), 3, /PYWRY_AUTH_SECRET: is set but empty/);
  });

  test("PYWRY_AUTH_DEFAULT_ROLES still takes a JSON list or comma-separated names", async (t) => {
    const sb = sandboxFor(t);
    for (const text of ['["editor","viewer"]', "editor, viewer"]) {
      const shown = okJson<Shown>(await sb.run(["--json", "config", "show"], { env: { PYWRY_AUTH_DEFAULT_ROLES: text } }));
      assert.deepEqual(shown["default_roles"]?.value, ["editor", "viewer"], text);
    }
  });

  test("PYWRY_DEPLOY__STATE_BACKEND=memory is exit 3: pywry-auth cannot reach a pywry process's memory", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["session", "list"], { env: { PYWRY_DEPLOY__STATE_BACKEND: "memory" } }), 3, /memory.*--store/);
    const listed = await sb.run(["session", "list", "--store", sb.path("x.db"), "--json"], { env: { PYWRY_DEPLOY__STATE_BACKEND: "memory" } });
    assert.notEqual(listed.code, 0);
    assert.doesNotMatch(listed.stdout + listed.stderr, /memory/, "an explicit --store wins over pywry's backend");
  });
});

describe("a credential pasted into a setting is never echoed", () => {
  test("in a duration from a flag, the environment or the config file, or as a config key", async (t) => {
    const sb = sandboxFor(t);
    const pasted = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978";
    const runs = [
      await sb.run(["token", "create", "--user", "a", "--no-session", "--ttl", pasted], { env: { PYWRY_AUTH_SECRET: SECRET } }),
      await sb.run(["token", "create", "--user", "a", "--no-session"], { env: { PYWRY_AUTH_SECRET: SECRET, PYWRY_AUTH_SESSION_TTL: pasted } }),
      await sb.run(["config", "show"], { env: { PYWRY_AUTH_WIDGET_TTL: pasted } }),
    ];
    writeConfig(sb, { widgetTtl: pasted, [pasted]: 1 });
    runs.push(await sb.run(["--json", "config", "show"]));
    for (const result of runs) {
      assert.notEqual(result.code, 0);
      assert.equal(`${result.stdout}${result.stderr}`.includes(pasted.slice(8, 24)), false, `${result.stdout}${result.stderr}`);
      assert.match(`${result.stdout}${result.stderr}`, /not shown: it looks like a token or secret/);
    }
  });
});

describe("settings from flags", () => {
  test("an empty --redis-prefix, --store or --secret-file is exit 2 naming the flag", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--redis-prefix", "", "session", "list"]), 2, /--redis-prefix: needs a key prefix/);
    assertCliError(await sb.run(["--store", "", "session", "list"]), 2, /--store: needs/);
    assertCliError(await sb.run(["--secret-file", "", "token", "create", "--user", "a", "--no-session"]), 2, /--secret-file: needs a path/);
  });

  test("a flag's problem is reported before the environment's (exit 2)", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--store", "", "session", "list"], { env: { PYWRY_AUTH_SESSION_TTL: "abc" } }), 2, /--store: .*and 1 more invalid setting/);
  });
});

describe("config show and doctor list invalid settings", () => {
  test("config show marks each invalid setting with its source and reason, and exits 3", async (t) => {
    const sb = sandboxFor(t);
    const path = writeConfig(sb, { sessionTtl: 0, stor: "x" });
    const env = { PYWRY_AUTH_WIDGET_TTL: "abc", PYWRY_AUTH_DEFAULT_ROLES: "[bad" };
    const result = await sb.run(["--json", "config", "show"], { env });
    assertExit(result, 3);
    const shown = parseStdout<Shown>(result);
    assert.equal(shown["session_ttl"]?.value, null, "not the default");
    assert.equal(shown["session_ttl"]?.origin, `config ${path} key sessionTtl`);
    assert.match(shown["session_ttl"]?.error ?? "", /longer than zero/);
    assert.equal(shown["widget_ttl"]?.origin, "env PYWRY_AUTH_WIDGET_TTL");
    assert.match(shown["widget_ttl"]?.error ?? "", /invalid duration "abc"/);
    assert.equal(shown["default_roles"]?.origin, "env PYWRY_AUTH_DEFAULT_ROLES");
    assert.match(shown["config_file"]?.error ?? "", /did you mean store\?/);
    const human = await sb.run(["config", "show"], { env });
    assertExit(human, 3);
    assert.match(human.stdout, /session_ttl +invalid: invalid duration 0/);
    assert.doesNotMatch(human.stdout, /session_ttl +86400s/);
  });

  test("doctor reports each invalid setting as a failure and still checks the rest", async (t) => {
    const sb = sandboxFor(t);
    const path = writeConfig(sb, { sessionTtl: 0, widgetTtl: -5 });
    const result = await sb.run(["--json", "doctor"], { env: { PYWRY_AUTH_SECRET: SECRET, PYWRY_DEPLOY__STATE_BACKEND: "mongo" } });
    assertExit(result, 1);
    const { findings } = parseStdout<{ findings: Array<{ check: string; status: string; message: string }> }>(result);
    const failed = findings.filter((finding) => finding.status === "fail").map((finding) => `${finding.check}: ${finding.message}`);
    assert.ok(failed.some((line) => line.startsWith(`setting: config ${path} key sessionTtl: invalid duration 0`)), failed.join("\n"));
    assert.ok(failed.some((line) => line.startsWith(`setting: config ${path} key widgetTtl: invalid duration -5`)), failed.join("\n"));
    assert.ok(failed.some((line) => line.startsWith("setting: env PYWRY_DEPLOY__STATE_BACKEND")), failed.join("\n"));
    assert.ok(failed.some((line) => line.startsWith("store: not checked")), failed.join("\n"));
    assert.ok(findings.some((finding) => finding.check === "secret" && finding.status === "ok"), "the secret is still checked");
  });

  test("doctor says so when every setting is valid", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["--json", "doctor"], { env: { PYWRY_AUTH_SECRET: SECRET } });
    const { findings } = parseStdout<{ findings: Array<{ check: string; status: string }> }>(result);
    assert.deepEqual(findings.find((finding) => finding.check === "settings"), { check: "settings", status: "ok", message: "every setting is valid (flags, environment, config file)" });
  });
});

describe("init replaces a broken config file", () => {
  test("init --force works over a config file with an unknown key, and the new one is valid", async (t) => {
    const sb = sandboxFor(t);
    writeConfig(sb, { stor: "x", sessionTtl: 0 });
    assertExit(await sb.run(["init", "--yes", "--force", "--store", sb.path("pywry.db")]), 0);
    assertExit(await sb.run(["config", "show"]), 0);
  });

  test("the wizard works over a config file whose store is invalid, suggesting pywry's default", (t) => {
    const sb = sandboxFor(t);
    writeConfig(sb, { store: "mysql://x" });
    const request = {
      argv: [process.execPath, binPath, "init"],
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: sb.home, TERM: "xterm" },
      steps: [
        { expect: "Replace it\\?", send: "y\r" },
        { expect: "Where are the sessions kept\\?", send: "\r" },
        { expect: "SQLite file", send: "\r" },
        { expect: "Signing secret", send: "\r" },
        { expect: "Default session lifetime", send: "\r" },
        { expect: "Default widget-token lifetime", send: "\r" },
        { expect: "Default roles for new sessions", send: "\r" },
      ],
      timeout: 20,
    };
    const result = JSON.parse(execFileSync("python3", [join(fixturesDir, "pty_drive.py")], { input: JSON.stringify(request), encoding: "utf8" })) as {
      code: number;
      output: string;
      missed: string | null;
    };
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 0, result.output);
    const config = JSON.parse(readFileSync(sb.path(".config", "pywry-auth", "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config["store"], sb.defaultStore);
  });
});
