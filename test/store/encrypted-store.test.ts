/**
 * The library on encrypted pywry databases, checked against pywry's own artefacts:
 *
 * - WAL as pywry uses it: while a SqliteSessionStore holds a SQLCipher database open with an
 *   un-checkpointed WAL, an independent SQLCipher (4.5.5; for SQLCipher 3 also Debian's 3.4.1)
 *   reads the newest rows, and what that SQLCipher writes meanwhile the store reads: the two
 *   share one WAL, as pywry's process and pywry-auth do.
 * - pywry's fallback key: with the manifest's salt in ~/.config/pywry/.salt and its node,
 *   resolveSqliteKey derives the key Python derived, and that key opens pywry-salt-key.db.
 * - pythonNode() is Python's uuid.getnode() on this machine.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { handleFor } from "../../src/core/handles.js";
import { pythonNode } from "../../src/store/sqlite/node-id.js";
import { pywrySaltKey, resolveSqliteKey } from "../../src/store/sqlite/key.js";
import { sqliteFileFormat } from "../../src/store/sqlite/connection.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";
import { fixturesDir } from "../helpers/paths.js";
import {
  copyEncryptedFixture,
  keyOf,
  manifest,
  SQLCIPHER_BUILD_TIMEOUT_MS,
  sqlcipher3,
  sqlcipher4,
  type Sqlcipher4,
} from "../helpers/sqlcipher.js";

const workDir = mkdtempSync(join(tmpdir(), "pywry-auth-encrypted-"));
after(() => rmSync(workDir, { recursive: true, force: true }));
let counter = 0;
function freshDir(): string {
  counter += 1;
  const dir = join(workDir, `case-${counter}`);
  mkdirSync(dir);
  return dir;
}

let cipher4: Sqlcipher4;
before(async () => {
  cipher4 = await sqlcipher4();
}, { timeout: SQLCIPHER_BUILD_TIMEOUT_MS });

/** SHA-256 of a file, read by another process (see the WAL tests). */
function hashInChild(path: string): string {
  const script = "process.stdout.write(require('node:crypto').createHash('sha256').update(require('node:fs').readFileSync(process.argv[1])).digest('hex'))";
  return execFileSync(process.execPath, ["-e", script, path], { encoding: "utf8" });
}

/** Waits until the store's short read snapshot (src/store/sqlite/transactions.ts, SNAPSHOT_MS) has ended. */
const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("WAL shared with an independent SQLCipher while the store is open", () => {
  for (const { name, version } of [
    { name: "pywry-sqlcipher4.db", version: 4 as const },
    { name: "pywry-sqlcipher3.db", version: 3 as const },
  ]) {
    test(`${name} (SQLCipher ${version}): each side reads the other's un-checkpointed writes`, async () => {
      const key = keyOf(name);
      const path = copyEncryptedFixture(freshDir(), name);
      const store = SqliteSessionStore.open(path, { key, keySource: "a test" });
      try {
        assert.deepEqual(store.encryption, { cipher: "sqlcipher", version });
        // (Opening may switch the file to WAL, which pywry does too: compare from here.) Hashed in
        // another process: closing a descriptor of the file here would drop the store's locks.
        const fileBefore = hashInChild(path);
        await store.createSession("wal-session-from-pywry-auth", "walter", ["editor"], 3600, { via: "wal" });
        await store.setRolePermissions("auditor", ["read", "audit"]);

        // Still only in the WAL: the database file itself has not been written.
        assert.ok(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0, "no WAL beside the database");
        assert.equal(hashInChild(path), fileBefore, "the database file was written: the WAL was checkpointed");
        const compat = { compat: version };
        assert.deepEqual(cipher4.query(path, key, "SELECT user_id, roles, metadata FROM sessions WHERE session_id = 'wal-session-from-pywry-auth'", compat), [
          { user_id: "walter", roles: '["editor"]', metadata: '{"via": "wal"}' },
        ]);
        assert.deepEqual(cipher4.query(path, key, "SELECT permissions FROM role_permissions WHERE role = 'auditor'", compat), [{ permissions: '["read", "audit"]' }]);
        if (version === 3) {
          assert.deepEqual(sqlcipher3(path, key, "SELECT user_id FROM sessions WHERE session_id = 'wal-session-from-pywry-auth'"), [["walter"]]);
        }

        // The other way: a row written by real SQLCipher, as pywry writes its sessions, is read by the open store.
        cipher4.query(
          path,
          key,
          `INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES ('wal-session-from-sqlcipher', 'sally', '["viewer"]', ${Date.now() / 1000}, NULL, '{}')`,
          compat,
        );
        await nextTurn();
        const sally = await store.getSession("wal-session-from-sqlcipher");
        assert.equal(sally?.userId, "sally");
        assert.deepEqual(sally?.roles, ["viewer"]);
        assert.ok(await store.findSession(handleFor("wal-session-from-sqlcipher")));
      } finally {
        store.close();
      }
      // Closed: checkpointed into the file, which both read alike and which keeps its cipher settings.
      const other = { compat: version === 4 ? 3 : 4 } as const;
      assert.deepEqual(cipher4.query(path, key, "PRAGMA cipher_integrity_check", { compat: version }), []);
      assert.match(cipher4.refusal(path, key, "SELECT 1 FROM sqlite_master", other) ?? "opened", /file is not a database/);
      assert.deepEqual(
        cipher4.query(path, key, "SELECT user_id FROM sessions WHERE session_id LIKE 'wal-session-%' ORDER BY user_id", { compat: version }),
        [{ user_id: "sally" }, { user_id: "walter" }],
      );
    });
  }
});

describe("a store held open keeps its locks when the same file is looked at again in this process", () => {
  // Closing any descriptor of a file drops all the process's POSIX locks on it, SQLite's too.
  // Unlocked, the open store looks closed to pywry's process, which then takes itself for the
  // last connection and checkpoints and deletes the WAL the store still uses.
  for (const { what, prepare, key } of [
    { what: "SQLCipher 4", prepare: (dir: string) => copyEncryptedFixture(dir, "pywry-sqlcipher4.db"), key: keyOf("pywry-sqlcipher4.db") as string | null },
    {
      what: "plain",
      prepare: (dir: string) => {
        const path = join(dir, "pywry.db");
        copyFileSync(join(fixturesDir, "pywry-sessions.db"), path);
        return path;
      },
      key: null,
    },
  ]) {
    test(`${what}: sqliteFileFormat and a second store on the file leave the first one's WAL in use`, async () => {
      const path = prepare(freshDir());
      const store = SqliteSessionStore.open(path, { key: key ?? undefined });
      try {
        await store.createSession("held-open", "hilda", ["viewer"], 3600, {});
        assert.equal(sqliteFileFormat(path), key ? "encrypted" : "plain");
        const second = SqliteSessionStore.open(path, { key: key ?? undefined, mode: "read" });
        assert.equal((await second.getSession("held-open"))?.userId, "hilda");
        second.close();
        // Another process (real SQLCipher, as pywry) opens and closes the database.
        assert.deepEqual(cipher4.query(path, key, "SELECT user_id FROM sessions WHERE session_id = 'held-open'"), [{ user_id: "hilda" }]);
        assert.ok(existsSync(`${path}-wal`), "the other process took itself for the last connection and removed the WAL");
        await store.createSession("held-open-2", "hugo", ["viewer"], 3600, {});
        assert.deepEqual(cipher4.query(path, key, "SELECT user_id FROM sessions WHERE session_id LIKE 'held-open%' ORDER BY user_id"), [
          { user_id: "hilda" },
          { user_id: "hugo" },
        ]);
      } finally {
        store.close();
      }
    });
  }
});

describe("pywry's salt-derived key (no PYWRY_SQLITE_KEY, no usable keyring)", () => {
  const fixture = manifest.files["pywry-salt-key.db"]!;
  const salt = Buffer.from(fixture.salt_hex!, "hex");
  const node = BigInt(fixture.node!);

  /** A HOME whose ~/.config/pywry/.salt holds `content` ("none": no salt file). */
  function homeWithSalt(content: Buffer | "none"): string {
    const home = freshDir();
    if (content === "none") return home;
    mkdirSync(join(home, ".config", "pywry"), { recursive: true });
    const saltPath = join(home, ".config", "pywry", ".salt");
    writeFileSync(saltPath, content, { mode: 0o600 });
    return home;
  }

  test("sha256(str(node) + salt) is the key Python derived, and it opens pywry-salt-key.db", async () => {
    const home = homeWithSalt(salt);
    // No D-Bus session: on Linux the keyring is skipped at once, as pywry's keyring finds no backend.
    const { key, tried } = await resolveSqliteKey({ env: { HOME: home }, node });
    assert.ok(key, `no key; tried ${tried.join("; ")}`);
    assert.equal(key.key, fixture.key);
    assert.equal(pywrySaltKey(node, salt), fixture.key);
    assert.match(key.source, /salt file .*\.config\/pywry\/\.salt/);
    assert.ok(!key.source.includes(fixture.key));
    assert.ok(tried.some((reason) => /^env PYWRY_SQLITE_KEY \(not set\)$/.test(reason)), tried.join("; "));

    const path = copyEncryptedFixture(freshDir(), "pywry-salt-key.db");
    const store = SqliteSessionStore.open(path, { key: key.key, keySource: key.source, mode: "read" });
    try {
      assert.deepEqual(store.encryption, { cipher: "sqlcipher", version: 4 });
      const sessions = await store.listSessions({ includeExpired: true });
      assert.deepEqual(sessions.map((session) => session.sessionId).sort(), manifest.sessions.map((session) => session.session_id).sort());
    } finally {
      store.close();
    }
    // And the independent SQLCipher agrees that this is the file's key.
    assert.deepEqual(cipher4.query(path, key.key, "SELECT count(*) AS n FROM sessions"), [{ n: manifest.sessions.length }]);
  });

  test("another machine's node gives another key, which does not open the file", async () => {
    const { key } = await resolveSqliteKey({ env: { HOME: homeWithSalt(salt) }, node: node + 1n });
    assert.ok(key);
    assert.notEqual(key.key, fixture.key);
    const path = copyEncryptedFixture(freshDir(), "pywry-salt-key.db");
    assert.throws(() => SqliteSessionStore.open(path, { key: key.key, keySource: key.source, mode: "read" }), { code: "ERR_STORE_KEY" });
  });

  test("PYWRY_SQLITE_KEY wins over the salt; an empty one is ignored, as pywry ignores it", async () => {
    const home = homeWithSalt(salt);
    const fromEnv = await resolveSqliteKey({ env: { HOME: home, PYWRY_SQLITE_KEY: "from-the-environment" }, node });
    assert.deepEqual(fromEnv.key, { key: "from-the-environment", source: "env PYWRY_SQLITE_KEY" });
    const empty = await resolveSqliteKey({ env: { HOME: home, PYWRY_SQLITE_KEY: "" }, node });
    assert.equal(empty.key?.key, fixture.key);
  });

  test("no salt file or no hardware address: no key, each reason named, and nothing created", async () => {
    const none = homeWithSalt("none");
    const missing = await resolveSqliteKey({ env: { HOME: none }, node });
    assert.equal(missing.key, null);
    assert.ok(missing.tried.some((reason) => /\.salt \(none\)$/.test(reason)), missing.tried.join("; "));
    assert.deepEqual(readdirSync(none), [], "pywry-auth created something in HOME (pywry creates the salt; pywry-auth never does)");

    // (A salt file that is a FIFO: test/cli/encrypted-errors.test.ts, in a child it can kill.)

    const noNode = await resolveSqliteKey({ env: { HOME: homeWithSalt(salt) }, node: null });
    assert.equal(noNode.key, null);
    assert.ok(noNode.tried.some((reason) => /no hardware address/.test(reason)), noNode.tried.join("; "));
  });
});

describe("pythonNode()", () => {
  const python = spawnSync("python3", ["-c", "import uuid; print(uuid.getnode())"], { encoding: "utf8" });
  const skip = python.error || python.status !== 0 ? "python3 is not installed" : false;

  test("equals python3's uuid.getnode() on this machine", { skip }, () => {
    const fromPython = BigInt(python.stdout.trim());
    const ours = pythonNode();
    // With no hardware address Python returns a random node with the multicast bit set (different
    // in every process, so pywry's salt key would not survive a restart); pythonNode() says null.
    const multicast = (fromPython >> 40n) & 1n;
    if (ours === null) assert.equal(multicast, 1n, `pythonNode() found no address, Python found ${fromPython}`);
    else assert.equal(ours, fromPython);
  });
});
