/**
 * The operator's experience: init, config show with origins, doctor, --field, and prompts that
 * appear only at a real terminal (driven here through a pseudo-terminal).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertCliError, assertExit, okJson, sandboxFor, show, withDb, type Sandbox } from "../helpers/cli.js";
import { inTerminal, type PtyResult } from "../helpers/pty.js";
import { fixturesDir } from "../helpers/paths.js";

const LONG_SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef";


type Settings = Record<string, { value: unknown; origin: string }>;

describe("config show", () => {
  test("reports each setting's origin: flag, PYWRY_AUTH_* env, config file, PYWRY_DEPLOY__* env, default", async (t) => {
    const sb = sandboxFor(t);
    const configFile = sb.path(".config", "pywry-auth", "config.json");
    const show = (args: string[], env: Record<string, string> = {}) => sb.run(["--json", ...args, "config", "show"], { env });

    let settings = okJson<Settings>(await show([]));
    assert.equal(settings["store"]?.origin, "default (pywry's)");
    assert.equal(settings["store"]?.value, sb.path(".config", "pywry", "pywry.db"));

    settings = okJson<Settings>(await show([], { PYWRY_DEPLOY__SQLITE_PATH: sb.path("pywry-env.db"), PYWRY_DEPLOY__SESSION_TTL: "600" }));
    assert.equal(settings["store"]?.origin, "env PYWRY_DEPLOY__SQLITE_PATH");
    assert.equal(settings["session_ttl"]?.value, 600);

    assertExit(await sb.run(["init", "--yes", "--store", sb.path("from-config.db"), "--session-ttl", "2h"]), 0);
    settings = okJson<Settings>(await show([], { PYWRY_DEPLOY__SQLITE_PATH: sb.path("pywry-env.db"), PYWRY_DEPLOY__SESSION_TTL: "600" }));
    assert.equal(settings["store"]?.value, sb.path("from-config.db"));
    assert.equal(settings["store"]?.origin, `config ${configFile}`, "the config file beats pywry's environment");
    assert.equal(settings["session_ttl"]?.value, 7200);

    settings = okJson<Settings>(await show([], { PYWRY_AUTH_STORE: sb.path("auth-env.db") }));
    assert.equal(settings["store"]?.origin, "env PYWRY_AUTH_STORE", "PYWRY_AUTH_* beats the config file");

    settings = okJson<Settings>(await show(["--store", sb.path("flag.db")], { PYWRY_AUTH_STORE: sb.path("auth-env.db") }));
    assert.equal(settings["store"]?.origin, "--store", "a flag beats everything");
    assert.equal(settings["store"]?.value, sb.path("flag.db"));
  });

  test("describes the secret and its source but never shows it", async (t) => {
    const sb = sandboxFor(t);
    const fromEnv = await sb.run(["config", "show"], { env: { PYWRY_AUTH_SECRET: LONG_SECRET, PYWRY_AUTH_PREVIOUS_SECRETS: "old-one,older" } });
    assertExit(fromEnv, 0);
    assert.match(fromEnv.stdout, /secret\s+\(set, from env PYWRY_AUTH_SECRET\)/);
    assert.match(fromEnv.stdout, /previous_secrets\s+\(2 set\)/);
    for (const secret of [LONG_SECRET, "old-one", "older"]) assert.equal(fromEnv.stdout.includes(secret), false);

    writeFileSync(sb.path("s.txt"), `${LONG_SECRET}\n`, { mode: 0o600 });
    const fromFile = okJson<Settings>(await sb.run(["--json", "--secret-file", sb.path("s.txt"), "config", "show"]));
    assert.deepEqual(fromFile["secret"], { value: `(set, from ${sb.path("s.txt")})`, origin: "--secret-file" });
    assert.equal(JSON.stringify(fromFile).includes(LONG_SECRET), false);
  });

  test("a Redis URL is shown with its password redacted", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["config", "show"], {
      env: { PYWRY_DEPLOY__STATE_BACKEND: "redis", PYWRY_DEPLOY__REDIS_URL: "redis://app:hunter2@cache:6379/0" },
    });
    assertExit(result, 0);
    assert.equal(result.stdout.includes("hunter2"), false);
    assert.match(result.stdout, /redis:\/\/app:\*\*\*@cache:6379\/0/);
  });

  test("an unreadable config file is an environment error (exit 3)", async (t) => {
    const sb = sandboxFor(t);
    const dir = sb.path(".config", "pywry-auth");
    execFileSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "config.json"), "{ not json");
    assertCliError(await sb.run(["token", "create", "--user", "alice", "--no-session"]), 3, /config .*config\.json: cannot be read/);
    const shown = await sb.run(["config", "show"]);
    assertExit(shown, 3);
    assert.match(shown.stdout, /config_file +invalid: cannot be read/, "config show lists it rather than hiding it");
  });
});

describe("init", () => {
  test("--yes sets up store and secret, tests the store, writes an owner-only config and says what pywry needs", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("data", "app.db");
    const result = await sb.run(["init", "--yes", "--store", store, "--default-roles", "viewer,editor"]);
    assertExit(result, 0);
    const configFile = sb.path(".config", "pywry-auth", "config.json");
    assert.equal(statSync(configFile).mode & 0o777, 0o600);
    assert.equal(statSync(sb.secretFile).mode & 0o777, 0o600);
    assert.ok(existsSync(store), "the store was created and opened");
    const config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
    assert.deepEqual(config, { store, secretFile: sb.secretFile, defaultRoles: ["viewer", "editor"] });
    assert.match(result.stdout, /AuthConfig\(enabled=True, token_secret=Path\(/);
    assert.match(result.stdout, new RegExp(`PYWRY_DEPLOY__SQLITE_PATH=${store.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.equal(result.stdout.includes(readFileSync(sb.secretFile, "utf8").trim()), false, "the secret itself is not printed");

    // Later commands use the config: no flags needed, default roles from it.
    const token = okJson<{ roles: string[] }>(await sb.run(["--json", "token", "create", "--user", "alice"]));
    assert.deepEqual(token.roles, ["viewer", "editor"]);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE user_id = 'alice'").pluck().get()), 1);
  });

  test("keeps an existing secret file and refuses to replace a config without --force", async (t) => {
    const sb = sandboxFor(t);
    writeFileSync(sb.path("mine.secret"), `${LONG_SECRET}\n`, { mode: 0o600 });
    const first = okJson<{ secret_created: boolean }>(await sb.run(["--json", "init", "--yes", "--store", sb.path("a.db"), "--secret-file", sb.path("mine.secret")]));
    assert.equal(first.secret_created, false);
    assert.equal(readFileSync(sb.path("mine.secret"), "utf8").trim(), LONG_SECRET);
    assertCliError(await sb.run(["init", "--yes", "--store", sb.path("b.db")]), 2, /--force/);
    assertExit(await sb.run(["init", "--yes", "--force", "--store", sb.path("b.db")]), 0);
  });

  test("without a terminal and without --yes it asks nothing and exits 2", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["init"], { timeoutMs: 10_000 });
    assertCliError(result, 2, /--yes/);
    assert.equal(existsSync(sb.path(".config", "pywry-auth", "config.json")), false);
  });

  test("at a real terminal, the wizard asks and writes what was answered", (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("wizard.db");
    const result = inTerminal(sb, ["init"], [
      { expect: "Where are the sessions kept\\?", send: "\r" },
      { expect: "SQLite file", send: `${store}\r` },
      { expect: "Signing secret", send: "\r" },
      { expect: "Default session lifetime", send: "8h\r" },
      { expect: "Default widget-token lifetime", send: "\r" },
      { expect: "Default roles for new sessions", send: "editor\r" },
    ]);
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 0, result.output);
    const config = JSON.parse(readFileSync(sb.path(".config", "pywry-auth", "config.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(config, { store, secretFile: sb.secretFile, sessionTtl: 28800, widgetTtl: 300, defaultRoles: ["editor"] });
    assert.ok(existsSync(store));
    assert.match(result.output, /PYWRY_DEPLOY__SQLITE_PATH=/);
  });
});

describe("confirmation prompts at a real terminal", () => {
  test("revoke --user asks, and answering no changes nothing", (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const env = { PYWRY_AUTH_SECRET: LONG_SECRET };
    const declined = inTerminal(sb, ["--store", store, "revoke", "--user", "bob"], [{ expect: "Revoke every session and token of user \"bob\"\\?", send: "n\r" }], env);
    assert.equal(declined.missed, null, declined.output);
    assert.equal(declined.code, 2, declined.output);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE user_id = 'bob'").pluck().get()), 1);
    const accepted = inTerminal(sb, ["--store", store, "revoke", "--user", "bob"], [{ expect: "Revoke every session", send: "y\r" }], env);
    assert.equal(accepted.code, 0, accepted.output);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE user_id = 'bob'").pluck().get()), 0);
  });
});

describe("a secret typed at a hidden prompt", () => {
  test("verify at a terminal with no secret configured asks for it, hides it, and uses it for this run only", async (t) => {
    const sb = sandboxFor(t);
    const minted = await sb.run(["token", "create", "--user", "alice", "--no-session"], { env: { PYWRY_AUTH_SECRET: LONG_SECRET } });
    assertExit(minted, 0);
    const result = inTerminal(sb, ["verify", minted.stdout.trim()], [{ expect: "No signing secret is configured", send: `${LONG_SECRET}\r` }]);
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /valid: token for "alice"/);
    assert.equal(result.output.includes(LONG_SECRET), false, "the typed secret is not echoed");
    assert.equal(existsSync(sb.secretFile), false, "nothing was stored");
  });

  test("without a terminal there is no prompt: exit 3", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["verify", "alice:1:0:00"], { timeoutMs: 10_000 }), 3, /no signing secret/);
  });
});

describe("revoke with nothing named", () => {
  test("at a terminal offers a searchable pick of live sessions and revokes the chosen one", (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const result = inTerminal(sb, ["--store", store, "revoke"], [
      { expect: "Revoke which session\\?", send: "carol" },
      { expect: "carol", send: "\r" },
      { expect: "Revoke session [0-9a-f]{16} of user \"carol\"", send: "y\r" },
    ]);
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /revoked [0-9a-f]{16} for "carol"; 1 session deleted/);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE session_id = 'sess-viewer'").pluck().get()), 0);
    assert.equal(withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions").pluck().get()), 4, "only carol's went");
  });

  test("without a terminal asks nothing: exit 2", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--store", sb.copyPywryFixture(), "revoke"], { timeoutMs: 10_000 }), 2, /exactly one thing/);
  });
});

describe("doctor", () => {
  test("a clean set-up from init passes: exit 0", async (t) => {
    const sb = sandboxFor(t);
    assertExit(await sb.run(["init", "--yes", "--store", sb.path("ok.db")]), 0);
    const report = okJson<{ healthy: boolean; findings: Array<{ status: string }> }>(await sb.run(["--json", "doctor"]));
    assert.equal(report.healthy, true, JSON.stringify(report));
    assert.ok(report.findings.every((finding) => finding.status === "ok"));
  });

  test("finds each planted problem, with a fix, and exits 1", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    chmodSync(store, 0o644);
    writeFileSync(sb.path("weak.secret"), "short\n", { mode: 0o644 });
    const result = await sb.run(["--json", "--store", store, "--secret-file", sb.path("weak.secret"), "doctor"]);
    assertExit(result, 1);
    const report = JSON.parse(result.stdout) as { healthy: boolean; findings: Array<{ check: string; status: string; fix?: string }> };
    const status = (check: string) => report.findings.find((finding) => finding.check === check)?.status;
    assert.equal(report.healthy, false);
    assert.equal(status("secret"), "warn", "a 5-byte secret is too short");
    assert.equal(status("secret file permissions"), "fail");
    assert.equal(status("database file permissions"), "fail");
    assert.equal(status("local admin session"), "warn");
    assert.equal(status("sessions without expiry"), "warn", "carol's session never expires");
    assert.equal(status("schema"), "warn", "pywry's database has no pywry-auth tables yet");
    assert.equal(status("integrity"), "ok");
    for (const finding of report.findings.filter((f) => f.status !== "ok")) assert.ok(finding.fix, `${finding.check} has a fix`);
    assert.equal(result.stdout.includes("short"), false, "the secret is not printed");
  });

  test("no secret and no store are failures, and a corrupt database is caught", async (t) => {
    const sb = sandboxFor(t);
    const missing = okJson<{ findings: Array<{ check: string; status: string }> }>(
      { ...(await sb.run(["--json", "doctor"])), code: 0 },
    );
    assert.deepEqual(
      missing.findings.filter((f) => f.status === "fail").map((f) => f.check).sort(),
      ["secret", "store"],
    );
    const broken = sb.path("broken.db");
    copyFileSync(join(fixturesDir, "pywry-sessions.db"), broken);
    chmodSync(broken, 0o600);
    const bytes = readFileSync(broken);
    bytes.fill(0x41, 4096 * 3, 4096 * 3 + 512); // scribble over a page holding table data
    writeFileSync(broken, bytes);
    const result = await sb.run(["--json", "--store", broken, "doctor"], { env: { PYWRY_AUTH_SECRET: LONG_SECRET } });
    assertExit(result, 1);
    const report = JSON.parse(result.stdout) as { findings: Array<{ check: string; status: string }> };
    const failed = report.findings.filter((f) => f.status === "fail").map((f) => f.check);
    assert.ok(failed.includes("integrity") || failed.includes("store"), show(result));
  });
});

describe("--field", () => {
  test("prints one field raw, and one line per item for lists", async (t) => {
    const sb = sandboxFor(t);
    const env = { env: { PYWRY_AUTH_SECRET: LONG_SECRET } };
    const accessor = await sb.run(["token", "create", "--user", "alice", "--field", "accessor"], env);
    assertExit(accessor, 0);
    assert.match(accessor.stdout, /^[0-9a-f]{16}\n$/);
    assertExit(await sb.run(["token", "create", "--user", "bob"], env), 0);
    const subjects = await sb.run(["token", "list", "--field", "subject"]);
    assert.deepEqual(subjects.stdout.trim().split("\n").sort(), ["alice", "bob"]);
  });

  test("an unknown field is refused before the command runs: nothing is minted, exit 2", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["token", "create", "--user", "carol", "--field", "nope"], { env: { PYWRY_AUTH_SECRET: LONG_SECRET } });
    assertCliError(result, 2, /^error: no field "nope".*accessor/);
    assert.equal(existsSync(sb.defaultStore), false, "no store was created");
  });
});

describe("completion", () => {
  test("the bash script completes commands, subcommands and options from the real command tree", async (t) => {
    const sb = sandboxFor(t);
    const script = await sb.run(["completion", "bash"]);
    assertExit(script, 0);
    writeFileSync(sb.path("completion.bash"), script.stdout);
    const complete = (...words: string[]) =>
      execFileSync("bash", ["-c", `source "$1"; COMP_WORDS=("\${@:2}"); COMP_CWORD=$(( $# - 2 )); _pywry_auth; echo "\${COMPREPLY[*]}"`, "_", sb.path("completion.bash"), "pywry-auth", ...words], {
        encoding: "utf8",
      }).trim();
    assert.equal(complete("tok"), "token");
    assert.equal(complete("token", "cr"), "create");
    assert.equal(complete("token", "create", "--us"), "--user");
    assert.equal(complete("--json", "session", "pur"), "purge", "global flags before the command are skipped");
    assert.equal(complete("roles", "del"), "delete");
  });

  test("zsh and fish scripts are printed; an unknown shell is a usage error", async (t) => {
    const sb = sandboxFor(t);
    const zsh = await sb.run(["completion", "zsh"]);
    assert.match(zsh.stdout, /bashcompinit/);
    const fish = await sb.run(["completion", "fish"]);
    assert.match(fish.stdout, /complete -c pywry-auth -n '__fish_seen_subcommand_from token' -a 'create renew list'/);
    assertCliError(await sb.run(["completion", "tcsh"]), 2, /bash, zsh or fish/);
  });
});

describe("migrate into an existing store", () => {
  test("without a terminal and without --yes it refuses and writes nothing; a new target needs no confirmation", async (t) => {
    const sb = sandboxFor(t);
    const source = sb.copyPywryFixture("source.db");
    const existing = sb.path("existing.db");
    assertExit(await sb.run(["--store", existing, "--create", "session", "create", "--user", "zed"]), 0);
    const refused = await sb.run(["migrate", "--from", source, "--to", existing], { timeoutMs: 10_000 });
    assertCliError(refused, 2, /--yes/);
    assert.equal(withDb(existing, (db) => db.prepare("SELECT COUNT(*) FROM sessions").pluck().get()), 1);
    assertExit(await sb.run(["migrate", "--from", source, "--to", existing, "--yes"]), 0);
    assert.ok((withDb(existing, (db) => db.prepare("SELECT COUNT(*) FROM sessions").pluck().get()) as number) > 1);
    assertExit(await sb.run(["migrate", "--from", source, "--to", sb.path("fresh.db")]), 0);
  });

  test("restoring an old copy does not bring back the session of a token revoked since; it is reported as skipped", async (t) => {
    const sb = sandboxFor(t);
    const env = { PYWRY_AUTH_SECRET: "operator-migrate-secret" };
    const live = sb.path("live.db");
    const created = await sb.run(["--store", live, "--create", "token", "create", "--user", "alice"], { env });
    assertExit(created, 0);
    const token = created.stdout.trim();
    copyFileSync(live, sb.path("backup.db"));
    assertExit(await sb.run(["--store", live, "revoke", "-"], { env, input: `${token}\n` }), 0);
    const restored = await sb.run(["--json", "migrate", "--from", sb.path("backup.db"), "--to", live, "--yes"], { env });
    const report = okJson<{ counts: { sessions: { added: number; skipped: number } } }>(restored);
    assert.deepEqual([report.counts.sessions.added, report.counts.sessions.skipped], [0, 1]);
    assert.equal(withDb(live, (db) => db.prepare("SELECT COUNT(*) FROM sessions WHERE session_id = ?").pluck().get(token)), 0);
    const human = await sb.run(["migrate", "--from", sb.path("backup.db"), "--to", live, "--yes"], { env });
    assertExit(human, 0);
    assert.match(human.stdout, /sessions: copied 0 new, 0 changed, 0 already there, 1 skipped \(revoked\)/);
  });
});
