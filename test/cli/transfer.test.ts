/**
 * `session export` and `session import`: NDJSON round trips, bad lines reported and skipped,
 * each batch all or nothing, resuming by running the same import again, dry runs, and the
 * batched `session purge`.
 */
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { assertCliError, assertExit, okJson, sandboxFor, sessionRows, show, withDb, type CliResult } from "../helpers/cli.js";

interface ImportSummary {
  lines: number;
  batches: number;
  dry_run: boolean;
  added: number;
  updated: number;
  unchanged: number;
  skipped: number;
  rejected: number;
  errors: Array<{ line: number; code: string; message: string }>;
}

interface Row {
  session_id: string;
  user_id: string;
  roles: string[];
  created_at: number;
  expires_at: number | null;
  metadata: Record<string, unknown>;
}

function row(index: number, overrides: Partial<Row> = {}): Row {
  return {
    session_id: `sess-${index}`,
    user_id: `user-${index % 7}`,
    roles: index % 2 ? ["viewer"] : ["editor", "viewer"],
    created_at: 1_764_000_000.25 + index,
    expires_at: index % 3 === 0 ? null : 4_102_444_800.5,
    metadata: index % 5 === 0 ? { permissions: { "widget:w1": ["read"] }, note: `ünïcode ${index}` } : {},
    ...overrides,
  };
}

function ndjson(rows: readonly unknown[]): string {
  return rows.map((item) => `${typeof item === "string" ? item : JSON.stringify(item)}\n`).join("");
}

function exportedRows(result: CliResult): Row[] {
  assertExit(result, 0);
  return result.stdout === "" ? [] : result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Row);
}

const byId = (a: Row, b: Row): number => a.session_id.localeCompare(b.session_id);

describe("session import and export", () => {
  test("export then import into a new store reproduces pywry's rows exactly", async (t) => {
    const sb = sandboxFor(t);
    const source = sb.copyPywryFixture("source.db");
    const target = sb.path("target.db");
    const exported = await sb.run(["--store", source, "session", "export"]);
    const rows = exportedRows(exported);
    assert.equal(rows.length, sessionRows(source).size, "every session, expired ones included");
    assert.match(exported.stderr, new RegExp(`exported ${rows.length} sessions`));

    const imported = okJson<ImportSummary>(await sb.run(["--json", "--store", target, "--create", "session", "import", "-"], { input: exported.stdout }));
    assert.deepEqual({ ...imported, errors: imported.errors.length }, {
      lines: rows.length,
      batches: 1,
      dry_run: false,
      added: rows.length,
      updated: 0,
      unchanged: 0,
      skipped: 0,
      rejected: 0,
      errors: 0,
    });
    const before = sessionRows(source);
    const after = sessionRows(target);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [id, original] of before) assert.deepEqual(after.get(id), original, `row ${id} is byte for byte pywry's`);

    const again = exportedRows(await sb.run(["--store", target, "session", "export"]));
    assert.deepEqual(again.sort(byId), rows.sort(byId));
  });

  test("an import brings back no session of a revoked token or of a user revoked after it was made", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const env = { PYWRY_AUTH_SECRET: "transfer-test-secret" };
    const run = (args: string[], input?: string) => sb.run(["--store", store, ...args], { env, input });
    const created = await run(["--create", "token", "create", "--user", "alice"]);
    assertExit(created, 0);
    const token = created.stdout.trim();
    assertExit(await run(["session", "create", "--user", "bob"]), 0);
    assertExit(await run(["session", "export", "--out", "backup.ndjson"]), 0);
    assertExit(await run(["revoke", "-"], `${token}\n`), 0);
    assertExit(await run(["revoke", "--yes", "--user", "bob"]), 0);
    const imported = okJson<ImportSummary>(await run(["--json", "session", "import", "backup.ndjson"]));
    assert.equal(imported.added, 0, show(await run(["session", "list", "--all"])));
    assert.equal(imported.skipped, 2);
    assert.deepEqual([...sessionRows(store).keys()], []);
    const human = await run(["session", "import", "backup.ndjson"]);
    assertExit(human, 0);
    assert.match(human.stdout, /2 sessions were skipped: revoked/);
  });

  test("export --user and --out (a new file, mode 0600, never overwritten)", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    assert.deepEqual(exportedRows(await sb.run(["--store", store, "session", "export", "--user", "bob"])).map((r) => r.user_id), ["bob"]);
    const out = sb.path("sessions.ndjson");
    const written = await sb.run(["--store", store, "session", "export", "--out", out]);
    assertExit(written, 0);
    assert.equal(written.stdout, "");
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(readFileSync(out, "utf8").trimEnd().split("\n").length, sessionRows(store).size);
    assertCliError(await sb.run(["--store", store, "session", "export", "--out", out]), 2, /already exists/);
  });

  test("bad lines get an error naming the line; the others are imported; exit 1", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const input = ndjson([
      row(1),
      "{not json",
      row(2, { roles: "admin" as unknown as string[] }),
      "",
      row(3),
      "[1, 2]",
      { ...row(4), sessionId: "camel" },
      row(5, { expires_at: "soon" as unknown as number }),
      row(6, { user_id: "" }),
      row(7),
    ]);
    const result = await sb.run(["--json", "--store", store, "--create", "session", "import"], { input });
    assertExit(result, 1);
    const summary = JSON.parse(result.stdout) as ImportSummary;
    assert.equal(summary.added, 3);
    assert.equal(summary.rejected, 6);
    assert.equal(summary.lines, 10);
    assert.deepEqual(summary.errors.map((error) => error.line), [2, 3, 6, 7, 8, 9]);
    assert.ok(summary.errors.every((error) => error.code === "ERR_INVALID_INPUT"), show(result));
    assert.match(summary.errors[0]!.message, /not JSON/);
    assert.match(summary.errors[1]!.message, /roles/);
    assert.match(summary.errors[3]!.message, /unknown field "sessionId"/);
    assert.match(result.stderr, /^line 2: not JSON/m);
    assert.deepEqual([...sessionRows(store).keys()].sort(), ["sess-1", "sess-3", "sess-7"]);

    const human = await sb.run(["--store", sb.path("other.db"), "--create", "session", "import"], { input });
    assertExit(human, 1);
    assert.match(human.stdout, /imported 3 sessions \(3 new, 0 updated, 0 already there\) from 10 lines/);
    assert.match(human.stdout, /6 lines were rejected/);
  });

  test("a batch is all or nothing; running the same import again resumes it", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const file = sb.path("sessions.ndjson");
    writeFileSync(file, ndjson(Array.from({ length: 25 }, (_, index) => row(index))));
    // Create the store, then make the store itself fail on one row of the third batch.
    assertExit(await sb.run(["--store", store, "--create", "session", "import", "--batch-size", "10"], { input: ndjson([row(100)]) }), 0);
    const db = new Database(store);
    db.exec("CREATE TRIGGER fail_on_23 BEFORE INSERT ON sessions WHEN NEW.session_id = 'sess-23' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;");
    db.close();

    const failed = await sb.run(["--store", store, "session", "import", file, "--batch-size", "10"]);
    assertCliError(failed, 3, /Lines 1-20 were imported .*run the same import again/);
    const ids = [...sessionRows(store).keys()];
    assert.equal(ids.length, 1 + 20, "the first two batches are committed, the third not at all");
    assert.ok(!ids.includes("sess-20") && !ids.includes("sess-24"), "no row of the failed batch");

    withDb(store, () => undefined);
    const fix = new Database(store);
    fix.exec("DROP TRIGGER fail_on_23");
    fix.close();
    const resumed = okJson<ImportSummary>(await sb.run(["--json", "--store", store, "session", "import", file, "--batch-size", "10"]));
    assert.equal(resumed.added, 5);
    assert.equal(resumed.unchanged, 20);
    assert.equal(resumed.batches, 3);
    assert.equal(sessionRows(store).size, 26);

    const audit = withDb(store, (read) =>
      read.prepare("SELECT detail FROM pywry_auth_audit WHERE action = 'store.import'").pluck().all() as string[],
    );
    assert.ok(audit.length >= 3, "each committed batch is audited");
    assert.ok(audit.every((detail) => !detail.includes("sess-")), "the audit log never holds session ids");
  });

  test("--dry-run counts and writes nothing; a missing file or bad --batch-size is a usage error", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const before = sessionRows(store);
    const dry = okJson<ImportSummary>(
      await sb.run(["--json", "--store", store, "session", "import", "--dry-run"], { input: ndjson([row(1), row(2)]) }),
    );
    assert.equal(dry.dry_run, true);
    assert.equal(dry.added, 2);
    assert.deepEqual(sessionRows(store), before);
    assertCliError(await sb.run(["--store", store, "session", "import", sb.path("missing.ndjson")]), 2, /no such file/);
    assertCliError(await sb.run(["--store", store, "session", "import", "--batch-size", "0"], { input: "" }), 2, /--batch-size/);
  });
});

describe("session purge in batches", () => {
  test("deletes exactly the expired sessions, lists them with --json, and shows no progress without a terminal", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const now = Date.now() / 1000;
    const rows = Array.from({ length: 60 }, (_, index) =>
      row(index, { expires_at: index % 4 === 0 ? now - 100 - index : index % 4 === 1 ? null : now + 3600 }),
    );
    assertExit(await sb.run(["--store", store, "--create", "session", "import"], { input: ndjson(rows) }), 0);
    const purged = await sb.run(["--json", "--store", store, "session", "purge", "--yes"]);
    const body = okJson<{ purged: number; sessions: Array<{ handle: string; user_id: string }> }>(purged);
    assert.equal(body.purged, 15);
    assert.equal(body.sessions.length, 15);
    assert.equal(purged.stderr, "", "progress only at a terminal");
    assert.equal(sessionRows(store).size, 45);
    assert.ok([...sessionRows(store).values()].every((session) => session.expires_at === null || session.expires_at > now));

    const human = await sb.run(["--store", store, "session", "purge", "--yes"]);
    assertExit(human, 0);
    assert.match(human.stdout, /no expired sessions/);
  });
});
