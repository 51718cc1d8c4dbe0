/**
 * Administering encrypted pywry stores: `doctor`, `config show` and `init` say where the SQLCipher
 * key comes from (never the key), `doctor` finds every way the key can be missing or wrong, and
 * `migrate` moves sessions between plain and encrypted stores both ways.
 */
import assert from "node:assert/strict";
import { chmodSync, chownSync, copyFileSync, mkdirSync, openSync, readFileSync, closeSync, readSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertCliError, assertExit, okJson, sandboxFor, show, type CliResult, type Sandbox } from "../helpers/cli.js";
import { fixturesDir } from "../helpers/paths.js";

interface Manifest {
  secret: string;
  files: Record<string, { key: string; sqlcipher: string }>;
  sessions: Array<{ session_id: string; user_id: string; expires_at: number | null }>;
}

const manifest = JSON.parse(readFileSync(join(fixturesDir, "sqlcipher", "pywry-sqlcipher.json"), "utf8")) as Manifest;
const KEY4 = manifest.files["pywry-sqlcipher4.db"]!.key;
const KEY3 = manifest.files["pywry-sqlcipher3.db"]!.key;

/** A private copy of an encrypted fixture in the sandbox. */
function copyEncrypted(sandbox: Sandbox, name: string, as = name): string {
  const target = sandbox.path(as);
  copyFileSync(join(fixturesDir, "sqlcipher", name), target);
  chmodSync(target, 0o600);
  return target;
}

function keyFile(sandbox: Sandbox, key: string, name = "sqlite.key", mode = 0o600): string {
  const path = sandbox.path(name);
  writeFileSync(path, `${key}\n`, { mode });
  chmodSync(path, mode);
  return path;
}

function header(path: string): string {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(16);
    readSync(fd, buffer, 0, 16, 0);
    return buffer.toString("latin1");
  } finally {
    closeSync(fd);
  }
}

const PLAIN_HEADER = "SQLite format 3\0";

/** No key text anywhere the user or a log could see it. */
function assertNoKey(result: CliResult, ...keys: string[]): void {
  for (const key of keys) {
    assert.ok(!result.stdout.includes(key) && !result.stderr.includes(key), `the key appears in the output\n${show(result)}`);
  }
}

interface Finding {
  check: string;
  status: "ok" | "warn" | "fail";
  message: string;
  fix?: string;
}

function findings(result: CliResult): Finding[] {
  return (JSON.parse(result.stdout) as { findings: Finding[] }).findings;
}

function finding(result: CliResult, check: string): Finding {
  const found = findings(result).find((item) => item.check === check);
  assert.ok(found, `no ${check} finding\n${show(result)}`);
  return found;
}

describe("doctor on encrypted stores", () => {
  test("reports the cipher and where the key comes from, never the key", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    const fromEnv = await sandbox.run(["--json", "doctor", "--store", db], { env: { PYWRY_SQLITE_KEY: KEY4 } });
    assert.equal(finding(fromEnv, "encryption").status, "ok", show(fromEnv));
    assert.match(finding(fromEnv, "encryption").message, /^encrypted \(SQLCipher 4\), key from env PYWRY_SQLITE_KEY$/);
    assertNoKey(fromEnv, KEY4);

    const v3 = copyEncrypted(sandbox, "pywry-sqlcipher3.db");
    const file = keyFile(sandbox, KEY3);
    const human = await sandbox.run(["--sqlite-key-file", file, "doctor", "--store", v3]);
    assert.match(human.stdout, /ok +encryption: encrypted \(SQLCipher 3\), key from key file .*sqlite\.key \(--sqlite-key-file\)/, show(human));
    assertNoKey(human, KEY3);
  });

  test("no key: the store check fails naming the sources tried and how to give a key", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    const result = await sandbox.run(["--json", "doctor", "--store", db]);
    assertExit(result, 1);
    const store = finding(result, "store");
    assert.equal(store.status, "fail");
    assert.match(store.message, /no SQLCipher key was found/);
    assert.match(store.message, /PYWRY_SQLITE_KEY \(not set\)/);
    assert.match(store.message, /OS keyring/);
    assert.match(store.message, /\.salt \(none\)/);
    assert.match(store.fix ?? "", /PYWRY_SQLITE_KEY.*--sqlite-key-file/);
  });

  test("a wrong key, a truncated file, a missing or world-readable key file: each a failed check", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    const wrong = await sandbox.run(["--json", "doctor", "--store", db], { env: { PYWRY_SQLITE_KEY: KEY3 } });
    assert.match(finding(wrong, "store").message, /cannot open .* with the key from env PYWRY_SQLITE_KEY: the key is wrong/);
    assertNoKey(wrong, KEY3, KEY4);

    const truncated = copyEncrypted(sandbox, "pywry-sqlcipher4.db", "truncated.db");
    truncateSync(truncated, 1000);
    const cut = await sandbox.run(["--json", "doctor", "--store", truncated], { env: { PYWRY_SQLITE_KEY: KEY4 } });
    assertExit(cut, 1);
    assert.ok(findings(cut).some((item) => item.status === "fail" && /truncated\.db/.test(item.message)), show(cut));

    const missing = await sandbox.run(["--json", "--sqlite-key-file", sandbox.path("nope.key"), "doctor", "--store", db]);
    assert.match(finding(missing, "sqlite key").message, /cannot use the SQLite key file .*nope\.key \(from --sqlite-key-file\): no such file/);

    const loose = keyFile(sandbox, KEY4, "loose.key", 0o644);
    const readable = await sandbox.run(["--json", "--sqlite-key-file", loose, "doctor", "--store", db]);
    const problem = finding(readable, "sqlite key");
    assert.equal(problem.status, "fail");
    assert.match(problem.message, /readable by other users \(mode 0644\)/);
    assertNoKey(readable, KEY4);
  });

  test("a key configured for a plain store is a warning: pywry would use the key and fail", async (t) => {
    const sandbox = sandboxFor(t);
    const plain = sandbox.copyPywryFixture();
    chmodSync(plain, 0o600);
    const result = await sandbox.run(["--json", "doctor", "--store", plain], { env: { PYWRY_SQLITE_KEY: KEY4 } });
    const encryption = finding(result, "encryption");
    assert.equal(encryption.status, "warn");
    assert.match(encryption.message, /plain SQLite, but a SQLCipher key is configured \(env PYWRY_SQLITE_KEY\)/);
    const noKey = await sandbox.run(["--json", "doctor", "--store", plain]);
    assert.deepEqual(finding(noKey, "encryption"), { check: "encryption", status: "ok", message: "not encrypted (plain SQLite)" });
  });
});

describe("config show and init on encrypted stores", () => {
  test("config show names the key's source, never the key", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    const shown = okJson<Record<string, { value: unknown; origin: string }>>(
      await sandbox.run(["--json", "config", "show", "--store", db], { env: { PYWRY_SQLITE_KEY: KEY4 } }),
    );
    assert.deepEqual(shown["sqlite_key"], { value: "(set)", origin: "env PYWRY_SQLITE_KEY" });
    const none = okJson<Record<string, { value: unknown; origin: string }>>(await sandbox.run(["--json", "config", "show", "--store", db]));
    assert.equal(none["sqlite_key"]?.value, null);
    const text = await sandbox.run(["config", "show", "--store", db], { env: { PYWRY_SQLITE_KEY: KEY4 } });
    assertExit(text, 0);
    assertNoKey(text, KEY4);
  });

  test("init on an existing encrypted store records the key file in the config and tells pywry how to get the key", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher3.db");
    const file = keyFile(sandbox, KEY3);
    const result = await sandbox.run(["--json", "--sqlite-key-file", file, "init", "--yes", "--store", db]);
    const body = okJson<{ config: Record<string, unknown>; sqlite_key: { encrypted: boolean; source: string } }>(result);
    assert.equal(body.config["sqliteKeyFile"], file);
    assert.equal(body.sqlite_key.encrypted, true);
    assert.match(body.sqlite_key.source, /key file .*sqlite\.key/);
    assertNoKey(result, KEY3);
    // The recorded key file is what later commands use: no flag, no env.
    const sessions = okJson<unknown[]>(await sandbox.run(["--json", "session", "list", "--all"]));
    assert.equal(sessions.length, manifest.sessions.length);
    assert.equal(header(db) === PLAIN_HEADER, false, "the store stays encrypted");
  });

  test("init on an encrypted store with no key stops before writing a config", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    const result = await sandbox.run(["init", "--yes", "--store", db]);
    assertCliError(result, 3, /no SQLCipher key was found/);
    assert.throws(() => statSync(sandbox.path(".config", "pywry-auth", "config.json")), /ENOENT/);
  });
});

describe("migrate between plain and encrypted stores", () => {
  test("plain -> new encrypted (--to-key-file) -> new plain (--to-plain): every live session survives both ways", async (t) => {
    const sandbox = sandboxFor(t);
    const plain = sandbox.copyPywryFixture();
    chmodSync(plain, 0o600);
    const key = keyFile(sandbox, KEY4);
    const encrypted = sandbox.path("encrypted.db");
    const there = await sandbox.run(["migrate", "--from", plain, "--to", encrypted, "--to-key-file", key]);
    assertExit(there, 0);
    assert.match(there.stderr, /creating the session store encrypted \(SQLCipher 4\)/);
    assert.notEqual(header(encrypted), PLAIN_HEADER);
    const noKey = await sandbox.run(["session", "list", "--store", encrypted]);
    assertCliError(noKey, 3, /no SQLCipher key was found/);
    const listed = okJson<Array<{ session_id?: string; user_id: string }>>(
      await sandbox.run(["--json", "--sqlite-key-file", key, "session", "list", "--all", "--store", encrypted]),
    );
    const before = okJson<Array<{ user_id: string }>>(await sandbox.run(["--json", "session", "list", "--store", plain]));
    assert.deepEqual(listed.map((row) => row.user_id).sort(), before.map((row) => row.user_id).sort());

    const back = sandbox.path("back.db");
    const home = await sandbox.run(["--sqlite-key-file", key, "migrate", "--from", encrypted, "--to", back, "--to-plain"]);
    assertExit(home, 0);
    assert.equal(header(back), PLAIN_HEADER);
    const again = okJson<Array<{ user_id: string }>>(await sandbox.run(["--json", "session", "list", "--store", back]));
    assert.deepEqual(again.map((row) => row.user_id).sort(), before.map((row) => row.user_id).sort());
  });

  test("a configured key makes a new target encrypted; an encrypted source is read with --from-key-file", async (t) => {
    const sandbox = sandboxFor(t);
    const source = copyEncrypted(sandbox, "pywry-sqlcipher3.db");
    const sourceKey = keyFile(sandbox, KEY3, "v3.key");
    const target = sandbox.path("new.db");
    const result = await sandbox.run(["migrate", "--from", source, "--from-key-file", sourceKey, "--to", target], { env: { PYWRY_SQLITE_KEY: KEY4 } });
    assertExit(result, 0);
    assertNoKey(result, KEY3, KEY4);
    assert.notEqual(header(target), PLAIN_HEADER);
    const doctor = await sandbox.run(["--json", "doctor", "--store", target], { env: { PYWRY_SQLITE_KEY: KEY4 } });
    assert.match(finding(doctor, "encryption").message, /^encrypted \(SQLCipher 4\)/);
  });

  test("contradictory or misplaced key options are usage errors, and nothing is created", async (t) => {
    const sandbox = sandboxFor(t);
    const plain = sandbox.copyPywryFixture();
    const key = keyFile(sandbox, KEY4);
    const target = sandbox.path("never.db");
    assertCliError(await sandbox.run(["migrate", "--from", plain, "--to", target, "--to-plain", "--to-key-file", key]), 2, /contradict/);
    assertCliError(await sandbox.run(["migrate", "--from", plain, "--to", "redis://127.0.0.1:1/0", "--to-plain"]), 2, /--to is Redis/);
    const encrypted = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    assertCliError(
      await sandbox.run(["migrate", "--from", plain, "--to", encrypted, "--to-plain", "--yes"], { env: { PYWRY_SQLITE_KEY: KEY4 } }),
      2,
      /exists and is encrypted/,
    );
    assert.throws(() => statSync(target), /ENOENT/);
  });
});

describe("the key is never taken from the command line", () => {
  test("--sqlite-key <value> is refused before anything runs", async (t) => {
    const sandbox = sandboxFor(t);
    mkdirSync(sandbox.path("d"));
    const result = await sandbox.run(["--sqlite-key", KEY4, "session", "list", "--store", sandbox.path("d", "x.db")]);
    assertCliError(result, 2, /--sqlite-key is not accepted.*PYWRY_SQLITE_KEY/);
    assertNoKey(result, KEY4);
  });
});

describe("key files someone else could have written", () => {
  test("a key file owned by another user is refused (exit 3), like secret files", { skip: process.getuid?.() !== 0 ? "needs root to give a file away" : false }, async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncrypted(sandbox, "pywry-sqlcipher4.db");
    const file = keyFile(sandbox, KEY4);
    chownSync(file, 12345, 12345);
    const result = await sandbox.run(["--sqlite-key-file", file, "session", "list", "--store", db]);
    assertCliError(result, 3, /key file .*sqlite\.key is owned by another user \(uid 12345\)/);
    assertNoKey(result, KEY4);
  });
});
