/**
 * What goes wrong with encrypted stores, through the real CLI: a wrong key, no key, a truncated
 * encrypted file, and a key file that is missing, world-readable, a directory or a FIFO. Each is
 * exit 3 with exactly one line on stderr, no stack trace, never the key (neither the one given nor
 * the right one), and the file as it was. A key on the command line is refused (exit 2).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, truncateSync } from "node:fs";
import { describe, test } from "node:test";
import { assertCliError, assertJsonError, sandboxFor, show, type CliResult, type Sandbox } from "../helpers/cli.js";
import { copyEncryptedFixture, keyOf, manifest, writeKeyFile } from "../helpers/sqlcipher.js";

const KEY4 = keyOf("pywry-sqlcipher4.db");
const KEY3 = keyOf("pywry-sqlcipher3.db");
const ALL_KEYS = Object.values(manifest.files).map((file) => file.key);
const ENV = { PYWRY_AUTH_SECRET: manifest.secret };
/** A reading and a writing command: both must fail the same way, before anything is written. */
const COMMANDS = [
  ["session", "list", "--all"],
  ["token", "create", "--user", "mallory"],
];

function assertNoKey(result: CliResult, ...keys: string[]): void {
  for (const key of [...keys, ...ALL_KEYS]) {
    assert.ok(!result.stdout.includes(key) && !result.stderr.includes(key), `a key appears in the output\n${show(result)}`);
  }
}

/** Runs each command on `db` and checks: exit 3, one line mentioning `mentions`, no key, file untouched. */
async function assertRefusedUnchanged(sandbox: Sandbox, db: string, args: string[], env: Record<string, string>, mentions: RegExp, keys: string[] = []) {
  const before = readFileSync(db);
  for (const command of COMMANDS) {
    const result = await sandbox.run([...args, "--store", db, ...command], { env: { ...ENV, ...env }, timeoutMs: 15_000 });
    assertCliError(result, 3, mentions);
    assertNoKey(result, ...keys);
  }
  assert.ok(readFileSync(db).equals(before), "the encrypted file was changed");
  assert.equal(existsSync(`${db}-wal`), false, "a WAL file was left beside it");
}

describe("encrypted stores: failures are exit 3 with one clear line, and never show the key", () => {
  test("a wrong key (SQLCipher 4 and 3): names the key's source, says the key is wrong; --json has ERR_STORE_KEY", async (t) => {
    const sandbox = sandboxFor(t);
    for (const [name, wrong] of [["pywry-sqlcipher4.db", KEY3], ["pywry-sqlcipher3.db", KEY4]] as const) {
      const db = copyEncryptedFixture(sandbox.home, name);
      await assertRefusedUnchanged(sandbox, db, [], { PYWRY_SQLITE_KEY: wrong }, /cannot open .* with the key from env PYWRY_SQLITE_KEY: the key is wrong/, [wrong]);
      const file = writeKeyFile(sandbox.path("wrong.key"), wrong);
      await assertRefusedUnchanged(sandbox, db, ["--sqlite-key-file", file], {}, /with the key from key file .*wrong\.key \(--sqlite-key-file\): the key is wrong/, [wrong]);
      const json = await sandbox.run(["--json", "--store", db, "session", "list"], { env: { ...ENV, PYWRY_SQLITE_KEY: wrong } });
      assertJsonError(json, 3, "ERR_STORE_KEY");
      assertNoKey(json, wrong);
    }
  });

  test("no key: names every source tried (not their values) and how to give a key", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncryptedFixture(sandbox.home, "pywry-sqlcipher4.db");
    // An empty PYWRY_SQLITE_KEY is no key (as for pywry), and is said to be set but empty.
    for (const env of [{}, { PYWRY_SQLITE_KEY: "" }] as Record<string, string>[]) {
      await assertRefusedUnchanged(sandbox, db, [], env, /is not a plain SQLite database, and no SQLCipher key was found/);
      const result = await sandbox.run(["--store", db, "session", "list"], { env: { ...ENV, ...env } });
      assert.match(result.stderr, /env PYWRY_SQLITE_KEY \((not set|set but empty, which pywry ignores)\)/);
      assert.match(result.stderr, /--sqlite-key-file \(not given\)/);
      assert.match(result.stderr, /OS keyring \(/);
      assert.match(result.stderr, /salt file .*\.config\/pywry\/\.salt \(none\)/);
      assert.match(result.stderr, /set PYWRY_SQLITE_KEY, or pass --sqlite-key-file <file>/);
    }
  });

  test("a truncated encrypted file, cut in its first page or in the middle of a later one", async (t) => {
    const sandbox = sandboxFor(t);
    const cuts = [
      { name: "pywry-sqlcipher4.db", key: KEY4, page: 4096 },
      { name: "pywry-sqlcipher3.db", key: KEY3, page: 1024 },
    ].flatMap(({ name, key, page }) => [
      // In the first page no key can be checked: it may be the key or the file.
      { name, key, size: 1000, says: "cannot open .*: the key is wrong, or the file is not a SQLCipher 3 or 4 database, or it is damaged" },
      // The first page decrypts with the key, a later one is missing.
      { name, key, size: 20 * page + page / 2, says: "is corrupt" },
    ]);
    for (const { name, key, size, says } of cuts) {
      const db = copyEncryptedFixture(sandbox.home, name, `cut-${size}-${name}`);
      truncateSync(db, size);
      await assertRefusedUnchanged(sandbox, db, [], { PYWRY_SQLITE_KEY: key }, new RegExp(`^(?=.*cut-${size}-${name.replaceAll(".", "\\.")})(?=.*${says})`), [key]);
    }
  });

  test("a key file that is missing, world-readable, a directory or a FIFO: refused before the store is opened", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncryptedFixture(sandbox.home, "pywry-sqlcipher4.db");
    await assertRefusedUnchanged(sandbox, db, ["--sqlite-key-file", sandbox.path("missing.key")], {}, /cannot use the SQLite key file .*missing\.key \(from --sqlite-key-file\): no such file/);

    const loose = writeKeyFile(sandbox.path("loose.key"), KEY4, 0o644);
    await assertRefusedUnchanged(sandbox, db, ["--sqlite-key-file", loose], {}, /loose\.key \(from --sqlite-key-file\): readable by other users \(mode 0644\); run: chmod 600 /);
    // Even a right key in the environment does not make a refused key file acceptable: the flag wins.
    await assertRefusedUnchanged(sandbox, db, ["--sqlite-key-file", loose], { PYWRY_SQLITE_KEY: KEY4 }, /readable by other users/);

    mkdirSync(sandbox.path("key-dir"));
    await assertRefusedUnchanged(sandbox, db, ["--sqlite-key-file", sandbox.path("key-dir")], {}, /key-dir \(from --sqlite-key-file\): not a regular file/);

    // A FIFO with no writer: opening it for reading would wait forever (the run is killed after 15 s).
    execFileSync("mkfifo", ["-m", "600", sandbox.path("key-fifo")]);
    await assertRefusedUnchanged(sandbox, db, ["--sqlite-key-file", sandbox.path("key-fifo")], {}, /key-fifo \(from --sqlite-key-file\): not a regular file/);
  });

  test("pywry's salt file is a FIFO: the salt is skipped as not a regular file, at once", async (t) => {
    const sandbox = sandboxFor(t);
    const db = copyEncryptedFixture(sandbox.home, "pywry-sqlcipher4.db");
    mkdirSync(sandbox.path(".config", "pywry"), { recursive: true });
    execFileSync("mkfifo", ["-m", "600", sandbox.path(".config", "pywry", ".salt")]);
    await assertRefusedUnchanged(sandbox, db, [], {}, /salt file .*\.config\/pywry\/\.salt \(not a regular file\)\): set PYWRY_SQLITE_KEY/);
  });

  test("a store path that is a FIFO or a directory: exit 3 at once, one line", async (t) => {
    const sandbox = sandboxFor(t);
    execFileSync("mkfifo", ["-m", "600", sandbox.path("fifo.db")]);
    mkdirSync(sandbox.path("dir.db"));
    for (const [path, kind] of [[sandbox.path("fifo.db"), /is not a SQLite database: it is a FIFO/], [sandbox.path("dir.db"), /is not a SQLite database: it is a directory/]] as const) {
      for (const command of COMMANDS) {
        const result = await sandbox.run(["--store", path, ...command], { env: { ...ENV, PYWRY_SQLITE_KEY: KEY4 }, timeoutMs: 15_000 });
        assertCliError(result, 3, kind);
        assertNoKey(result);
      }
    }
  });

  test("--sqlite-key <value> and --sqlite-key=<value> are refused (exit 2), naming the safe ways, and create nothing", async (t) => {
    const sandbox = sandboxFor(t);
    const target = sandbox.path("new.db");
    for (const args of [["--sqlite-key", KEY4], [`--sqlite-key=${KEY4}`]]) {
      for (const command of COMMANDS) {
        const result = await sandbox.run([...args, "--store", target, ...command], { env: ENV });
        assertCliError(result, 2, /--sqlite-key is not accepted.*--sqlite-key-file.*PYWRY_SQLITE_KEY/);
        assertNoKey(result);
      }
    }
    assert.equal(existsSync(target), false);
    assert.equal(existsSync(sandbox.secretFile), false, "a refused command created the signing secret");
  });
});
