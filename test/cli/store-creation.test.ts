/**
 * A mistyped store never silently becomes a new database (issue 16, item 5). Only the first mint
 * at the configured location, `init`, `migrate` into a new target and an explicit --create create
 * a store, and they say so on stderr; every other command on a missing store is exit 3 naming the
 * path and how to create one. Unknown URL schemes and paths ending in "/" are usage errors.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { assertCliError, assertExit, okJson, sandboxFor } from "../helpers/cli.js";

const SECRET = "store-creation-secret-0123456789abcdef";
const env = { PYWRY_AUTH_SECRET: SECRET };

describe("a mistyped --store creates nothing", () => {
  test("a path in a missing directory: exit 3 naming the path and --create, no directory made", async (t) => {
    const sb = sandboxFor(t);
    const typo = sb.path("nonexistent", "dir", "p.db");
    for (const args of [["token", "create", "--user", "alice"], ["session", "create", "--user", "alice"], ["widget-token", "w1"], ["roles", "grant", "editor", "x"]]) {
      assertCliError(await sb.run(["--store", typo, ...args], { env }), 3, new RegExp(`no session store at ${typo.replace(/[.]/g, "\\.")} .*--create`));
    }
    assert.equal(existsSync(sb.path("nonexistent")), false);
  });

  test("mysql://x is an unknown scheme (exit 2), not the file ./mysql:/x", async (t) => {
    const sb = sandboxFor(t);
    const before = readdirSync(sb.home).sort();
    assertCliError(await sb.run(["--store", "mysql://x", "token", "create", "--user", "alice"], { env }), 2, /--store: "mysql:\/\/x": unknown scheme mysql:\/\//);
    assertCliError(await sb.run(["--store", "sqlite:///srv/p.db", "session", "list"], { env }), 2, /unknown scheme sqlite:\/\//);
    assert.deepEqual(readdirSync(sb.home).sort(), before, "nothing was created");
  });

  test("a path ending in / is exit 2 (a store is a file), not a file named after the directory", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--store", "~/newdir/", "token", "create", "--user", "alice"], { env }), 2, /--store: "~\/newdir\/" ends in "\/"/);
    assert.equal(existsSync(sb.path("newdir")), false);
  });

  test("`revoke - --store <typo>` is exit 3 and says nothing was revoked; the token stays valid where it lives", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const token = okJson<{ token: string }>(await sb.run(["--json", "--store", store, "--create", "token", "create", "--user", "alice"], { env })).token;
    const typo = sb.path("pywyr.db");
    const revoked = await sb.run(["revoke", "-", "--store", typo], { env, input: `${token}\n` });
    assertCliError(revoked, 3, /no session store at .*pywyr\.db/);
    assert.doesNotMatch(revoked.stdout + revoked.stderr, /revoked/);
    assert.equal(existsSync(typo), false);
    assertExit(await sb.run(["--store", store, "verify", "-"], { env, input: `${token}\n` }), 0);
  });

  test("revoke --user on a typo asks nothing and creates nothing", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--store", sb.path("typo.db"), "revoke", "--user", "bob", "--yes"], { env }), 3, /no session store at/);
    assert.equal(existsSync(sb.path("typo.db")), false);
  });

  test("verify with a --store that does not exist is exit 3: a typo must not skip the revocation check", async (t) => {
    const sb = sandboxFor(t);
    const token = (await sb.run(["token", "create", "--user", "alice", "--no-session"], { env })).stdout.trim();
    assertCliError(await sb.run(["--store", sb.path("typo.db"), "verify", "-"], { env, input: `${token}\n` }), 3, /no session store at .*typo\.db/);
    assertExit(await sb.run(["verify", "-"], { env, input: `${token}\n` }), 0);
  });

  test("session import into a missing --store fails before reading a line", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["--store", sb.path("typo.db"), "session", "import"], { env, input: "{not json\n" }), 3, /no session store at .*typo\.db.*--create/);
  });
});

describe("a missing store that is not named by --store", () => {
  test("session list with no store is exit 3 with the init hint", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["session", "list"], { env }), 3, /no session store at .*pywry\.db .*run `pywry-auth init`/);
    assertCliError(await sb.run(["roles", "list"], { env }), 3, /pywry-auth init/);
    assert.equal(existsSync(sb.defaultStore), false);
  });

  test("the first mint at the default location creates the store and says so on stderr", async (t) => {
    const sb = sandboxFor(t);
    const minted = await sb.run(["token", "create", "--user", "alice"], { env });
    assertExit(minted, 0);
    assert.match(minted.stderr, new RegExp(`created a new session store at ${sb.defaultStore.replace(/[.]/g, "\\.")} \\(mode 0600\\)`));
    const again = await sb.run(["token", "create", "--user", "bob"], { env });
    assert.doesNotMatch(again.stderr, /created a new session store/, "only when it does create one");
  });

  test("the first mint at the config file's store creates it and says so", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("data", "app.db");
    mkdirSync(sb.path(".config", "pywry-auth"), { recursive: true });
    writeFileSync(sb.path(".config", "pywry-auth", "config.json"), JSON.stringify({ store }));
    const created = await sb.run(["session", "create", "--user", "alice"], { env });
    assertExit(created, 0);
    assert.match(created.stderr, /created a new session store at .*data\/app\.db/);
  });

  test("a store in the environment or the config file with an unknown scheme or a trailing / is exit 3", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["session", "list"], { env: { ...env, PYWRY_AUTH_STORE: "mysql://x" } }), 3, /env PYWRY_AUTH_STORE: .*unknown scheme/);
    mkdirSync(sb.path(".config", "pywry-auth"), { recursive: true });
    writeFileSync(sb.path(".config", "pywry-auth", "config.json"), JSON.stringify({ store: "~/data/" }));
    assertCliError(await sb.run(["session", "list"], { env }), 3, /key store: .*ends in "\/"/);
    assertCliError(await sb.run(["session", "list"], { env: { ...env, PYWRY_DEPLOY__SQLITE_PATH: "/srv/" } }), 3, /ends in "\/"/);
  });
});

describe("commands that exist to create say so", () => {
  test("--create creates a missing store and says so on stderr", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("new", "p.db");
    const created = await sb.run(["--store", store, "--create", "token", "create", "--user", "alice"], { env });
    assertExit(created, 0);
    assert.match(created.stderr, /created a new session store at .*new\/p\.db/);
    assert.ok(existsSync(store));
  });

  test("init creates the store and says so", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["init", "--yes", "--store", sb.path("init.db")]);
    assertExit(result, 0);
    assert.match(result.stderr, /created a new session store at .*init\.db/);
  });

  test("migrate into a new target creates it and says so; into an unknown scheme is exit 2", async (t) => {
    const sb = sandboxFor(t);
    const source = sb.copyPywryFixture("source.db");
    const result = await sb.run(["migrate", "--from", source, "--to", sb.path("fresh.db")]);
    assertExit(result, 0);
    assert.match(result.stderr, /created a new session store at .*fresh\.db/);
    assertCliError(await sb.run(["migrate", "--from", source, "--to", "mysql://db/x"]), 2, /--to: .*unknown scheme/);
    assertCliError(await sb.run(["migrate", "--from", source, "--to", sb.path("dir") + "/"]), 2, /--to: .*ends in "\/"/);
  });
});
