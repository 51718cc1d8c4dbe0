/**
 * Secret and token hygiene.
 *
 * The leak scan: a scripted session runs every command (successes, refusals and errors, on SQLite
 * and on Redis, with a file secret and with PYWRY_AUTH_SECRET plus previous secrets), then looks
 * for every secret, token and session id it used in every output of every run (except where a
 * command prints one by design: what it mints, or --reveal), in every row of every pywry-auth
 * table and Redis key, and in the text of errors the library throws. Any hit fails the test.
 * The same scanner also runs over the whole end-to-end suite's runs: see scan-transcript.ts.
 *
 * Also: --secret is refused without echoing the value; files holding credentials are created
 * owner-only, and pywry-auth warns when the secret file or the database is readable by others.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { generateSessionToken, verifyToken } from "../../src/auth.js";
import { createAuthConfig } from "../../src/core/config.js";
import { handleFor, sha256Hex } from "../../src/core/handles.js";
import { mintToken, validateToken } from "../../src/core/token.js";
import { resolveSession } from "../../src/http/resolve.js";
import { RedisSessionStore } from "../../src/store/redis/index.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";
import { assertExit, sandboxFor, show, type CliResult, type Sandbox } from "../helpers/cli.js";
import { startRedis, type RedisServer } from "../helpers/redis.js";
import { findInText, findLeaks, sensitiveValuesOf, type RecordedRun, type Sensitive } from "./leaks.js";

/** Records every run of a sandbox, with what the leak scanner needs. */
class Session {
  readonly runs: RecordedRun[] = [];
  constructor(
    readonly sb: Sandbox,
    readonly env: Record<string, string> = {},
  ) {}

  async run(args: string[], input?: string): Promise<CliResult> {
    const result = await this.sb.run(args, { env: this.env, input });
    const secretFiles = [this.sb.secretFile, this.env["PYWRY_AUTH_SECRET_FILE"] ?? ""]
      .filter((path) => path && existsSync(path))
      .map((path) => readFileSync(path, "utf8"));
    this.runs.push({ args, env: this.env, input: input ?? "", stdout: result.stdout, stderr: result.stderr, code: result.code, secretFiles });
    return result;
  }

  /** Runs that do not depend on each other, at once. */
  all(runs: Array<[string[], string?]>): Promise<CliResult[]> {
    return Promise.all(runs.map(([args, input]) => this.run(args, input)));
  }

  async ok(args: string[], input?: string): Promise<string> {
    const result = await this.run(args, input);
    assertExit(result, 0);
    return result.stdout.trim();
  }
}

/** Every row of every table, as text; pywry's session ids excepted (for a token's session, the id is the token). */
function storeText(path: string): Array<[string, string]> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    return tables.map((table) => {
      const rows = db.prepare(`SELECT * FROM "${table}"`).all() as Array<Record<string, unknown>>;
      const shown = table === "sessions" ? rows.map(({ session_id: _id, ...rest }) => rest) : rows;
      return [table, JSON.stringify(shown)];
    });
  } finally {
    db.close();
  }
}

function tamper(token: string): string {
  return `${token.slice(0, -1)}${token.endsWith("0") ? "1" : "0"}`;
}

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis?.stop());

describe("no secret, token or session id where it does not belong", () => {
  test("a scripted session of every command on SQLite, with a file secret", { timeout: 180_000 }, async (t) => {
    const sb = sandboxFor(t);
    const db = sb.path("store.db");
    const s = new Session(sb);
    await s.ok(["init", "--yes", "--store", db]);
    const t1 = await s.ok(["token", "create", "--user", "alice", "--roles", "editor", "--label", "laptop"]);
    const t2 = (JSON.parse(await s.ok(["--json", "token", "create", "--user", "bob", "--ttl", "1h"])) as { token: string }).token;
    const w1 = await s.ok(["widget-token", "chart-1"]);
    const s1 = await s.ok(["session", "create", "--user", "carol", "--roles", "viewer", "--metadata", "team=x"]);
    const s2 = (JSON.parse(await s.ok(["--json", "session", "create", "--user", "dave"])) as { session_id: string }).session_id;
    await s.ok(["--field", "token", "token", "create", "--user", "erin", "--no-session"]);
    const w1Accessor = handleFor(w1);

    await s.all([
      [["verify", "-"], `${t1}\n`],
      [["--json", "verify", "-"], `${t2}\n`],
      [["verify", "--user", "bob", "-"], `${t1}\n`],
      [["verify", "--widget", "chart-1", "-"], `${w1}\n`],
      [["verify", "-"], `${tamper(t1)}\n`],
      [["verify", t1]],
      [["verify", "--stdin"], [t1, t2, w1, tamper(t1), "junk", `${t1}:extra`].join("\n")],
      [["--json", "verify", "--stdin"], [t1, tamper(t2)].join("\n")],
      [["inspect", "-"], `${t1}\n`],
      [["--json", "inspect", "-"], `${t2}\n`],
    ]);
    await s.all([
      [["token", "list"]],
      [["--json", "token", "list", "--all"]],
      [["session", "list"]],
      [["--json", "session", "list", "--all"]],
      [["session", "show", handleFor(s1)]],
      [["session", "show", s1]],
      [["--json", "session", "show", s2]],
      [["can", "read", "--session", s1]],
      [["--json", "can", "write", "--token", "-"], `${t1}\n`],
      [["can", "--list", "--user", "alice"]],
      [["audit"]],
    ]);
    await s.ok(["session", "grant", s1, "widget:w1", "read,write"]);
    await s.ok(["session", "ungrant", handleFor(s1), "widget:w1", "write"]);
    await s.ok(["session", "refresh", s1, "--ttl", "2h"]);
    await s.ok(["roles", "grant", "editor", "publish"]);
    await s.ok(["roles", "revoke", "editor", "publish"]);
    await s.ok(["roles", "set", "--create", "analyst", "read"]);
    await s.ok(["roles", "delete", "analyst", "--yes"]);
    const t3 = await s.ok(["token", "renew", "-"], `${t2}\n`);
    await s.ok(["--json", "token", "renew", "--accessor", handleFor(t3)]);
    await s.ok(["revoke", "--reason", "leaked", "-"], `${t1}\n`);
    await s.ok(["revoke", "--accessor", w1Accessor]);
    await s.ok(["revoke", "--session", s1]);
    await s.ok(["revoke", "--user", "dave", "--yes", "--reason", "offboarded"]);
    await s.ok(["session", "delete", handleFor(s2)]).catch(() => undefined);

    // Failures that are handed a credential must not repeat it.
    const failures = await s.all([
      [["verify", "-"], `${t1}\n`],
      [["--json", "verify", "-"], `${t1}\n`],
      [["token", "renew", "-"], `${t1}\n`],
      [["revoke", "-"], `${t1.slice(0, 30)}\n`],
      [["verify", `${t2}${t2}`]],
      [["session", "show", `${s2}x`]],
      [["session", "delete", s2]],
      [["session", "grant", `${s1}x`, "widget:w", "read"]],
      [["can", "read", "--session", `${s2}y`]],
      [["can", "read", "--token", "-"], `${tamper(t1)}\n`],
      [[t2]],
      [["session", t1]],
      [["token", "list", "--kind", t2]],
      [["--json", s1]],
      [["revoke", t1, "--accessor", "0123456789abcdef"]],
      [["verify", "-"], `${"x".repeat(40_000)}${t1}\n`],
    ]);
    for (const failure of failures) assert.notEqual(failure.code, 0, show(failure));

    await s.ok(["session", "purge", "--dry-run"]);
    await s.ok(["session", "purge", "--yes"]);
    const exportFile = sb.path("sessions.ndjson");
    await s.ok(["session", "export", "--out", exportFile]);
    assert.equal(statSync(exportFile).mode & 0o777, 0o600, "the export holds session ids: owner-only");
    await s.ok(["--store", sb.path("imported.db"), "--create", "session", "import", exportFile]);
    await s.ok(["migrate", "--from", db, "--to", sb.path("migrated.db")]);
    await s.all([[["--json", "audit"]], [["doctor"]], [["--json", "config", "show"]]]);

    const sensitive = sensitiveValuesOf(s.runs);
    const mustFind = [t1, t2, t3, w1].map((token) => token.slice(-64));
    for (const signature of mustFind) assert.ok(sensitive.some((value) => value.value === signature), "the scanner missed a token");
    assert.ok(sensitive.some((value) => value.value === s1) && sensitive.some((value) => value.value === s2), "the scanner missed a session id");
    assert.ok(sensitive.some((value) => value.kind === "secret"), "the scanner missed the secret");
    const leaks = findLeaks(s.runs, sensitive);
    for (const path of [db, sb.path("imported.db"), sb.path("migrated.db")]) {
      for (const [table, text] of storeText(path)) leaks.push(...findInText(`${path} table ${table}`, text, sensitive));
    }
    leaks.push(...findInText("the config file", readFileSync(sb.path(".config", "pywry-auth", "config.json"), "utf8"), sensitive));
    t.diagnostic(`${s.runs.length} runs scanned for ${sensitive.length} sensitive values`);
    assert.deepEqual(leaks, []);
  });

  test("with PYWRY_AUTH_SECRET and previous secrets, on Redis: outputs, keys and values", { timeout: 120_000 }, async (t) => {
    const sb = sandboxFor(t);
    const prefix = "hygiene";
    const env = {
      PYWRY_AUTH_SECRET: "5f1c0e6a9b2d4c3e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e",
      PYWRY_AUTH_PREVIOUS_SECRETS: "old-secret-number-one-0001, old-secret-number-two-0002",
      PYWRY_AUTH_STORE: redis.url(),
      PYWRY_AUTH_REDIS_PREFIX: prefix,
    };
    const s = new Session(sb, env);
    const t1 = await s.ok(["token", "create", "--user", "alice", "--roles", "admin"]);
    const old = mintToken({ subject: "alice", secret: "old-secret-number-two-0002", now: Date.now() / 1000, expiresAt: Date.now() / 1000 + 600 }).token;
    const s1 = await s.ok(["session", "create", "--user", "bob"]);
    const w1 = await s.ok(["widget-token", "w-1"]);
    await s.all([
      [["verify", "-"], `${t1}\n`],
      [["--json", "verify", "-"], `${old}\n`],
      [["verify", "-"], `${tamper(old)}\n`],
      [["--json", "inspect", "-"], `${old}\n`],
      [["can", "admin", "--token", "-"], `${t1}\n`],
      [["session", "show", s1]],
      [["--json", "doctor"]],
      [["config", "show"]],
    ]);
    await s.ok(["revoke", "-"], `${t1}\n`);
    await s.ok(["revoke", "--session", s1]);
    await s.ok(["revoke", "--user", "alice", "--yes"]);
    await s.all([[["verify", "-"], `${t1}\n`], [["session", "show", s1]], [["--json", "audit"]], [["verify", "--widget", "w-2", "-"], `${w1}\n`]]);

    const sensitive = sensitiveValuesOf(s.runs);
    assert.equal(sensitive.filter((value) => value.kind === "secret").length, 3, "the current and both previous secrets");
    const leaks = findLeaks(s.runs, sensitive);
    // pywry's own keys hold session ids by design ({prefix}:session:<id>, the user sets); nothing else may.
    const raw = redis.raw();
    for (const key of await raw.keys(`${prefix}:*`)) {
      if (key.startsWith(`${prefix}:session:`) || /:user:[^:]+:sessions$/.test(key)) continue;
      leaks.push(...findInText(`Redis key name ${key}`, key, sensitive));
      const type = await raw.type(key);
      const value =
        type === "hash" ? await raw.hgetall(key) : type === "set" ? await raw.smembers(key) : type === "zset" ? await raw.zrange(key, 0, -1) : type === "stream" ? await raw.xrange(key, "-", "+") : await raw.get(key);
      leaks.push(...findInText(`Redis ${type} ${key}`, JSON.stringify(value), sensitive));
    }
    t.diagnostic(`${s.runs.length} runs scanned for ${sensitive.length} sensitive values`);
    assert.deepEqual(leaks, []);
  });

  test("errors the library throws and returns carry no token, session id or secret", async (t) => {
    const sb = sandboxFor(t);
    const secret = "library-secret-0123456789abcdef0123";
    const now = Date.now() / 1000;
    const token = generateSessionToken("alice", secret, now + 600, { now: () => now });
    const sensitive: Sensitive[] = [
      { kind: "secret", value: secret },
      { kind: "token signature", value: token.slice(-64) },
    ];
    const texts: Array<[string, string]> = [];
    const collect = async (what: string, work: () => unknown) => {
      try {
        const value = await work();
        texts.push([what, JSON.stringify(value) ?? ""]);
      } catch (error) {
        texts.push([what, `${(error as Error).message}\n${(error as Error).stack ?? ""}\n${String((error as { cause?: unknown }).cause ?? "")}`]);
      }
    };
    for (const bad of [tamper(token), `${token}x`, `${token}:${token}`, token.toUpperCase(), ` ${token}`]) {
      await collect("validateToken", () => validateToken(bad, [secret], now));
      await collect("verifyToken", () => verifyToken(bad, { secrets: [secret], now: () => now }));
    }
    await collect("validateToken, expired", () => validateToken(token, [secret], now + 10_000));
    await collect("mintToken with a bad subject", () => mintToken({ subject: `${token}:x`, secret, now }));

    const store = SqliteSessionStore.open(sb.path("lib.db"));
    await store.createSession(token, "alice", ["admin"], 600);
    const record = { accessor: handleFor(token), tokenHash: sha256Hex(token), kind: "session" as const, subject: "alice", issuedAt: Math.trunc(now), expiresAt: Math.trunc(now) + 600, label: null, roles: null, createdAt: now, revokedAt: null };
    await store.recordIssuedToken(record);
    await collect("recordIssuedToken twice", () => store.recordIssuedToken(record));
    await collect("createSession with a bad metadata", () => store.createSession(token, "alice", ["x"], 60, { loop: 1n } as never));
    await store.close();
    await collect("getSession on a closed store", () => store.getSession(token));
    await collect("deleteSession on a closed store", () => store.deleteSession(token));

    const redisStore = await RedisSessionStore.connect(redis.url(), { prefix: "lib" });
    await redisStore.createSession(token, "alice", ["admin"], 600);
    await redisStore.close();
    await collect("Redis getSession after close", () => redisStore.getSession(token));
    await collect("Redis connect with a secret in the password", () => RedisSessionStore.connect(`redis://:${secret}@127.0.0.1:1/0`));

    const broken = {
      getSession: async () => Promise.reject(new Error("boom")),
      listUserSessions: async () => [],
      tokenRevocationStatus: async () => null,
      bearerLookup: async () => Promise.reject(new Error("boom")),
      bearerLookupSync: () => undefined,
    };
    await collect("resolveSession with a failing store", () =>
      resolveSession({ headers: { cookie: `pywry_session=${token}`, authorization: `Bearer ${token}` } }, { store: broken, config: createAuthConfig({ tokenSecret: secret }) }),
    );

    const leaks = texts.flatMap(([what, text]) => findInText(what, text, sensitive));
    assert.deepEqual(leaks, []);
    assert.ok(texts.length >= 15);
  });
});

describe("--secret on the command line", () => {
  test("is refused in every spelling and position, the value never echoed, nothing created", async (t) => {
    const sb = sandboxFor(t);
    const value = "hunter2-hunter2-hunter2";
    const s = new Session(sb);
    const runs = await s.all([
      [["--secret", value, "token", "create", "--user", "alice"]],
      [["--secret=" + value, "token", "list"]],
      [["token", "create", "--user", "alice", `--secret=${value}`]],
      [["--json", "verify", "--secret", value, "-"], "x:1:0:ab\n"],
      [["--secrets=" + value, "token", "list"]],
      [["--Secret=" + value, "token", "list"]],
      [["--json", `--token-secret=${value}`, "token", "list"]],
    ]);
    for (const result of runs) {
      assertExit(result, 2);
      assert.equal(`${result.stdout}${result.stderr}`.includes(value), false, `the value was echoed\n${show(result)}`);
    }
    for (const result of runs.slice(0, 4)) assert.match(`${result.stdout}${result.stderr}`, /--secret-file.*PYWRY_AUTH_SECRET/);
    assert.deepEqual(readdirSync(sb.home), [], "nothing (no secret, no store) was created");
  });
});

describe("files holding credentials", () => {
  test("the secret file, its directory, the database (and its WAL files), the config and an export are owner-only", async (t) => {
    const sb = sandboxFor(t);
    const db = sb.path("data", "pywry.db");
    const s = new Session(sb);
    await s.ok(["init", "--yes", "--store", db]);
    await s.ok(["token", "create", "--user", "alice"]);
    const probe = new Database(db);
    probe.prepare("SELECT COUNT(*) FROM sessions").get();
    for (const path of [sb.secretFile, db, `${db}-wal`, `${db}-shm`, sb.path(".config", "pywry-auth", "config.json")]) {
      if (!existsSync(path)) continue;
      assert.equal(statSync(path).mode & 0o077, 0, `${path} is mode ${(statSync(path).mode & 0o777).toString(8)}`);
    }
    probe.close();
    for (const dir of [sb.path(".config", "pywry-auth"), sb.path("data")]) assert.equal(statSync(dir).mode & 0o777, 0o700, dir);
    await s.ok(["secret", "generate", "--out", sb.path("next.secret")]);
    assert.equal(statSync(sb.path("next.secret")).mode & 0o777, 0o600);
  });

  test("pywry-auth warns when the secret file or the database can be read by others", async (t) => {
    const sb = sandboxFor(t);
    const db = sb.path("pywry.db");
    const s = new Session(sb);
    await s.ok(["--store", db, "--create", "token", "create", "--user", "alice"]);
    const quiet = await s.run(["--store", db, "token", "create", "--user", "bob"]);
    assert.equal(quiet.stderr, "", "no warning while both are private");

    chmodSync(sb.secretFile, 0o644);
    const secretShared = await s.run(["--store", db, "--json", "token", "list"]);
    assert.equal(secretShared.stderr, "", "commands that need no secret do not read it");
    const minting = await s.run(["--store", db, "token", "create", "--user", "dave"]);
    assertExit(minting, 0);
    assert.match(minting.stderr, /secret file .* is readable by other users \(mode 0644\); run: chmod 600/);
    assertExit(secretShared, 0);
    chmodSync(sb.secretFile, 0o600);

    chmodSync(db, 0o644);
    const dbShared = await s.run(["--store", db, "token", "create", "--user", "carol"]);
    assertExit(dbShared, 0);
    assert.match(dbShared.stderr, /session store .*pywry\.db is readable by other users \(mode 0644\) and holds live session ids; run: chmod 600/);
    assert.equal(dbShared.stderr.trim().split("\n").length, 1, "said once");
    assert.equal(dbShared.stdout.trim().split(":").length, 4, "stdout still holds only the token");
    const doctor = await s.run(["--store", db, "doctor"]);
    assert.match(doctor.stdout, /readable by other users/);
  });
});
