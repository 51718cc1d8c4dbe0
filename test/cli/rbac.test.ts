/**
 * Role and permission administration, end to end through the real CLI, against copies of a
 * database written by pywry itself (test/fixtures/pywry-sessions.db):
 *
 *   local        admin   admin            permanent
 *   sess-editor  bob     editor
 *   sess-viewer  carol   viewer           permanent; metadata grants widget:dashboard-1 → read, write
 *   sess-multi   dave    viewer, editor
 *   sess-old     erin    admin            expired in 2023
 *
 * and role_permissions holding pywry's defaults plus analyst → read, export.
 *
 * `roles set|grant|revoke|delete` edit that table, `session grant|ungrant` edit the metadata, and
 * `can` answers the way pywry's check_permission does. What the CLI writes must be exactly what
 * pywry writes (Python json.dumps spacing) and every change must leave an audit row that names
 * sessions by handle only.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type Database from "better-sqlite3-multiple-ciphers";
import {
  Sandbox,
  assertCliError as assertError,
  assertExit,
  handleOf,
  parseStdout,
  show,
  withDb,
  type CliResult,
} from "../helpers/cli.js";

const SECRET = "rbac-test-secret-0123456789abcdef";
const FIXTURE_IDS = ["sess-editor", "sess-viewer", "sess-multi", "sess-old"] as const;

interface AuditRow {
  at: number;
  action: string;
  subject: string | null;
  target: string | null;
  actor: string | null;
  detail: string;
}

/** A sandbox (test/helpers/cli.ts) holding a scratch copy of the fixture, and the CLI pointed at it. */
class FixtureSandbox {
  private readonly sandbox = new Sandbox();
  readonly home = this.sandbox.home;
  readonly store = this.sandbox.copyPywryFixture();

  /** `pywry-auth --store <copy> ...args`; stdin gets `input` (or is closed at once). */
  run(args: readonly string[], input = ""): Promise<CliResult> {
    return this.runBare(["--store", this.store, ...args], input);
  }

  /** Runs without adding --store (for tests about the store option itself). */
  runBare(args: readonly string[], input = ""): Promise<CliResult> {
    return this.sandbox.run(args, { input, env: { PYWRY_AUTH_SECRET: SECRET } });
  }

  db<T>(work: (db: Database.Database) => T): T {
    return withDb(this.store, work);
  }

  /** The raw role_permissions.permissions text, as pywry reads it. */
  roleRow(role: string): string | undefined {
    return this.db((db) => db.prepare("SELECT permissions FROM role_permissions WHERE role = ?").pluck().get(role) as string | undefined);
  }

  /** The raw sessions.metadata text. */
  metadataRow(sessionId: string): string | undefined {
    return this.db((db) => db.prepare("SELECT metadata FROM sessions WHERE session_id = ?").pluck().get(sessionId) as string | undefined);
  }

  audit(): AuditRow[] {
    return this.db((db) => {
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pywry_auth_audit'").get();
      return exists ? (db.prepare("SELECT at, action, subject, target, actor, detail FROM pywry_auth_audit ORDER BY id").all() as AuditRow[]) : [];
    });
  }

  cleanup(): void {
    this.sandbox.cleanup();
  }
}

function sandbox(t: { after: (fn: () => void) => void }): FixtureSandbox {
  const sb = new FixtureSandbox();
  t.after(() => sb.cleanup());
  return sb;
}

/** The exit code (0 unless said otherwise), then stdout parsed as JSON. */
function okJson<T>(result: CliResult, code = 0): T {
  assertExit(result, code);
  return parseStdout<T>(result);
}

/** No audit column may hold a session id or token: those are credentials. */
function assertNoCredentials(rows: readonly AuditRow[], secrets: readonly string[] = FIXTURE_IDS): void {
  for (const row of rows) {
    const text = JSON.stringify(row);
    for (const secret of secrets) assert.ok(!text.includes(secret), `audit row ${text} must not contain ${secret}`);
  }
}

/** The same token with its last signature character changed. */
function tamper(token: string): string {
  return token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
}

const ADMIN_ROW = '["read", "write", "admin", "delete", "manage_users"]';

// ---------------------------------------------------------------------------------------------

describe("roles set / grant / revoke", () => {
  test("set replaces a role's permissions in pywry's format and audits the change", async (t) => {
    const sb = sandbox(t);
    const json = okJson<unknown>(await sb.run(["roles", "set", "editor", "read", "write", "publish", "--json"]));
    assert.deepEqual(json, { role: "editor", permissions: ["read", "write", "publish"] });
    assert.equal(sb.roleRow("editor"), '["read", "write", "publish"]', "Python json.dumps spacing, order kept");

    const human = await sb.run(["roles", "set", "auditor", "--create", "--empty"]);
    assertExit(human, 0);
    assert.match(human.stdout, /^auditor: \(no permissions\)\n$/, "one line saying what changed");
    assert.equal(sb.roleRow("auditor"), "[]", "set --create --empty creates a role that grants nothing");

    const audit = sb.audit().filter((row) => row.action === "role.set");
    assert.deepEqual(
      audit.map((row) => [row.subject, JSON.parse(row.detail)]),
      [
        ["editor", { before: ["read", "write"], after: ["read", "write", "publish"] }],
        ["auditor", { before: null, after: [] }],
      ],
    );
  });

  test("grant adds to what the role has (creating it with --create); a grant that changes nothing writes nothing", async (t) => {
    const sb = sandbox(t);
    const human = await sb.run(["roles", "grant", "analyst", "publish", "read"]);
    assertExit(human, 0);
    assert.equal(human.stdout, "analyst: read, export, publish\n");
    assert.equal(sb.roleRow("analyst"), '["read", "export", "publish"]');

    assert.deepEqual(okJson(await sb.run(["roles", "grant", "--create", "reviewer", "read", "comment", "--json"])), {
      role: "reviewer",
      permissions: ["read", "comment"],
    });
    assert.equal(sb.roleRow("reviewer"), '["read", "comment"]');

    const auditBefore = sb.audit().length;
    const again = await sb.run(["roles", "grant", "reviewer", "comment"]);
    assertExit(again, 0);
    assert.match(again.stdout, /^reviewer: read, comment \(unchanged\)$/m);
    assert.equal(sb.audit().length, auditBefore, "no audit row for a change that did not happen");
    assert.equal(auditBefore, 2);
  });

  test("revoke removes permissions; an unknown role is 'not found' (exit 4)", async (t) => {
    const sb = sandbox(t);
    assert.deepEqual(okJson(await sb.run(["roles", "revoke", "analyst", "export", "--json"])), { role: "analyst", permissions: ["read"] });
    assert.equal(sb.roleRow("analyst"), '["read"]');
    const [row] = sb.audit();
    assert.equal(row?.action, "role.set");
    assert.deepEqual(JSON.parse(row?.detail ?? "null"), { before: ["read", "export"], after: ["read"] });

    assertError(await sb.run(["roles", "revoke", "auditor", "read"]), 4, /auditor/);
    assert.equal(sb.roleRow("auditor"), undefined, "revoke never creates a role");
  });

  test("the admin role keeps the admin permission unless --force (set and revoke)", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["roles", "set", "admin", "read", "write"]), 2, /--force/);
    assertError(await sb.run(["roles", "revoke", "admin", "admin", "delete"]), 2, /--force/);
    assert.equal(sb.roleRow("admin"), ADMIN_ROW, "refusals change nothing");
    assert.equal(sb.audit().length, 0);

    const forced = await sb.run(["roles", "revoke", "admin", "admin", "--force"]);
    assertExit(forced, 0);
    assert.equal(forced.stdout, "admin: read, write, delete, manage_users\n");
    assert.match(forced.stderr, /^warning: .*admin/m, "a forced change still says what it did");
    assert.equal(sb.roleRow("admin"), '["read", "write", "delete", "manage_users"]');
  });

  test("bad names are usage errors (exit 2) and write nothing", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["roles", "set", "power user", "read"]), 2, /invalid role "power user"/);
    assertError(await sb.run(["roles", "grant", "editor", "read", "wri\tte"]), 2, /invalid permission "wri\\tte"/);
    assert.equal(sb.roleRow("editor"), '["read", "write"]');
    assert.equal(sb.audit().length, 0);
  });

  test("role edits never create a store: a missing one is exit 3 and stays missing", async (t) => {
    const sb = sandbox(t);
    const missing = join(sb.home, "nowhere", "pywry.db");
    assertError(await sb.runBare(["--store", missing, "roles", "grant", "editor", "publish"]), 3, /no session store/);
    assert.equal(existsSync(missing), false);
  });
});

describe("roles delete", () => {
  test("asks for confirmation: without a terminal and without --yes it refuses (exit 2) and keeps the role", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["roles", "delete", "analyst"]), 2, /--yes/);
    assert.equal(sb.roleRow("analyst"), '["read", "export"]');
  });

  test("--yes deletes the role and audits it; an unknown role is exit 4", async (t) => {
    const sb = sandbox(t);
    assert.deepEqual(okJson(await sb.run(["roles", "delete", "analyst", "--yes", "--json"])), { role: "analyst", deleted: true });
    assert.equal(sb.roleRow("analyst"), undefined);
    const audit = sb.audit();
    assert.deepEqual(
      audit.map((row) => [row.action, row.subject, row.target, JSON.parse(row.detail)]),
      [["role.delete", "analyst", null, { before: ["read", "export"] }]],
    );

    assertError(await sb.run(["roles", "delete", "analyst", "--yes"]), 4, /analyst/);
  });

  test("the admin role is deleted only with --force", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["roles", "delete", "admin", "--yes"]), 2, /--force/);
    assert.equal(sb.roleRow("admin"), ADMIN_ROW);
    const forced = await sb.run(["roles", "delete", "admin", "--yes", "--force"]);
    assertExit(forced, 0);
    assert.equal(forced.stdout, "deleted role admin\n");
    assert.match(forced.stderr, /warning: 1 live session .*admin/, "the permanent 'local' session still names the role");
    assert.equal(sb.roleRow("admin"), undefined);
  });
});

describe("can", () => {
  test("answers yes (exit 0) from the session's roles and no (exit 1) when none grants it", async (t) => {
    const sb = sandbox(t);
    const yes = await sb.run(["can", "read", "--session", "sess-viewer"]);
    assertExit(yes, 0);
    assert.equal(yes.stdout, "yes\n");

    // A handle names the session as well as its raw id does.
    const why = okJson<{ allowed: boolean; reason: string }>(await sb.run(["can", "write", "--session", handleOf("sess-viewer"), "--json"]), 1);
    assert.deepEqual(why, { allowed: false, reason: `no role of session ${handleOf("sess-viewer")} (viewer) grants write` });
    assert.deepEqual(okJson(await sb.run(["can", "read", "--session", "sess-viewer", "--json"])), { allowed: true, reason: "role viewer" });

    const tables = sb.db((db) => db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'pywry_auth_%'").pluck().all());
    assert.deepEqual(tables, [], "can opens the store read-only: pywry's file is left exactly as it was");
  });

  test("--resource: a per-resource grant in the session's metadata allows what no role does", async (t) => {
    const sb = sandbox(t);
    const granted = await sb.run(["can", "write", "--session", "sess-viewer", "--resource", "widget:dashboard-1", "--json"]);
    assert.deepEqual(okJson(granted), { allowed: true, reason: "grant widget:dashboard-1" });

    const other = await sb.run(["can", "write", "--session", "sess-viewer", "--resource", "widget:dashboard-2", "--json"]);
    const denied = okJson<{ allowed: boolean; reason: string }>(other, 1);
    assert.equal(denied.allowed, false);
    assert.match(denied.reason, /widget:dashboard-2/, "the reason says which grant was missing");
  });

  test("an unknown or expired session cannot be answered: exit 4, not 'no'", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["can", "read", "--session", "sess-nobody"]), 4);
    // erin is admin, so her roles would say yes; but pywry no longer accepts her expired session.
    const expired = await sb.run(["can", "read", "--session", "sess-old"]);
    assertError(expired, 4, new RegExp(`${handleOf("sess-old")}.*expired`));
    assert.ok(!expired.stderr.includes("sess-old"), "the raw session id is never printed");
  });

  test("--user: the union of the user's live sessions, naming the session that answered", async (t) => {
    const sb = sandbox(t);
    assert.deepEqual(okJson(await sb.run(["can", "write", "--user", "dave", "--json"])), {
      allowed: true,
      reason: `role editor (session ${handleOf("sess-multi")})`,
    });
    assertError(await sb.run(["can", "read", "--user", "erin"]), 4, /erin.*no live session/);
  });

  test("roles come from the store's table, not pywry's built-in defaults", async (t) => {
    const sb = sandbox(t);
    assertExit(await sb.run(["roles", "set", "editor", "read"]), 0);
    const no = okJson<{ allowed: boolean; reason: string }>(await sb.run(["can", "write", "--user", "dave", "--json"]), 1);
    assert.deepEqual(no, { allowed: false, reason: `no role of session ${handleOf("sess-multi")} (viewer, editor) grants write` });
    assertExit(await sb.run(["roles", "grant", "viewer", "export"]), 0);
    assertExit(await sb.run(["can", "export", "--session", "sess-viewer"]), 0);
  });

  test("--token: verified first, then the token's own session; via stdin too", async (t) => {
    const sb = sandbox(t);
    const minted = await sb.run(["token", "create", "--user", "zed", "--roles", "editor"]);
    assertExit(minted, 0);
    const token = minted.stdout.trim();
    assert.ok(token.startsWith("zed:"), show(minted));

    const answer = okJson<{ allowed: boolean; reason: string }>(await sb.run(["can", "write", "--token", token, "--json"]));
    assert.deepEqual(answer, { allowed: true, reason: `role editor (session ${handleOf(token)})` });
    assert.ok(!JSON.stringify(answer).includes(token));

    const piped = await sb.run(["can", "delete", "--token", "-"], `${token}\n`);
    assertExit(piped, 1);
    assert.equal(piped.stdout, "no\n");
  });

  test("--token: a token that does not verify is an error (exit 2) naming why, never a 'no'", async (t) => {
    const sb = sandbox(t);
    const token = (await sb.run(["token", "create", "--user", "zed", "--roles", "editor"])).stdout.trim();
    const tampered = await sb.run(["can", "write", "--token", tamper(token)]);
    assertError(tampered, 2, /ERR_TOKEN_SIGNATURE/);

    // Revocations count: with a second live session for zed, only the revocation check says no.
    const second = (await sb.run(["token", "create", "--user", "zed", "--roles", "editor"])).stdout.trim();
    assert.notEqual(second, "");
    assertExit(await sb.run(["revoke", token]), 0);
    assertError(await sb.run(["can", "write", "--token", token]), 2, /ERR_TOKEN_REVOKED/);
  });

  test("-q prints nothing at all, also with --json: the exit code is the answer", async (t) => {
    const sb = sandbox(t);
    const yes = await sb.run(["can", "-q", "read", "--session", "sess-viewer"]);
    assert.deepEqual([yes.code, yes.stdout, yes.stderr], [0, "", ""]);
    const no = await sb.run(["can", "write", "--session", "sess-viewer", "--quiet", "--json"]);
    assert.deepEqual([no.code, no.stdout, no.stderr], [1, "", ""]);
    const unknown = await sb.run(["can", "-q", "write", "--session", "sess-nobody", "--json"]);
    assert.equal(unknown.code, 4, "an unanswerable question is still not a 'no'");
    assert.equal(unknown.stdout, "", show(unknown));
  });

  test("--list: every permission and where it comes from", async (t) => {
    const sb = sandbox(t);
    const listed = okJson<unknown>(await sb.run(["can", "--list", "--session", "sess-viewer", "--json"]));
    assert.deepEqual(listed, [
      { permission: "read", from: "role viewer" },
      { permission: "read", from: "grant widget:dashboard-1" },
      { permission: "write", from: "grant widget:dashboard-1" },
    ]);

    const human = await sb.run(["can", "--list", "--user", "dave"]);
    assertExit(human, 0);
    const handle = handleOf("sess-multi");
    assert.match(human.stdout, /^PERMISSION\s+FROM$/m);
    assert.match(human.stdout, new RegExp(`^write\\s+role editor \\(session ${handle}\\)$`, "m"));
    assert.match(human.stdout, new RegExp(`^read\\s+role viewer \\(session ${handle}\\)$`, "m"));
    assert.ok(!human.stdout.includes("sess-multi"));
  });

  test("usage errors (exit 2): no subject, two subjects, no permission, a bad resource", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["can", "read"]), 2, /--session.*--token.*--user/);
    assertError(await sb.run(["can", "read", "--session", "sess-viewer", "--user", "carol"]), 2, /exactly one/);
    assertError(await sb.run(["can", "--session", "sess-viewer"]), 2, /--list/);
    assertError(await sb.run(["can", "read", "--session", "sess-viewer", "--resource", "dashboard-1"]), 2, /type:id/);
  });
});

describe("session grant / ungrant", () => {
  test("grant writes pywry's metadata format, audited by handle, and can sees it", async (t) => {
    const sb = sandbox(t);
    const handle = handleOf("sess-editor");
    const json = okJson<unknown>(await sb.run(["session", "grant", handle, "widget:w1", "read,write", "--json"]));
    assert.deepEqual(json, { handle, resource: "widget:w1", permissions: ["read", "write"] });
    assert.equal(sb.metadataRow("sess-editor"), '{"permissions": {"widget:w1": ["read", "write"]}}');

    const human = await sb.run(["session", "grant", "sess-editor", "widget:w1", "publish,read"]);
    assertExit(human, 0);
    assert.equal(human.stdout, `session ${handle} of "bob" on widget:w1: read, write, publish\n`);
    assert.equal(sb.metadataRow("sess-editor"), '{"permissions": {"widget:w1": ["read", "write", "publish"]}}');

    const audit = sb.audit().filter((row) => row.action === "session.grant");
    assert.equal(audit.length, 2);
    for (const row of audit) {
      assert.equal(row.subject, "bob");
      assert.equal(row.target, handle);
    }
    assertNoCredentials(sb.audit());

    assertExit(await sb.run(["can", "publish", "--session", "sess-editor", "--resource", "widget:w1"]), 0);
  });

  test("grant adds to an existing grant written by pywry and leaves the rest of the metadata alone", async (t) => {
    const sb = sandbox(t);
    assertExit(await sb.run(["session", "grant", "sess-viewer", "widget:dashboard-1", "delete"]), 0);
    assertExit(await sb.run(["session", "grant", "sess-viewer", "report:q3", "read"]), 0);
    assert.equal(
      sb.metadataRow("sess-viewer"),
      '{"permissions": {"widget:dashboard-1": ["read", "write", "delete"], "report:q3": ["read"]}}',
    );
  });

  test("ungrant removes named permissions, or the whole grant; can then says no", async (t) => {
    const sb = sandbox(t);
    const handle = handleOf("sess-viewer");
    assert.deepEqual(okJson(await sb.run(["session", "ungrant", "sess-viewer", "widget:dashboard-1", "write", "--json"])), {
      handle,
      resource: "widget:dashboard-1",
      permissions: ["read"],
    });
    assert.equal(sb.metadataRow("sess-viewer"), '{"permissions": {"widget:dashboard-1": ["read"]}}');
    assertExit(await sb.run(["can", "write", "--session", "sess-viewer", "--resource", "widget:dashboard-1"]), 1);

    assertExit(await sb.run(["session", "ungrant", handle, "widget:dashboard-1"]), 0);
    assert.equal(sb.metadataRow("sess-viewer"), '{"permissions": {}}');

    const audit = sb.audit();
    assert.deepEqual(
      audit.map((row) => [row.action, row.subject, row.target, JSON.parse(row.detail)]),
      [
        ["session.ungrant", "carol", handle, { resource: "widget:dashboard-1", permissions: ["write"] }],
        ["session.ungrant", "carol", handle, { resource: "widget:dashboard-1", permissions: null }],
      ],
    );
    assertNoCredentials(audit);
  });

  test("bad input: unknown session (4), bad resource (2), no permissions (2), missing store (3)", async (t) => {
    const sb = sandbox(t);
    assertError(await sb.run(["session", "grant", "sess-nobody", "widget:w1", "read"]), 4, /no session/);
    assertError(await sb.run(["session", "grant", "sess-editor", "widget", "read"]), 2, /type:id/);
    assertError(await sb.run(["session", "grant", "sess-editor", "widget:w1", " , "]), 2, /at least one permission/);
    const missing = join(sb.home, "missing.db");
    assertError(await sb.runBare(["--store", missing, "session", "grant", "sess-editor", "widget:w1", "read"]), 3);
    assert.equal(existsSync(missing), false);
    assert.equal(sb.metadataRow("sess-editor"), "{}");
    assert.equal(sb.audit().length, 0);
  });
});
