/**
 * Every reading command on pywry databases encrypted by real SQLCipher (4.5.5, 3.4.1, and 4.5.5
 * keyed by pywry's salt derivation), with the key from PYWRY_SQLITE_KEY and from
 * --sqlite-key-file: what they print is what the manifest says pywry wrote, the key never
 * appears, and reading leaves the encrypted file byte for byte as it was.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { assertExit, handleOf, okJson, sandboxFor, show, type CliResult, type Sandbox } from "../helpers/cli.js";
import { copyEncryptedFixture, ENCRYPTED_FIXTURES, isExpired, manifest, writeKeyFile } from "../helpers/sqlcipher.js";

interface ListedSession {
  handle: string;
  session_id: string;
  user_id: string;
  roles: string[];
  created_at: number;
  expires_at: number | null;
  metadata: Record<string, unknown>;
}

const ALICE = sessionOf("alice");
const BOB = sessionOf("bob");

function sessionOf(user: string) {
  const found = manifest.sessions.find((session) => session.user_id === user);
  assert.ok(found, `no ${user} session in the manifest`);
  return found;
}

function assertNoKey(result: CliResult, key: string): void {
  assert.ok(!result.stdout.includes(key) && !result.stderr.includes(key), `the key appears in the output\n${show(result)}`);
}

/** The two ways a script gives the key: the environment, or a private key file. */
const KEY_WAYS = [
  { how: "PYWRY_SQLITE_KEY", give: (_sandbox: Sandbox, key: string) => ({ args: [] as string[], env: { PYWRY_SQLITE_KEY: key } }) },
  {
    how: "--sqlite-key-file",
    give: (sandbox: Sandbox, key: string) => ({ args: ["--sqlite-key-file", writeKeyFile(sandbox.path("sqlite.key"), key)], env: {} as Record<string, string> }),
  },
];

for (const fixture of ENCRYPTED_FIXTURES) {
  for (const way of KEY_WAYS) {
    describe(`reading ${fixture.name} (SQLCipher ${fixture.version}) with the key from ${way.how}`, () => {
      test("sessions, roles, verify, can, token list and audit answer from the encrypted file, which stays unchanged", async (t) => {
        const sandbox = sandboxFor(t);
        const db = copyEncryptedFixture(sandbox.home, fixture.name);
        const before = readFileSync(db);
        const given = way.give(sandbox, fixture.key);
        const env = { ...given.env, PYWRY_AUTH_SECRET: manifest.secret };
        const run = async (args: string[], input?: string) => {
          const result = await sandbox.run([...given.args, "--store", db, ...args], { env, input });
          assertNoKey(result, fixture.key);
          return result;
        };

        // Every session pywry wrote, field for field.
        const all = okJson<ListedSession[]>(await run(["--json", "session", "list", "--all", "--reveal"]));
        const byId = new Map(all.map((session) => [session.session_id, session]));
        assert.deepEqual([...byId.keys()].sort(), manifest.sessions.map((session) => session.session_id).sort());
        for (const expected of manifest.sessions) {
          const listed = byId.get(expected.session_id)!;
          assert.equal(listed.user_id, expected.user_id);
          assert.deepEqual(listed.roles, expected.roles);
          assert.equal(listed.created_at, expected.created_at);
          assert.equal(listed.expires_at, expected.expires_at);
          assert.deepEqual(listed.metadata, expected.metadata);
          assert.equal(listed.handle, handleOf(expected.session_id));
        }
        // Without --all, the live ones only (bob's has expired).
        const live = okJson<ListedSession[]>(await run(["--json", "session", "list"]));
        assert.deepEqual(
          live.map((session) => session.handle).sort(),
          manifest.sessions.filter((session) => !isExpired(session)).map((session) => handleOf(session.session_id)).sort(),
        );
        assert.ok(!live.some((session) => session.user_id === BOB.user_id));

        // Roles as pywry stored them, editor with the publish permission it was given.
        assert.deepEqual(okJson(await run(["--json", "roles", "list"])), manifest.role_permissions);
        assert.deepEqual(okJson(await run(["--json", "roles", "show", "editor"])), { role: "editor", permissions: manifest.role_permissions["editor"] });
        assert.ok(manifest.role_permissions["editor"]?.includes("publish"));

        // pywry's login tokens (session_id = the token) verify with the manifest's secret.
        const alice = okJson(await run(["--json", "verify", "-"], `${ALICE.session_id}\n`));
        assert.equal(alice["valid"], true);
        assert.equal(alice["user_id"], "alice");
        const bob = await run(["--json", "verify", "-"], `${BOB.session_id}\n`);
        assertExit(bob, 1);

        // can: alice's token carries editor, which has publish here but not delete.
        const may = okJson(await run(["--json", "can", "publish", "--token", "-"], `${ALICE.session_id}\n`));
        assert.equal(may["allowed"], true);
        assert.match(String(may["reason"]), /role editor/);
        const carol = okJson(await run(["--json", "can", "write", "--user", "carol", "--resource", "widget:w1"]));
        assert.equal(carol["allowed"], true);
        const mayNot = await run(["--json", "can", "delete", "--token", "-"], `${ALICE.session_id}\n`);
        assertExit(mayNot, 1);

        // pywry wrote no pywry-auth tables: the registry and the audit log are empty, not errors.
        assert.deepEqual(okJson(await run(["--json", "token", "list", "--all"])), []);
        const audit = await run(["--json", "audit"]);
        assertExit(audit, 0);
        assert.equal(audit.stdout, "");

        assert.ok(readFileSync(db).equals(before), "a reading command changed the encrypted file");
      });
    });
  }
}
