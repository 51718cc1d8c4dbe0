/**
 * Every writing command on pywry databases encrypted by real SQLCipher lands, encrypted, in the
 * same file, and the file keeps its cipher settings: checked with an independent SQLCipher
 * (test/helpers/sqlcipher.ts), never with the driver that wrote it. SQLCipher 4 files are read
 * by SQLCipher 4.5.5; the SQLCipher 3 file by Debian's sqlcipher 3.4.1 and by 4.5.5 in
 * compatibility 3. A new store that pywry-auth creates with a key configured is a SQLCipher 4
 * file with pywry's schema and seeding, as pywry with sqlcipher3 expects it.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { before, describe, test } from "node:test";
import { handleOf, okJson, sandboxFor, show, type CliResult } from "../helpers/cli.js";
import {
  copyEncryptedFixture,
  firstBytes,
  keyOf,
  manifest,
  PLAIN_SQLITE_HEADER,
  SQLCIPHER_BUILD_TIMEOUT_MS,
  sqlcipher3,
  sqlcipher3Refusal,
  sqlcipher4,
  type Row,
  type Sqlcipher4,
  writeKeyFile,
} from "../helpers/sqlcipher.js";

const ALICE = manifest.sessions.find((session) => session.user_id === "alice")!;
const CAROL = manifest.sessions.find((session) => session.user_id === "carol")!;
const ENV = { PYWRY_AUTH_SECRET: manifest.secret };
/** pywry's tables other than its session tables: pywry-auth must leave them as they are. */
const PYWRY_OTHER_TABLES = ["widgets", "threads", "messages", "tool_calls", "artifacts", "token_usage", "resources", "skills"];

let cipher4: Sqlcipher4;
before(async () => {
  cipher4 = await sqlcipher4();
}, { timeout: SQLCIPHER_BUILD_TIMEOUT_MS });

function assertNoKey(result: CliResult, key: string): void {
  assert.ok(!result.stdout.includes(key) && !result.stderr.includes(key), `the key appears in the output\n${show(result)}`);
}

/**
 * The file opens only with the cipher settings of its SQLCipher version, every page's HMAC checks
 * out (cipher_integrity_check) and SQLite finds it whole: nothing was written with other settings.
 */
function assertSqlcipherFile(path: string, key: string, version: 3 | 4): void {
  assert.ok(!firstBytes(path).equals(PLAIN_SQLITE_HEADER), `${path} is a plain SQLite file`);
  const own = { compat: version } as const;
  const other = { compat: version === 4 ? 3 : 4 } as const;
  assert.deepEqual(cipher4.query(path, key, "PRAGMA cipher_version"), [{ cipher_version: "4.5.5 community" }]);
  assert.deepEqual(cipher4.query(path, key, "PRAGMA cipher_integrity_check", own), [], "a page fails SQLCipher's HMAC check");
  assert.deepEqual(cipher4.query(path, key, "PRAGMA integrity_check", own), [{ integrity_check: "ok" }]);
  assert.deepEqual(cipher4.query(path, key, "PRAGMA page_size", own), [{ page_size: version === 4 ? 4096 : 1024 }]);
  assert.match(cipher4.refusal(path, key, "SELECT count(*) FROM sqlite_master", other) ?? "opened", /file is not a database/, `SQLCipher ${other.compat} settings open the file`);
  assert.match(cipher4.refusal(path, `not-${key}`, "SELECT count(*) FROM sqlite_master", own) ?? "opened", /file is not a database/, "a wrong key opens the file");
  if (version === 3) {
    assert.deepEqual(sqlcipher3(path, key, "PRAGMA integrity_check"), [["ok"]]);
  } else {
    assert.match(sqlcipher3Refusal(path, key, "SELECT count(*) FROM sqlite_master") ?? "opened", /encrypted or is not a database/, "SQLCipher 3.4.1 opens a SQLCipher 4 file");
  }
}

const CASES = [
  { name: "pywry-sqlcipher4.db", version: 4 as const, keyBy: "env" },
  { name: "pywry-sqlcipher3.db", version: 3 as const, keyBy: "file" },
  { name: "pywry-salt-key.db", version: 4 as const, keyBy: "env" },
];

describe("writes to encrypted pywry databases, checked with an independent SQLCipher", { timeout: SQLCIPHER_BUILD_TIMEOUT_MS + 120_000 }, () => {
  for (const { name, version, keyBy } of CASES) {
    test(`${name} (SQLCipher ${version}): token create, revoke, session create/delete/purge and roles set land encrypted in the same file`, async (t) => {
      const sandbox = sandboxFor(t);
      const key = keyOf(name);
      const db = copyEncryptedFixture(sandbox.home, name, "pywry.db");
      const inode = statSync(db).ino;
      const keyArgs = keyBy === "file" ? ["--sqlite-key-file", writeKeyFile(sandbox.path("sqlite.key"), key)] : [];
      const env = keyBy === "env" ? { ...ENV, PYWRY_SQLITE_KEY: key } : ENV;
      const run = async <T = Record<string, unknown>>(args: string[], input?: string): Promise<T> => {
        const result = await sandbox.run(["--json", ...keyArgs, "--store", db, ...args], { env, input });
        assertNoKey(result, key);
        return okJson<T>(result);
      };
      const tablesBefore = cipher4.query(db, key, "SELECT name, sql FROM sqlite_master ORDER BY name", { compat: version });

      const minted = await run<{ token: string; accessor: string }>(["token", "create", "--user", "dave", "--roles", "editor", "--no-expiry"]);
      const created = await run<{ session_id: string; created_at: number; expires_at: number }>(["session", "create", "--user", "erin", "--roles", "viewer", "--metadata", "team=ops"]);
      assert.equal((await run(["revoke", "--yes", "-"], `${ALICE.session_id}\n`))["revoked"], true);
      // verify consults the encrypted store: alice's token, valid before, is now revoked.
      const verified = await sandbox.run(["--json", ...keyArgs, "--store", db, "verify", "-"], { env, input: `${ALICE.session_id}\n` });
      assert.equal(verified.code, 1, show(verified));
      assert.equal((JSON.parse(verified.stdout) as { error: { code: string } }).error.code, "ERR_TOKEN_REVOKED");
      assert.equal((await run(["session", "delete", handleOf(CAROL.session_id)]))["deleted"], true);
      assert.equal((await run(["session", "purge", "--yes"]))["purged"], 1, "bob's expired session");
      await run(["roles", "set", "editor", "read", "write"]);

      assert.equal(statSync(db).ino, inode, "the store was replaced by another file");
      assert.deepEqual(readdirSync(sandbox.home).filter((entry) => entry.startsWith("pywry.db")), ["pywry.db"], "files were left beside the store");
      assertSqlcipherFile(db, key, version);

      // What the independent SQLCipher reads is what the commands did.
      const read = (sql: string): Row[] => cipher4.query(db, key, sql, { compat: version });
      assert.deepEqual(read("SELECT session_id, user_id, roles, expires_at, metadata FROM sessions ORDER BY user_id"), [
        { session_id: "local", user_id: "admin", roles: '["admin"]', expires_at: null, metadata: "{}" },
        { session_id: minted.token, user_id: "dave", roles: '["editor"]', expires_at: null, metadata: "{}" },
        { session_id: created.session_id, user_id: "erin", roles: '["viewer"]', expires_at: created.expires_at, metadata: '{"team": "ops"}' },
      ]);
      assert.ok(Math.abs(created.expires_at - created.created_at - 86_400) < 0.01, "session create's default lifetime is 24h");
      assert.deepEqual(read("SELECT permissions FROM role_permissions WHERE role = 'editor'"), [{ permissions: '["read", "write"]' }]);
      assert.deepEqual(read("SELECT accessor, subject FROM pywry_auth_revocations"), [{ accessor: handleOf(ALICE.session_id), subject: "alice" }]);
      assert.deepEqual(read("SELECT accessor, subject, kind FROM pywry_auth_tokens"), [{ accessor: minted.accessor, subject: "dave", kind: "session" }]);
      assert.deepEqual(
        read("SELECT action FROM pywry_auth_audit ORDER BY id").map((row) => row["action"]),
        ["token.mint", "session.create", "token.revoke", "session.delete", "session.purge", "role.set"],
      );
      // pywry's own tables are as pywry made them.
      const tablesAfter = read("SELECT name, sql FROM sqlite_master ORDER BY name");
      for (const table of PYWRY_OTHER_TABLES) {
        assert.deepEqual(
          tablesAfter.find((row) => row["name"] === table),
          tablesBefore.find((row) => row["name"] === table),
          `pywry's ${table} table changed`,
        );
      }
      if (version === 3) {
        // And SQLCipher 3.4.1 itself, as pysqlcipher3 on Debian would open it.
        assert.deepEqual(sqlcipher3(db, key, "SELECT user_id FROM sessions ORDER BY user_id"), [["admin"], ["dave"], ["erin"]]);
        assert.deepEqual(sqlcipher3(db, key, "SELECT permissions FROM role_permissions WHERE role = 'editor'"), [['["read", "write"]']]);
      }
    });
  }
});

describe("a new store made by pywry-auth with a key configured", { timeout: SQLCIPHER_BUILD_TIMEOUT_MS + 60_000 }, () => {
  for (const keyBy of ["env", "file"] as const) {
    test(`key from ${keyBy === "env" ? "PYWRY_SQLITE_KEY" : "--sqlite-key-file"}: SQLCipher 4 with its defaults, pywry's schema and seeding, WAL`, async (t) => {
      const sandbox = sandboxFor(t);
      const key = keyOf("pywry-sqlcipher4.db");
      const store = sandbox.path("data", "pywry.db");
      const keyArgs = keyBy === "file" ? ["--sqlite-key-file", writeKeyFile(sandbox.path("sqlite.key"), key)] : [];
      const env = keyBy === "env" ? { ...ENV, PYWRY_SQLITE_KEY: key } : ENV;
      const result = await sandbox.run(["--json", ...keyArgs, "--store", store, "--create", "token", "create", "--user", "frank"], { env });
      assertNoKey(result, key);
      const minted = okJson<{ token: string }>(result);
      assert.match(result.stderr, /creating the session store encrypted \(SQLCipher 4\)/);
      assert.equal(statSync(store).mode & 0o777, 0o600);

      assertSqlcipherFile(store, key, 4);
      const read = (sql: string): Row[] => cipher4.query(store, key, sql);
      // SQLCipher 4's defaults, what pywry's sqlcipher3 wheels use.
      assert.deepEqual(read("PRAGMA cipher_settings").map((row) => row["pragma"]), [
        "PRAGMA kdf_iter = 256000;",
        "PRAGMA cipher_page_size = 4096;",
        "PRAGMA cipher_use_hmac = 1;",
        "PRAGMA cipher_plaintext_header_size = 0;",
        "PRAGMA cipher_hmac_algorithm = HMAC_SHA512;",
        "PRAGMA cipher_kdf_algorithm = PBKDF2_HMAC_SHA512;",
      ]);
      assert.deepEqual(read("PRAGMA journal_mode"), [{ journal_mode: "wal" }]);

      // pywry's session tables, as pywry itself created them in the SQLCipher 4 fixture.
      const pywrySql = cipher4.query(copyEncryptedFixture(sandbox.home, "pywry-sqlcipher4.db"), key, "SELECT name, sql FROM sqlite_master WHERE name IN ('sessions', 'role_permissions', 'idx_sessions_user') ORDER BY name");
      const ourSql = read("SELECT name, sql FROM sqlite_master WHERE name IN ('sessions', 'role_permissions', 'idx_sessions_user') ORDER BY name");
      const normalise = (rows: Row[]) => rows.map((row) => ({ name: row["name"], sql: String(row["sql"]).replace(/\s+/g, " ") }));
      assert.equal(ourSql.length, 3);
      assert.deepEqual(normalise(ourSql), normalise(pywrySql));
      // pywry's seeding of role_permissions, text for text (json.dumps); editor without the fixture's publish.
      assert.deepEqual(read("SELECT role, permissions FROM role_permissions ORDER BY role"), [
        { role: "admin", permissions: '["read", "write", "admin", "delete", "manage_users"]' },
        { role: "anonymous", permissions: "[]" },
        { role: "editor", permissions: '["read", "write"]' },
        { role: "viewer", permissions: '["read"]' },
      ]);
      assert.deepEqual(read("SELECT session_id, user_id, roles FROM sessions"), [{ session_id: minted.token, user_id: "frank", roles: '["viewer"]' }]);
    });
  }
});
