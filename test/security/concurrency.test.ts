/**
 * Concurrency: several pywry-auth clients and a writer in pywry's own format on one store at once.
 * Nothing may reach the user as "database is locked" (SQLITE_BUSY) or a lost race; every committed
 * change and its audit entry must be there, and the counts must be exact.
 *
 * Design (2 cores; a Node start-up costs ~200 ms): the default variant runs 4 worker processes that
 * each perform 300 operations (create a token, revoke one, grant a permission on one shared role)
 * through the CLI's own `run(argv)` in-process, one store open/transaction/close per operation as
 * a real `pywry-auth` process does, plus a few real `bin/pywry-auth` processes in parallel and a
 * writer inserting pywry-format sessions (Python's sqlite3, as pywry; raw pywry keys on Redis).
 * PYWRY_AUTH_HEAVY=1 runs every operation as its own `bin/pywry-auth` process: 4 x 300 spawns per
 * store (several minutes).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { Redis } from "ioredis";
import { RedisSessionStore } from "../../src/store/redis/index.js";
import type { AuthStore } from "../../src/store/types.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";
import { binPath, projectRoot } from "../helpers/paths.js";
import { startRedis, type RedisServer } from "../helpers/redis.js";
import { HEAVY } from "./common.js";
import type { WorkerConfig, WorkerReport } from "./drivers/cli-worker.js";

const SECRET = "concurrency-test-secret-0123456789abcdef";
const WORKERS = 4;
const OPS = 300;
/** Redis operations cost more CPU per call (a connection each); the default variant does a third as many there. */
const REDIS_OPS = HEAVY ? OPS : 100;
/** Real CLI processes alongside the in-process workers in the default variant. */
const SPAWNED_WORKERS = 2;
const SPAWNED_OPS = 6;
const PYWRY_WRITES = 300;
const workerScript = join(projectRoot, ".build-test", "test", "security", "drivers", "cli-worker.js");
/**
 * The heavy variant's processes run the CLI compiled with the tests (see drivers/cli-bin.ts): a
 * rebuild of dist/ during its minutes must not fail operations. The default variant's few real
 * processes run bin/pywry-auth itself.
 */
const heavyBin = join(projectRoot, ".build-test", "test", "security", "drivers", "cli-bin.js");

/**
 * The default variant works on tmpfs when there is one: what is tested is locking and atomicity,
 * not the disk's fsync latency (which turns 1200 commits into a minute on a slow CI disk). The
 * heavy variant uses the ordinary temporary directory.
 */
const scratch = !HEAVY && existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
const home = mkdtempSync(join(scratch, "pywry-auth-concurrency-"));
after(() => rmSync(home, { recursive: true, force: true }));

function runWorker(config: Omit<WorkerConfig, "report" | "binPath">): Promise<WorkerReport> {
  const report = join(home, `report-${config.id}-${Math.random().toString(36).slice(2)}.json`);
  const full: WorkerConfig = { ...config, report, binPath: HEAVY ? heavyBin : binPath };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [workerScript, JSON.stringify(full)], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home, PYWRY_AUTH_SECRET: SECRET },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`worker ${config.id} exited ${code}: ${stderr}`));
      else resolve(JSON.parse(readFileSync(report, "utf8")) as WorkerReport);
    });
  });
}

/** pywry's SqliteSessionStore writing sessions: Python's sqlite3 (5 s default timeout), WAL, one commit per row. */
const PYWRY_SQLITE_WRITER = `
import json, sqlite3, sys, time
path, count = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(path)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA foreign_keys=ON")
errors = []
written = 0
for i in range(count):
    now = time.time()
    try:
        conn.execute(
            "INSERT OR REPLACE INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, ?, ?, ?, ?, ?)",
            (f"py-{i}", f"py-user-{i % 10}", json.dumps(["editor"]), now, now + 3600, json.dumps({"n": i})),
        )
        conn.commit()
        written += 1
        conn.execute("SELECT * FROM sessions WHERE session_id = ?", (f"py-{i // 2}",)).fetchone()
        conn.execute("SELECT permissions FROM role_permissions WHERE role = 'viewer'").fetchone()
    except sqlite3.Error as exc:
        conn.rollback()
        errors.append(str(exc))
print(json.dumps({"written": written, "errors": errors}))
`;

function runPython(script: string, args: string[]): Promise<{ written: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-c", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`python writer exited ${code}: ${stderr}`))));
  });
}

/** pywry's RedisSessionStore.create_session, command for command, from another client. */
async function pywryRedisWriter(url: string, prefix: string, count: number): Promise<{ written: number; errors: string[] }> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  const errors: string[] = [];
  let written = 0;
  try {
    for (let i = 0; i < count; i += 1) {
      const now = Date.now() / 1000;
      const key = `${prefix}:session:py-${i}`;
      try {
        await client
          .multi()
          .hset(key, {
            user_id: `py-user-${i % 10}`,
            roles: '["editor"]',
            created_at: String(now),
            expires_at: String(now + 3600),
            ttl: "3600",
            metadata: `{"n": ${i}}`,
          })
          .expire(key, 3600)
          .sadd(`${prefix}:user:py-user-${i % 10}:sessions`, `py-${i}`)
          .exec();
        written += 1;
        await client.hgetall(`${prefix}:session:py-${Math.floor(i / 2)}`);
      } catch (error) {
        errors.push(String(error));
      }
    }
  } finally {
    client.disconnect();
  }
  return { written, errors };
}

interface Outcome {
  reports: WorkerReport[];
  pywry: { written: number; errors: string[] };
}

/** Runs every worker and the pywry writer at once against one store. */
async function hammer(ops: number, globals: string[], pywryWriter: () => Promise<{ written: number; errors: string[] }>): Promise<Outcome> {
  const workers: Array<Promise<WorkerReport>> = [];
  for (let id = 0; id < WORKERS; id += 1) {
    workers.push(runWorker({ id, ops, mode: HEAVY ? "spawn" : "inprocess", globals, sharedAt: [0, Math.floor(ops / 6) * 3] }));
  }
  if (!HEAVY) {
    for (let id = WORKERS; id < WORKERS + SPAWNED_WORKERS; id += 1) {
      workers.push(runWorker({ id, ops: SPAWNED_OPS, mode: "spawn", globals, sharedAt: [0] }));
    }
  }
  const [pywry, ...reports] = await Promise.all([pywryWriter(), ...workers]);
  return { reports, pywry: pywry! };
}

const BUSY = /locked|busy|SQLITE_|WATCH|retr(y|ies)/i;

/** Checks the workers' own view: every operation succeeded, nothing mentioned a busy store. */
function assertAllSucceeded(outcome: Outcome): void {
  for (const report of outcome.reports) {
    const failures = report.failures.map((f) => `op ${f.op} ${f.args.join(" ")}: exit ${f.code}\n${f.stdout}${f.stderr}`);
    assert.deepEqual(failures, [], `worker ${report.id} had failures`);
    const busy = report.stderr.filter((text) => BUSY.test(text));
    assert.deepEqual(busy, [], `worker ${report.id} showed the user a busy store`);
  }
  assert.deepEqual(outcome.pywry.errors, [], "the pywry writer was refused");
  assert.equal(outcome.pywry.written, PYWRY_WRITES);
}

/** Checks the store: every committed change is there, with its audit entry, and the counts are exact. */
async function assertStoreMatches(store: AuthStore, outcome: Outcome): Promise<void> {
  const created = outcome.reports.flatMap((report) => report.created);
  const revoked = new Set(outcome.reports.flatMap((report) => report.revoked));
  const granted = outcome.reports.flatMap((report) => report.granted);
  assert.equal(new Set(created.map((c) => c.accessor)).size, created.length, "two creations reported the same token");
  assert.equal(created.filter((c) => c.user === "shared").length, WORKERS * 2 + (HEAVY ? 0 : SPAWNED_WORKERS));

  const tokens = await store.listTokens({ all: true });
  assert.equal(tokens.length, created.length, "registry entries");
  const byAccessor = new Map(tokens.map((record) => [record.accessor, record]));
  for (const { accessor, user } of created) {
    const record = byAccessor.get(accessor);
    assert.ok(record, `token ${accessor} of ${user} is missing from the registry`);
    assert.equal(record.subject, user);
    assert.equal(record.revokedAt !== null, revoked.has(accessor), `registry entry ${accessor}: revoked_at`);
  }
  assert.equal((await store.listRevocations()).length, revoked.size, "revocations");

  const sessions = await store.listSessions({ includeExpired: true });
  const sessionIds = new Set(sessions.map((session) => session.sessionId));
  for (const { accessor, token } of created) {
    assert.equal(sessionIds.has(token), !revoked.has(accessor), `session of token ${accessor}`);
  }
  for (let i = 0; i < PYWRY_WRITES; i += 1) assert.ok(sessionIds.has(`py-${i}`), `pywry's session py-${i} is missing`);
  assert.equal(sessions.length, created.length - revoked.size + PYWRY_WRITES, "session count");

  const permissions = new Set(await store.getRolePermissions("shared-role"));
  const lost = granted.filter((permission) => !permissions.has(permission));
  assert.equal(lost.length, 0, `${lost.length} of ${granted.length} grants on one role were lost (e.g. ${lost.slice(0, 3).join(", ")})`);
  assert.equal(permissions.size, granted.length, "the shared role holds permissions nobody granted");

  const audit = await store.listAudit();
  const count = (action: string) => audit.filter((entry) => entry.action === action).length;
  assert.equal(count("token.mint"), created.length, "token.mint audit entries");
  assert.equal(count("token.revoke"), revoked.size, "token.revoke audit entries");
  assert.equal(count("role.set"), granted.length, "role.set audit entries");
  const targets = new Set(audit.filter((entry) => entry.action === "token.mint").map((entry) => entry.target));
  for (const { accessor } of created) assert.ok(targets.has(accessor), `no audit entry for token ${accessor}`);
  for (const entry of audit.filter((e) => e.action === "token.revoke")) assert.ok(revoked.has(entry.target ?? ""), "an audit entry for a revocation nobody made");
}

describe("concurrent clients on one SQLite file", { timeout: HEAVY ? 1_800_000 : 120_000 }, () => {
  test(`${WORKERS} clients x ${OPS} operations (${HEAVY ? "each its own CLI process" : `in-process CLI; plus ${SPAWNED_WORKERS} x ${SPAWNED_OPS} real processes`}) and pywry's writer`, async (t) => {
    const path = join(home, "shared.db");
    // The file exists with pywry-auth's schema before the race starts, as it would in production.
    (await SqliteSessionStore.open(path)).close();
    const started = Date.now();
    const outcome = await hammer(OPS, ["--store", path], () => runPython(PYWRY_SQLITE_WRITER, [path, String(PYWRY_WRITES)]));
    t.diagnostic(`took ${Date.now() - started} ms`);
    assertAllSucceeded(outcome);
    const db = new Database(path, { readonly: true });
    try {
      assert.deepEqual(db.pragma("integrity_check", { simple: true }), "ok");
    } finally {
      db.close();
    }
    const store = SqliteSessionStore.open(path, { mode: "read" });
    try {
      await assertStoreMatches(store, outcome);
    } finally {
      await store.close();
    }
  });
});

describe("concurrent clients on one Redis", { timeout: HEAVY ? 1_800_000 : 120_000 }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  test(`${WORKERS} clients x ${REDIS_OPS} operations and pywry's writer, on one prefix`, async (t) => {
    const prefix = "conc";
    const url = redis.url();
    // pywry-auth's keys exist before the race, as the SQLite file does above.
    await (await RedisSessionStore.connect(url, { prefix })).close();
    const started = Date.now();
    const outcome = await hammer(REDIS_OPS, ["--store", url, "--redis-prefix", prefix], () => pywryRedisWriter(url, prefix, PYWRY_WRITES));
    t.diagnostic(`took ${Date.now() - started} ms`);
    assertAllSucceeded(outcome);
    const store = await RedisSessionStore.connect(url, { prefix, mode: "read" });
    try {
      await assertStoreMatches(store, outcome);
    } finally {
      await store.close();
    }
  });
});
