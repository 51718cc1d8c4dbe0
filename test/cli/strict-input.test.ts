/**
 * Nothing mistyped is silently acted on (issue 16, items 7 to 15): every input is checked before
 * anything changes, a cancelled prompt changes nothing, and a success message is always true.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertCliError, assertExit, assertJsonError, okJson, sandboxFor, withDb, type Sandbox } from "../helpers/cli.js";
import { inTerminal, type PtyResult } from "../helpers/pty.js";

const SECRET = "strict-input-test-secret";
const withSecret = { env: { PYWRY_AUTH_SECRET: SECRET } };
const CTRL_C = "\u0003";

function sessionCount(store: string): number {
  return withDb(store, (db) => db.prepare("SELECT COUNT(*) FROM sessions").pluck().get() as number);
}

/** Asserts a prompt was reached, and that Ctrl-C there printed "cancelled" and exited 130. */
function assertCancelled(result: PtyResult): void {
  assert.equal(result.missed, null, result.output);
  assert.equal(result.code, 130, result.output);
  assert.match(result.output, /cancelled: nothing was changed/);
  assert.doesNotMatch(result.output, /internal error|SIGINT|error:/);
}

describe("error messages (item 14)", () => {
  test("--secret-file naming a directory says so, without Node's raw EISDIR", async (t) => {
    const sb = sandboxFor(t);
    mkdirSync(sb.path("secrets"));
    const result = await sb.run(["--secret-file", sb.path("secrets"), "token", "create", "--user", "alice", "--no-session"]);
    assertCliError(result, 3, /secret file \S+secrets is a directory, not a regular file: give the path of a file holding the secret$/m);
    assert.doesNotMatch(result.stderr, /EISDIR/);
  });

  test("migrate --json names its dry-run field dry_run, like every other command", async (t) => {
    const sb = sandboxFor(t);
    assertExit(await sb.run(["--store", sb.path("a.db"), "--create", "session", "create", "--user", "ann"]), 0);
    const dry = okJson(await sb.run(["--json", "migrate", "--from", sb.path("a.db"), "--to", sb.path("b.db"), "--dry-run"]));
    assert.equal(dry["dry_run"], true);
    assert.equal("dryRun" in dry, false);
  });
});

describe("--field is checked before the command runs (item 7)", () => {
  test("session create --field nope creates nothing and exits 2", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("s.db");
    assertExit(await sb.run(["--store", store, "--create", "session", "create", "--user", "ann"]), 0);
    const result = await sb.run(["--store", store, "--field", "nope", "session", "create", "--user", "bob"]);
    assertCliError(result, 2, /no field "nope".*session_id/);
    const users = okJson<Array<{ user_id: string }>>(await sb.run(["--json", "--store", store, "session", "list"]));
    assert.deepEqual(users.map((session) => session.user_id), ["ann"]);
  });

  test("session delete --field nope deletes nothing and exits 2", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("s.db");
    const handle = (await sb.run(["--store", store, "--create", "--field", "handle", "session", "create", "--user", "ann"])).stdout.trim();
    assertCliError(await sb.run(["--store", store, "--field", "nope", "session", "delete", handle]), 2, /no field "nope"/);
    assertExit(await sb.run(["--store", store, "session", "show", handle]), 0);
  });

  test("a command whose output is one JSON object per line says --field does not apply", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--field", "action", "audit"]), 2, /does not apply to audit/);
  });

  test("the declared fields are exactly what the commands print", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    const keysOf = async (args: string[], input?: string) => {
      const result = await sb.run(["--json", ...store, ...args], { ...withSecret, input });
      assert.ok(result.code === 0 || result.code === 1, `${args.join(" ")}: exit ${result.code} ${result.stdout} ${result.stderr}`);
      const body = JSON.parse(result.stdout) as Record<string, unknown> | Array<Record<string, unknown>>;
      return Object.keys(Array.isArray(body) ? (body[0] ?? {}) : body).sort();
    };
    const token = (await sb.run([...store, "--create", "token", "create", "--user", "ann"], withSecret)).stdout.trim();
    const handle = (await sb.run([...store, "--field", "handle", "session", "create", "--user", "bob"])).stdout.trim();
    const cases: Array<[string, string[], string?]> = [
      ["token create", ["token", "create", "--user", "cid"]],
      ["token list", ["token", "list"]],
      ["widget-token", ["widget-token", "w1"]],
      ["verify", ["verify", "-"], `${token}\n`],
      ["inspect", ["inspect", "-"], `${token}\n`],
      ["session create", ["session", "create", "--user", "dan"]],
      ["session list", ["session", "list"]],
      ["session show", ["session", "show", "--reveal", handle]],
      ["session refresh", ["session", "refresh", handle]],
      ["session purge", ["session", "purge", "--dry-run"]],
      ["session grant", ["session", "grant", handle, "widget:w1", "read"]],
      ["roles show", ["roles", "show", "viewer"]],
      ["roles seed", ["roles", "seed"]],
      ["doctor", ["doctor"]],
      ["session delete", ["session", "delete", handle]],
    ];
    const commands = await (await import("../../src/cli/main.js")).leafCommands();
    for (const [path, args, input] of cases) {
      const declared = commands.get(path)?.fields;
      assert.ok(Array.isArray(declared), path);
      const printed = await keysOf(args, input);
      for (const key of printed) assert.ok((declared as string[]).includes(key), `${path} prints ${key}, which is not declared`);
    }
  });
});

describe("Ctrl-C at any prompt changes nothing and exits 130 (item 8)", () => {
  test("in the init wizard: no config, no secret, no store", (t) => {
    const sb = sandboxFor(t);
    assertCancelled(inTerminal(sb, ["init"], [{ expect: "Where are the sessions kept\\?", send: CTRL_C }]));
    const result = inTerminal(sb, ["init"], [
      { expect: "Where are the sessions kept\\?", send: "\r" },
      { expect: "SQLite file", send: "\r" },
      { expect: "Signing secret", send: CTRL_C },
    ]);
    assertCancelled(result);
    assert.equal(existsSync(sb.path(".config", "pywry-auth", "config.json")), false);
    assert.equal(existsSync(sb.secretFile), false);
    assert.equal(existsSync(sb.defaultStore), false);
  });

  test("in the revoke picker: nothing is revoked", (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCancelled(inTerminal(sb, ["--store", store, "revoke"], [{ expect: "Revoke which session\\?", send: CTRL_C }]));
    assert.equal(sessionCount(store), 5);
  });

  test("at a confirmation: nothing is revoked", (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assertCancelled(inTerminal(sb, ["--store", store, "revoke", "--user", "bob"], [{ expect: "Revoke every session", send: CTRL_C }], withSecret.env));
    assert.equal(sessionCount(store), 5);
  });

  test("at the hidden secret prompt of verify", (t) => {
    const sb = sandboxFor(t);
    assertCancelled(inTerminal(sb, ["verify", "alice:1:0:00"], [{ expect: "No signing secret is configured", send: CTRL_C }]));
  });
});

describe("the revoke picker (item 9)", () => {
  test("shows labelled, aligned columns and asks before revoking; answering no revokes nothing", (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const result = inTerminal(sb, ["--store", store, "revoke"], [
      { expect: "Revoke which session\\?", send: "carol" },
      { expect: "carol", send: "\r" },
      { expect: "Revoke session [0-9a-f]{16} of user \"carol\" \\(roles viewer\\)\\?", send: "n\r" },
    ]);
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 2, result.output);
    assert.equal(sessionCount(store), 5, "nothing was revoked");

    // Every session on screen: the header's columns start where the rows' columns start.
    const listed = inTerminal(sb, ["--store", store, "revoke"], [{ expect: "Revoke which session\\?", send: CTRL_C }]);
    const lines = listed.output.split(/\r?\n/);
    const header = lines.find((line) => /HANDLE\s+USER\s+ROLES\s+EXPIRES/.test(line)) ?? "";
    assert.ok(header, listed.output);
    const rows = lines.filter((line) => /[0-9a-f]{16}  /.test(line) && !line.includes("HANDLE"));
    assert.ok(rows.length >= 2, listed.output);
    for (const label of ["HANDLE", "USER", "ROLES", "EXPIRES"]) {
      const column = header.indexOf(label);
      for (const row of rows) assert.match(row.slice(column - 2, column), /^ {2}$|^.?\s$/, `${label} column misaligned:\n${header}\n${row}`);
    }
    const userColumn = header.indexOf("USER");
    for (const row of rows) assert.match(row.slice(userColumn), /^\S/, `USER column misaligned:\n${header}\n${row}`);
  });
});

describe("revoke of what the store does not know (item 10)", () => {
  const OTHER_SECRET = "a-secret-nobody-configured";

  test("a token no configured secret signed and the store never saw: nothing revoked, exit 4; --force records its hash", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    const stranger = (await sb.run(["token", "create", "--user", "zed", "--no-session"], { env: { PYWRY_AUTH_SECRET: OTHER_SECRET } })).stdout.trim();

    const refused = await sb.run([...store, "revoke", "-"], { ...withSecret, input: `${stranger}\n` });
    assertCliError(refused, 4, /nothing was revoked: no configured secret signed this token.*--force/);
    const revocations = () => withDb(sb.path("s.db"), (db) => db.prepare("SELECT COUNT(*) FROM pywry_auth_revocations").pluck().get());
    assert.equal(revocations(), 0);

    const forced = okJson(await sb.run(["--json", ...store, "revoke", "--force", "-"], { ...withSecret, input: `${stranger}\n` }));
    assert.equal(forced["known"], false);
    assert.equal(forced["revoked"], true);
    assert.equal(revocations(), 1);
    const human = await sb.run([...store, "revoke", "--force", "-"], { ...withSecret, input: `${stranger}\n` });
    assertExit(human, 0);
    assert.match(human.stdout, /already revoked/);
  });

  test("a token signed by the configured secret is revoked even when the store never saw it", async (t) => {
    const sb = sandboxFor(t);
    const token = (await sb.run(["token", "create", "--user", "amy", "--no-session"], withSecret)).stdout.trim();
    const revoked = okJson(await sb.run(["--json", "--store", sb.path("s.db"), "--create", "revoke", "-"], { ...withSecret, input: `${token}\n` }));
    assert.equal(revoked["known"], true);
    assertExit(await sb.run(["--store", sb.path("s.db"), "verify", "-"], { ...withSecret, input: `${token}\n` }), 1);
  });

  test("revoke --user for a user the store never saw: refused without --force, even with --yes", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    assertCliError(await sb.run([...store, "revoke", "--user", "ghost", "--yes"]), 4, /user "ghost" is unknown to the store.*--force/);
    const cutoffs = () => withDb(sb.path("s.db"), (db) => db.prepare("SELECT COUNT(*) FROM pywry_auth_user_cutoffs").pluck().get());
    assert.equal(cutoffs(), 0);
    const forced = await sb.run([...store, "revoke", "--user", "ghost", "--force"]);
    assertExit(forced, 0);
    assert.match(forced.stderr, /warning: user "ghost" was unknown to the store; recorded a cut-off anyway/);
    assert.equal(cutoffs(), 1);
    // A user the store knows still needs only --yes.
    assertExit(await sb.run([...store, "revoke", "--user", "ann", "--yes"]), 0);
    // With --create, a missing store may be started by revoke, and every user is unknown to it.
    const fresh = sb.path("fresh.db");
    assertCliError(await sb.run(["--store", fresh, "--create", "revoke", "--user", "ghost", "--yes"]), 4, /user "ghost" is unknown to the store.*--force/);
    assert.equal(existsSync(fresh), false);
    assertExit(await sb.run(["--store", fresh, "--create", "revoke", "--user", "ghost", "--force"]), 0);
    assert.equal(withDb(fresh, (db) => db.prepare("SELECT COUNT(*) FROM pywry_auth_user_cutoffs").pluck().get()), 1);
  });

  test("revoke --user ghost at a terminal asks a question that says the user is unknown", (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const result = inTerminal(sb, ["--store", store, "revoke", "--user", "ghost", "--yes"], [
      { expect: "User \"ghost\" is unknown to the store: record a cut-off anyway\\?", send: "n\r" },
    ]);
    assert.equal(result.missed, null, result.output);
    assert.equal(result.code, 2, result.output);
  });
});

describe("typos in roles, permissions and actions (item 11)", () => {
  test("session create --roles admn and token create --roles editr are refused with a suggestion; nothing is created", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    assertCliError(await sb.run([...store, "session", "create", "--user", "bob", "--roles", "admn"]), 2, /unknown role "admn" \(did you mean "admin"\?\)/);
    assertCliError(await sb.run([...store, "token", "create", "--user", "bob", "--roles", "viewer,editr"]), 2, /did you mean "editor"/);
    const users = okJson<Array<{ user_id: string }>>(await sb.run(["--json", ...store, "session", "list"]));
    assert.deepEqual(users.map((session) => session.user_id), ["ann"]);
    assert.equal(existsSync(sb.secretFile), false, "no secret was created for the refused mint");
    // A fresh store starts with pywry's default roles, so the typo is caught before it is created.
    assertCliError(await sb.run(["--store", sb.path("new.db"), "--create", "session", "create", "--user", "bob", "--roles", "admn"]), 2, /did you mean "admin"/);
    assert.equal(existsSync(sb.path("new.db")), false);
  });

  test("a role far from every defined one is allowed, with a warning that it grants nothing yet", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["--store", sb.path("s.db"), "--create", "session", "create", "--user", "bob", "--roles", "auditor"]);
    assertExit(result, 0);
    assert.match(result.stderr, /warning: role "auditor" is not defined in the store, so it grants nothing/);
  });

  test("roles grant editr publish does not create a role; --create does", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    assertCliError(await sb.run([...store, "roles", "grant", "editr", "publish"]), 4, /no role "editr" in the store \(did you mean "editor"\?\).*--create/);
    assertExit(await sb.run([...store, "roles", "show", "editr"]), 4);
    assertCliError(await sb.run([...store, "roles", "set", "analyst", "read"]), 4, /--create/);
    assertExit(await sb.run([...store, "roles", "grant", "--create", "publisher", "publish"]), 0);
    assert.deepEqual(okJson(await sb.run(["--json", ...store, "roles", "show", "publisher"])), { role: "publisher", permissions: ["publish"] });
    assertExit(await sb.run([...store, "roles", "set", "--create", "analyst", "read"]), 0);
  });

  test("roles set viewer with no permissions is refused unless --empty", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    assertCliError(await sb.run([...store, "roles", "set", "viewer"]), 2, /--empty/);
    assert.deepEqual(okJson(await sb.run(["--json", ...store, "roles", "show", "viewer"])), { role: "viewer", permissions: ["read"] });
    assertExit(await sb.run([...store, "roles", "set", "viewer", "--empty"]), 0);
    assert.deepEqual(okJson(await sb.run(["--json", ...store, "roles", "show", "viewer"])), { role: "viewer", permissions: [] });
  });

  test("roles grant editor wirte warns that no role grants it, suggesting write", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    const result = await sb.run([...store, "roles", "grant", "editor", "wirte"]);
    assert.match(result.stderr, /warning: no role grants "wirte" yet \(did you mean "write"\?\)/);
  });

  test("can wirte answers no, and warns that no role or grant mentions it, suggesting write", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    const handle = (await sb.run([...store, "--create", "--field", "handle", "session", "create", "--user", "ann", "--roles", "editor"])).stdout.trim();
    const result = await sb.run([...store, "can", "wirte", "--session", handle]);
    assertExit(result, 1);
    assert.match(result.stderr, /warning: no role or grant in the store mentions permission "wirte" \(did you mean "write"\?\)/);
    const known = await sb.run([...store, "can", "write", "--session", handle]);
    assertExit(known, 0);
    assert.equal(known.stderr, "");
  });

  test("audit --action foo is refused, listing the actions; a near miss gets a suggestion", async (t) => {
    const sb = sandboxFor(t);
    const store = ["--store", sb.path("s.db")];
    assertExit(await sb.run([...store, "--create", "session", "create", "--user", "ann"]), 0);
    assertCliError(await sb.run([...store, "audit", "--action", "foo"]), 2, /unknown --action "foo": use a group \(session, token/);
    assertCliError(await sb.run([...store, "audit", "--action", "sesion"]), 2, /did you mean "session"/);
    assertExit(await sb.run([...store, "audit", "--action", "session.create"]), 0);
  });

  test("the audit actions --action accepts are every action the stores write", async () => {
    const { readFileSync, readdirSync } = await import("node:fs");
    const { projectRoot } = await import("../helpers/paths.js");
    const { AUDIT_ACTIONS } = await import("../../src/cli/commands/audit.js");
    const storeDir = join(projectRoot, "src", "store");
    const written = new Set<string>();
    // Every store file, the backends' folders included (the actions themselves are built in store/audit.ts).
    for (const file of readdirSync(storeDir, { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".ts"))) {
      const source = readFileSync(join(storeDir, file), "utf8");
      for (const match of source.matchAll(/"((?:session|token|user|role|store)\.[a-z_]+)"/g)) written.add(match[1] as string);
    }
    assert.ok(written.size >= 10, [...written].join(", "));
    assert.deepEqual([...written].sort(), [...AUDIT_ACTIONS].sort());
  });
});

describe("pasted tokens (item 12)", () => {
  test("whitespace, quotes or a Bearer prefix: still invalid, and the error names the likely cause", async (t) => {
    const sb = sandboxFor(t);
    const token = (await sb.run(["token", "create", "--user", "ann", "--no-session"], withSecret)).stdout.trim();
    const verify = (text: string) => sb.run(["--json", "verify", "-"], { ...withSecret, input: `${text}\n` });
    const cases: Array<[string, RegExp]> = [
      [`Bearer ${token}`, /likely cause: it starts with "Bearer "/],
      [`"${token}"`, /likely cause: it is wrapped in quotes/],
      [`'${token}'`, /likely cause: it is wrapped in quotes/],
      [` ${token}`, /likely cause: it has whitespace around it/],
      [`${token}\t`, /likely cause: it has whitespace around it/],
    ];
    for (const [text, cause] of cases) {
      const result = await verify(text);
      assertExit(result, 1);
      const body = JSON.parse(result.stdout) as { valid: boolean; error: { code: string; message: string } };
      assert.equal(body.valid, false, text);
      assert.match(body.error.message, cause, text);
      const human = await sb.run(["verify", "-"], { ...withSecret, input: `${text}\n` });
      assert.match(human.stdout, cause, text);
    }
    assertExit(await verify(token), 0);
    // revoke never creates a store, so it is given one that exists (and has never seen the token).
    const store = sb.copyPywryFixture();
    assertCliError(await sb.run(["--store", store, "revoke", "-"], { ...withSecret, input: `Bearer ${token}\n` }), 4, /nothing was revoked.*likely cause: it starts with "Bearer "/);
    const inspected = await sb.run(["inspect", "-"], { ...withSecret, input: `"${token}"\n` });
    assertExit(inspected, 1);
    assert.match(inspected.stderr, /likely cause of the invalid signature: it is wrapped in quotes/);
  });

  test("inspect exits 1 when the signature is checked and invalid, like verify; 0 when valid or unchecked", async (t) => {
    const sb = sandboxFor(t);
    const forged = (await sb.run(["token", "create", "--user", "ann", "--no-session"], { env: { PYWRY_AUTH_SECRET: "some-other-secret" } })).stdout.trim();
    const invalid = await sb.run(["inspect", "-"], { ...withSecret, input: `${forged}\n` });
    assertExit(invalid, 1);
    assert.match(invalid.stdout, /signature\s+INVALID/);
    const json = await sb.run(["--json", "inspect", "-"], { ...withSecret, input: `${forged}\n` });
    assertExit(json, 1);
    assert.equal((JSON.parse(json.stdout) as { signature: string }).signature, "invalid");
    assertExit(await sb.run(["inspect", "-"], { env: { PYWRY_AUTH_SECRET: "some-other-secret" }, input: `${forged}\n` }), 0);
    assertExit(await sb.run(["inspect", "-"], { input: `${forged}\n` }), 0);
  });
});

describe("help (item 13)", () => {
  test("help <group> <command> shows that command's help; help nope says unknown command", async (t) => {
    const sb = sandboxFor(t);
    const shown = await sb.run(["help", "token", "create"]);
    assertExit(shown, 0);
    assert.match(shown.stdout, /^Usage: pywry-auth token create /);
    assert.match(shown.stdout, /--no-session/);
    assertExit(await sb.run(["help", "session"]), 0);
    assertCliError(await sb.run(["help", "nope"]), 2, /unknown command 'nope'/);
    assertCliError(await sb.run(["help", "tokn"]), 2, /unknown command 'tokn' \(Did you mean token\?\)/);
    assertCliError(await sb.run(["help", "token", "nope"]), 2, /unknown command 'nope' in token/);
  });

  test("token create --usr alice suggests --user rather than saying --user is missing", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "create", "--usr", "alice"]), 2, /unknown option '--usr' \(Did you mean --user\?\)/);
    assertCliError(await sb.run(["session", "create", "--usr=alice"]), 2, /unknown option '--usr' \(Did you mean --user\?\)/);
    assertCliError(await sb.run(["token", "create"]), 2, /required option '--user <id>' not specified/);
  });

  test("a subcommand's help lists the global options", async (t) => {
    const sb = sandboxFor(t);
    const help = (await sb.run(["session", "list", "--help"])).stdout;
    assert.match(help, /Global Options:/);
    for (const flag of ["--json", "--store", "--field", "--secret-file"]) assert.ok(help.includes(flag), flag);
  });

  test("the --ttl default shown follows the configuration", async (t) => {
    const sb = sandboxFor(t);
    assert.match((await sb.run(["token", "create", "--help"])).stdout, /\(default 24h\)/);
    assertExit(await sb.run(["init", "--yes", "--store", sb.path("s.db"), "--session-ttl", "2h", "--widget-ttl", "10m"]), 0);
    const configured = (await sb.run(["token", "create", "--help"])).stdout;
    assert.match(configured.replace(/\s+/g, " "), /\(default 2h, from config \S+config\.json\)/);
    assert.match((await sb.run(["help", "session", "refresh"])).stdout.replace(/\s+/g, " "), /default 2h, from config/);
    const widget = await sb.run(["widget-token", "--help"], { env: { PYWRY_AUTH_WIDGET_TTL: "90" } });
    assert.match(widget.stdout.replace(/\s+/g, " "), /default 90s, from env PYWRY_AUTH_WIDGET_TTL/);
  });

  test("group commands have examples, and their help is wrapped to the terminal width", async (t) => {
    const sb = sandboxFor(t);
    for (const group of ["token", "session", "roles", "config", "secret"]) {
      const help = (await sb.run([group, "--help"])).stdout;
      assert.match(help, /\nExamples:\n {2}\$ .*pywry-auth /, group);
      for (const line of help.split("\n")) assert.ok(line.length <= 80, `${group}: ${line.length} columns: ${line}`);
    }
  });
});

describe("credentials pasted into the wrong option are never echoed (item 15)", () => {
  const HEX_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
  const BASE64_SECRET = "M_PddF7cZ3xSYz92y5ep-rU9Fb9ZcIXyfWSYPFZk7Ik";

  test("in human and --json errors, whichever option the credential was given to", async (t) => {
    const sb = sandboxFor(t);
    const token = (await sb.run(["token", "create", "--user", "ann", "--no-session"], withSecret)).stdout.trim();
    const signature = token.split(":").pop() as string;
    assertExit(await sb.run(["--store", sb.path("s.db"), "--create", "session", "create", "--user", "ann"]), 0);
    const store = ["--store", sb.path("s.db")];
    const misplaced = (credential: string): string[][] => [
      ["token", "create", "--user", "ann", "--no-session", "--ttl", credential],
      [...store, "verify", "--at", credential, "-"],
      [...store, "audit", "--since", credential],
      [...store, "revoke", "--user", credential, "--yes"],
      ["--store", credential, "session", "list"],
      ["--store", sb.path(credential, "p.db"), "roles", "list"],
      [...store, "--field", credential, "session", "list"],
      [...store, "roles", "show", credential],
      ["completion", credential],
      [...store, "session", "create", "--user", "ann", "--metadata", credential],
      [...store, "session", "import", credential],
      [...store, "session", "export", "--out", sb.path(credential, "out.ndjson")],
      ["migrate", "--from", credential, "--to", sb.path("b.db")],
    ];
    for (const [credential, shown] of [
      [token, signature],
      [HEX_SECRET, HEX_SECRET],
      [BASE64_SECRET, BASE64_SECRET],
    ] as const) {
      for (const args of misplaced(credential)) {
        for (const json of [false, true]) {
          const result = await sb.run(json ? ["--json", ...args] : args, { ...withSecret, input: `${token}\n` });
          assert.notEqual(result.code, 0, `${args.join(" ")}: should fail`);
          const text = `${result.stdout}${result.stderr}`;
          assert.equal(text.includes(shown), false, `${json ? "--json " : ""}${args.join(" ")} echoed the credential:\n${text}`);
        }
      }
    }
  });

  test("a Redis password in --store is never printed, by errors or by --json init", async (t) => {
    const sb = sandboxFor(t);
    const { startRedis } = await import("../helpers/redis.js");
    const server = await startRedis(["--requirepass", "hunter2hunter2"]);
    t.after(() => server.stop());
    const url = `redis://:hunter2hunter2@127.0.0.1:${server.port}/0`;
    const init = await sb.run(["--json", "init", "--yes", "--store", url]);
    assertExit(init, 0);
    assert.equal(`${init.stdout}${init.stderr}`.includes("hunter2hunter2"), false, init.stdout);
    const human = await sb.run(["init", "--yes", "--force", "--store", url]);
    assertExit(human, 0);
    assert.equal(`${human.stdout}${human.stderr}`.includes("hunter2hunter2"), false, human.stdout);
    const wrong = `redis://:wrongpassword1@127.0.0.1:${server.port}/0`;
    for (const args of [["--store", wrong, "session", "list"], ["--json", "--store", wrong, "session", "list"], ["--store", wrong, "doctor"]]) {
      const result = await sb.run(args);
      assert.notEqual(result.code, 0);
      assert.equal(`${result.stdout}${result.stderr}`.includes("wrongpassword1"), false, `${args.join(" ")}:\n${result.stdout}${result.stderr}`);
    }
  });
});
