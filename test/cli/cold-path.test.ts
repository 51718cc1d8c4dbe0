/**
 * Cold paths stay cold: commands that only touch tokens load no store driver, no prompts and
 * no table renderer (each costs start-up time in CI loops). What a command loaded is recorded
 * by test/helpers/load-log.ts, preloaded into the real CLI process.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { assertExit, nowSeconds, pywryToken, sandboxFor, show, type Sandbox } from "../helpers/cli.js";

const SECRET = "cold-path-secret-0123456789abcdef";
const HEAVY = ["better-sqlite3-multiple-ciphers", "@napi-rs/keyring", "ioredis", "@inquirer/prompts", "text-table"] as const;

async function modulesLoadedBy(sb: Sandbox, args: string[]): Promise<string[]> {
  const logFile = sb.path("loaded.txt");
  writeFileSync(logFile, "");
  const hook = new URL("../helpers/load-log.js", import.meta.url).href;
  const result = await sb.run(args, { env: { PYWRY_AUTH_SECRET: SECRET, NODE_OPTIONS: `--import ${hook}`, PYWRY_AUTH_LOAD_LOG: logFile } });
  assertExit(result, 0);
  return readFileSync(logFile, "utf8").split("\n").filter((line) => line.length > 0);
}

function heavyIn(loaded: readonly string[]): string[] {
  return HEAVY.filter((name) => loaded.some((request) => request === name || request.startsWith(`${name}/`)));
}

describe("cold paths", () => {
  for (const args of [
    ["verify", "--offline", "TOKEN"],
    ["verify", "TOKEN"],
    ["widget-token", "w1", "--no-record", "--json"],
    ["token", "create", "--user", "alice", "--no-session", "--json"],
    ["inspect", "TOKEN"],
  ]) {
    test(`\`${args.join(" ")}\` loads no store driver, prompt or table library`, async (t) => {
      const sb = sandboxFor(t);
      const token = pywryToken("alice", nowSeconds(), nowSeconds() + 3600, SECRET);
      const loaded = await modulesLoadedBy(sb, args.map((arg) => (arg === "TOKEN" ? token : arg)));
      assert.ok(loaded.length > 0, "the load log recorded something (the preload works)");
      assert.deepEqual(heavyIn(loaded), [], loaded.join("\n"));
    });
  }

  test("the load log does see a store driver when a command needs one (the check above can fail)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const created = await sb.run(["--store", store, "--create", "session", "create", "--user", "alice", "--json"], { env: { PYWRY_AUTH_SECRET: SECRET } });
    assertExit(created, 0);
    const loaded = await modulesLoadedBy(sb, ["--store", store, "session", "list"]);
    assert.deepEqual(heavyIn(loaded), ["better-sqlite3-multiple-ciphers", "text-table"], show({ code: 0, signal: null, stdout: loaded.join("\n"), stderr: "" }));
  });

  test("a list as --json or --json-lines never loads the table renderer (no table is built)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    assertExit(await sb.run(["--store", store, "--create", "session", "create", "--user", "alice"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 0);
    for (const args of [["--json", "session", "list"], ["session", "list", "--json-lines"], ["--json", "token", "list"], ["--json", "audit"], ["--json", "roles", "list"]]) {
      const loaded = await modulesLoadedBy(sb, ["--store", store, ...args]);
      assert.deepEqual(heavyIn(loaded), ["better-sqlite3-multiple-ciphers"], `${args.join(" ")}: ${loaded.join(", ")}`);
    }
  });
});
