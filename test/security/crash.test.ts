/**
 * Crash safety: `session import`, `session purge` and `migrate` are killed with SIGKILL at random
 * (seeded, reported) moments. Afterwards the database passes `PRAGMA integrity_check`, every batch
 * is all or nothing (what was written matches the audit entries written with it), and running the
 * same command again finishes the job with the same end state as an uninterrupted run.
 *
 * Default: 3 kill points per command. PYWRY_AUTH_HEAVY=1: 15 per command and bigger data.
 * PYWRY_AUTH_SEED=<n> replays the kill points of a failed run.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test, type TestContext } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";
import { assertExit, show, type CliResult } from "../helpers/cli.js";
import { binPath } from "../helpers/paths.js";
import { HEAVY, SEED, replayHint, seededRandom } from "./common.js";

const SECRET = "crash-test-secret-0123456789abcdef";
const TRIALS = HEAVY ? 15 : 3;
const IMPORT_LINES = HEAVY ? 60_000 : 20_000;
const IMPORT_BATCH = 1000;
/** purgeExpiredInBatches deletes 100 000 rows per transaction: enough expired rows for several. */
const PURGE_BATCH = 100_000;
const EXPIRED = HEAVY ? 500_000 : 250_000;
const LIVE = 500;
const MIGRATE_SESSIONS = HEAVY ? 40_000 : 15_000;
const NOW = Math.floor(Date.now() / 1000);

const work = mkdtempSync(join(tmpdir(), "pywry-auth-crash-"));
after(() => rmSync(work, { recursive: true, force: true }));
const random = seededRandom(SEED);

interface Run extends CliResult {
  ms: number;
  killedAt: number | null;
}

/** Runs the CLI; with `killAfterMs`, SIGKILLs it then (if it is still running). */
function runCli(args: readonly string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: work,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: work, PYWRY_AUTH_SECRET: SECRET },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let killedAt: number | null = null;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer =
      killAfterMs === undefined
        ? setTimeout(() => child.kill("SIGKILL"), 120_000)
        : setTimeout(() => {
            killedAt = Date.now() - started;
            child.kill("SIGKILL");
          }, killAfterMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, killedAt: signal === "SIGKILL" ? killedAt : null });
    });
  });
}

function integrity(path: string): string {
  const db = new Database(path);
  try {
    return db.pragma("integrity_check", { simple: true }) as string;
  } finally {
    db.close();
  }
}

function query<T>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

function count(path: string, sql: string, ...params: unknown[]): number {
  return Object.values(query<Record<string, number>>(path, sql, ...params)[0] ?? { n: 0 })[0] ?? 0;
}

/** A fresh pywry-auth store holding `rows` inserted in one transaction. */
function makeStore(path: string, fill: (db: Database.Database) => void): void {
  SqliteSessionStore.open(path).close();
  const db = new Database(path);
  db.transaction(() => fill(db))();
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

const INSERT_SESSION = "INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, ?, ?, ?, ?, ?)";

/** How long a command that does nothing much takes: Node's start-up, loading, opening the store. */
let startupMs: number | null = null;
async function startup(): Promise<number> {
  if (startupMs === null) {
    const empty = join(work, "startup.db");
    makeStore(empty, () => undefined);
    const runs = [await runCli(["--store", empty, "roles", "list"]), await runCli(["--store", empty, "roles", "list"])];
    startupMs = Math.min(...runs.map((run) => run.ms));
  }
  return startupMs;
}

/** A kill point: uniformly over the part of the run that does the work (after start-up). */
function killPoint(referenceMs: number, startMs: number): number {
  const from = Math.min(startMs * 0.8, referenceMs / 2);
  return Math.round(from + random() * (referenceMs * 1.05 - from));
}

/**
 * Kills `command` at random points on fresh copies of `pristine`, checks each crashed copy with
 * `checkCrashed`, re-runs the command, and compares with the uninterrupted reference.
 */
async function crashTrials(
  t: TestContext,
  name: string,
  prepare: (copy: string) => string[],
  /** Checks a crashed copy; returns how far it got (0 to 1). */
  checkCrashed: (copy: string, run: Run) => number,
  endState: (copy: string) => unknown,
): Promise<void> {
  t.diagnostic(`${name}: ${TRIALS} kill points, ${replayHint()}`);
  const reference = join(work, `${name}-reference.db`);
  const referenceArgs = prepare(reference);
  const uninterrupted = await runCli(referenceArgs);
  assertExit(uninterrupted, 0);
  const expected = endState(reference);
  const startMs = await startup();
  let crashedMidway = 0;
  for (let trial = 0; trial < TRIALS; trial += 1) {
    const copy = join(work, `${name}-${trial}.db`);
    const args = prepare(copy);
    const delay = killPoint(uninterrupted.ms, startMs);
    const killed = await runCli(args, delay);
    const where = `${name} trial ${trial}: killed at ${delay} ms of ${uninterrupted.ms} (${replayHint()})`;
    if (killed.signal !== "SIGKILL") assertExit(killed, 0);
    let progress = 0;
    if (existsSync(copy)) {
      assert.equal(integrity(copy), "ok", `${where}: integrity_check`);
      progress = checkCrashed(copy, killed);
    }
    if (progress > 0 && progress < 1) crashedMidway += 1;
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, `${where}: the re-run failed\n${show(rerun)}`);
    assert.equal(integrity(copy), "ok", `${where}: integrity_check after the re-run`);
    assert.deepEqual(endState(copy), expected, `${where}: the re-run did not reach the uninterrupted end state`);
    t.diagnostic(`${where}: ${killed.signal === "SIGKILL" ? `killed with ${Math.round(progress * 100)}% done` : "had finished"}; re-run ok`);
  }
  t.diagnostic(`${name}: ${crashedMidway} of ${TRIALS} runs were killed part-way through the work (start-up ${startMs} ms, whole run ${uninterrupted.ms} ms)`);
}

describe("crash safety: SIGKILL at random points", { timeout: HEAVY ? 1_800_000 : 180_000 }, () => {
  test("session import: batches are all or nothing; importing again completes it", async (t) => {
    const file = join(work, "sessions.ndjson");
    let text = "";
    for (let i = 0; i < IMPORT_LINES; i += 1) {
      text += `${JSON.stringify({ session_id: `imp-${i}`, user_id: `user-${i % 97}`, roles: ["viewer"], created_at: NOW, expires_at: NOW + 86_400 + i, metadata: { n: i } })}\n`;
    }
    writeFileSync(file, text, { mode: 0o600 });
    await crashTrials(
      t,
      "import",
      (copy) => {
        rmSync(copy, { force: true });
        makeStore(copy, () => undefined);
        return ["--store", copy, "session", "import", "--batch-size", String(IMPORT_BATCH), file];
      },
      (copy) => {
        const imported = count(copy, "SELECT COUNT(*) AS n FROM sessions");
        assert.equal(imported % IMPORT_BATCH, 0, `${imported} sessions: a batch was written in part`);
        const audited = query<{ detail: string }>(copy, "SELECT detail FROM pywry_auth_audit WHERE action = 'store.import'");
        const total = audited.reduce((sum, row) => sum + ((JSON.parse(row.detail) as { sessions?: { added: number } }).sessions?.added ?? 0), 0);
        assert.equal(total, imported, "the audit entries do not match what was written");
        assert.equal(audited.length, imported / IMPORT_BATCH, "one audit entry per committed batch");
        // Batches are committed in file order: exactly the first lines are there.
        assert.equal(count(copy, "SELECT COUNT(*) AS n FROM sessions WHERE CAST(substr(session_id, 5) AS INTEGER) >= ?", imported), 0);
        return imported / IMPORT_LINES;
      },
      (copy) => ({
        sessions: count(copy, "SELECT COUNT(*) AS n FROM sessions"),
        checksum: query(copy, "SELECT SUM(length(session_id) + length(metadata) + expires_at) AS s FROM sessions")[0],
      }),
    );
  });

  test("session purge: each batch is deleted and audited together; purging again completes it; live sessions survive", async (t) => {
    const pristinePurge = join(work, "purge-pristine.db");
    makeStore(pristinePurge, (db) => {
      const insert = db.prepare(INSERT_SESSION);
      for (let i = 0; i < EXPIRED + LIVE; i += 1) {
        // Live sessions scattered among the expired ones.
        const live = i % Math.floor((EXPIRED + LIVE) / LIVE) === 0;
        insert.run(`s-${i}`, `user-${i % 50}`, '["viewer"]', NOW - 90_000, live ? NOW + 86_400 : NOW - 3600 - i, "{}");
      }
    });
    await crashTrials(
      t,
      "purge",
      (copy) => {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${copy}${suffix}`, { force: true });
        copyFileSync(pristinePurge, copy);
        return ["--store", copy, "session", "purge", "--yes"];
      },
      (copy) => {
        const remaining = count(copy, "SELECT COUNT(*) AS n FROM sessions");
        const live = count(copy, "SELECT COUNT(*) AS n FROM sessions WHERE expires_at > ?", NOW);
        assert.equal(live, LIVE, "a live session was deleted");
        const deleted = EXPIRED + LIVE - remaining;
        const audited = query<{ detail: string }>(copy, "SELECT detail FROM pywry_auth_audit WHERE action = 'session.purge'");
        const total = audited.reduce((sum, row) => sum + (JSON.parse(row.detail) as { count: number }).count, 0);
        assert.equal(total, deleted, "deleted rows and the purge's audit entries disagree");
        assert.ok(deleted === EXPIRED || deleted % PURGE_BATCH === 0, `${deleted} deleted: a batch was applied in part`);
        return deleted / EXPIRED;
      },
      (copy) => ({
        sessions: count(copy, "SELECT COUNT(*) AS n FROM sessions"),
        live: count(copy, "SELECT COUNT(*) AS n FROM sessions WHERE expires_at > ?", NOW),
        purgedAudited: query<{ detail: string }>(copy, "SELECT detail FROM pywry_auth_audit WHERE action = 'session.purge'").reduce(
          (sum, row) => sum + (JSON.parse(row.detail) as { count: number }).count,
          0,
        ),
      }),
    );
  });

  test("migrate into a new SQLite file: all or nothing; migrating again completes it", async (t) => {
    const source = join(work, "migrate-source.db");
    makeStore(source, (db) => {
      const insert = db.prepare(INSERT_SESSION);
      for (let i = 0; i < MIGRATE_SESSIONS; i += 1) insert.run(`m-${i}`, `user-${i % 211}`, '["editor"]', NOW, NOW + 86_400, `{"i": ${i}}`);
      db.prepare("INSERT OR REPLACE INTO role_permissions (role, permissions) VALUES ('analyst', '[\"read\", \"export\"]')").run();
    });
    await crashTrials(
      t,
      "migrate",
      (copy) => {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${copy}${suffix}`, { force: true });
        return ["migrate", "--yes", "--from", source, "--to", copy];
      },
      (copy) => {
        const sessions = count(copy, "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'sessions'") === 0 ? 0 : count(copy, "SELECT COUNT(*) AS n FROM sessions");
        assert.ok(sessions === 0 || sessions === MIGRATE_SESSIONS, `${sessions} of ${MIGRATE_SESSIONS} sessions: the copy was applied in part`);
        if (sessions > 0) {
          assert.equal(count(copy, "SELECT COUNT(*) AS n FROM pywry_auth_audit WHERE action = 'store.import'"), 1);
          assert.deepEqual(query(copy, "SELECT permissions FROM role_permissions WHERE role = 'analyst'"), [{ permissions: '["read", "export"]' }]);
        }
        // All or nothing: "part-way" here means the target file and schema exist but no records yet.
        return sessions > 0 ? 1 : count(copy, "SELECT COUNT(*) AS n FROM sqlite_master") > 0 ? 0.5 : 0;
      },
      (copy) => ({
        sessions: count(copy, "SELECT COUNT(*) AS n FROM sessions"),
        roles: query(copy, "SELECT role, permissions FROM role_permissions ORDER BY role"),
        imports: count(copy, "SELECT COUNT(*) AS n FROM pywry_auth_audit WHERE action = 'store.import'"),
      }),
    );
  });
});
