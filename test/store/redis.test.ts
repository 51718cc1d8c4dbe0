import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { Redis } from "ioredis";
import { generateSessionToken } from "../../src/auth.js";
import { createAuthConfig } from "../../src/core/config.js";
import { handleFor, sha256Hex } from "../../src/core/handles.js";
import type { UserSession } from "../../src/core/session.js";
import type { TokenRecord } from "../../src/store/types.js";
import { resolveSession } from "../../src/http/resolve.js";
import { DEFAULT_ROLE_PERMISSIONS } from "../../src/core/rbac.js";
import { MemorySessionStore } from "../../src/store/memory.js";
import { parseRedisUrl, redactUrl } from "../../src/store/redis/url.js";
import { REVOCATION_GRACE_SECONDS, RedisSessionStore, pythonFloat } from "../../src/store/redis/index.js";
import { startRedis, writePywrySession, type RedisServer } from "../helpers/redis.js";
import { describeSessionStore, tokenRecord } from "../../src/testing/store-suite.js";

const server: Promise<RedisServer> = startRedis();
let raw: Redis;
before(async () => {
  raw = (await server).raw();
});
after(async () => (await server).stop());

let counter = 0;
function freshPrefix(): string {
  counter += 1;
  return `t${process.pid}-${counter}`;
}

/** pywry's Redis store starts with no role table; the shared suite expects pywry's defaults, written as `roles seed` does. */
async function seedDefaults(prefix: string): Promise<void> {
  for (const [role, permissions] of Object.entries(DEFAULT_ROLE_PERMISSIONS)) {
    await raw.hset(`${prefix}:role_permissions`, role, JSON.stringify(permissions).replace(/","/g, '", "'));
  }
}

describeSessionStore("RedisSessionStore", async (clock) => {
  // Each contract test gets the server to itself: keys earlier tests left with a real EXPIRE would
  // otherwise expire mid-walk, and SCAN's batches (hence the order a resumed walk lists rows in)
  // shift when the key table changes under them.
  await raw.flushdb();
  const prefix = freshPrefix();
  await seedDefaults(prefix);
  return RedisSessionStore.connect((await server).url(), { prefix, now: () => clock.now });
});

const NOW = 1_795_789_328.0072298;

/** What pywry's RedisSessionStore.create_session sends, command for command. */
function pywryCreateSession(prefix: string, id: string, user: string, roles: string[], ttl: number, metadata: object, now = NOW): Promise<void> {
  return writePywrySession(raw, { prefix, id, user, roles, ttl, metadata, now });
}

async function connect(options: { prefix?: string; mode?: "read" | "write"; now?: () => number } = {}): Promise<RedisSessionStore> {
  return RedisSessionStore.connect((await server).url(), { prefix: options.prefix ?? freshPrefix(), ...options });
}

describe("RedisSessionStore reads what pywry writes", () => {
  test("sessions, the user set and role permissions in pywry's layout", async () => {
    const prefix = freshPrefix();
    await pywryCreateSession(prefix, "sess-a", "alice", ["editor"], 86400, { permissions: { "widget:w1": ["read"] } });
    await pywryCreateSession(prefix, "sess-b", "alice", ["viewer"], 3600, {}, NOW + 1);
    await raw.hset(`${prefix}:role_permissions`, "editor", '["read", "write"]');
    const store = await connect({ prefix, mode: "read", now: () => NOW + 2 });
    try {
      const a = await store.getSession("sess-a");
      assert.deepEqual(a, {
        sessionId: "sess-a",
        userId: "alice",
        roles: ["editor"],
        createdAt: NOW,
        expiresAt: NOW + 86400,
        metadata: { permissions: { "widget:w1": ["read"] } },
      });
      assert.deepEqual((await store.listUserSessions("alice")).map((s) => s.sessionId), ["sess-b", "sess-a"]);
      assert.deepEqual([...(await store.listRoles())], [["editor", ["read", "write"]]]);
      assert.equal(await store.checkPermission("sess-a", "widget", "x", "write"), true);
      assert.equal(await store.checkPermission("sess-b", "widget", "w1", "read"), false, "viewer is not in pywry's (unseeded) role table");
      assert.equal((await store.findSession(handleFor("sess-b")))?.userId, "alice");
    } finally {
      await store.close();
    }
  });

  test("a stored expiry in the past is expired even while the key lives (pywry's belt and braces)", async () => {
    const prefix = freshPrefix();
    await pywryCreateSession(prefix, "old", "bob", ["viewer"], 100, {}, NOW - 1000);
    const store = await connect({ prefix, now: () => NOW });
    try {
      assert.equal(await store.getSession("old"), null);
      assert.deepEqual((await store.purgeExpired()).map((s) => s.sessionId), ["old"]);
      assert.equal(await raw.exists(`${prefix}:session:old`), 0);
      assert.equal(await raw.sismember(`${prefix}:user:bob:sessions`, "old"), 0);
    } finally {
      await store.close();
    }
  });

  test("user-set entries whose session Redis already expired are skipped", async () => {
    const prefix = freshPrefix();
    await raw.sadd(`${prefix}:user:carol:sessions`, "gone");
    await pywryCreateSession(prefix, "live", "carol", ["viewer"], 600, {});
    const store = await connect({ prefix, mode: "read", now: () => NOW });
    try {
      assert.deepEqual((await store.listUserSessions("carol")).map((s) => s.sessionId), ["live"]);
    } finally {
      await store.close();
    }
  });
});

describe("RedisSessionStore writes what pywry reads", () => {
  test("a session hash holds strings in pywry's encodings, with EXPIRE = ttl and the user-set entry", async () => {
    const prefix = freshPrefix();
    const store = await connect({ prefix, now: () => NOW });
    try {
      await store.createSession("s1", "ünï", ["viewer", "editor"], 3600, { permissions: { "widget:w": ["read"] } });
    } finally {
      await store.close();
    }
    const hash = await raw.hgetall(`${prefix}:session:s1`);
    assert.deepEqual(hash, {
      user_id: "ünï",
      roles: '["viewer", "editor"]',
      created_at: "1795789328.0072298",
      expires_at: "1795792928.0072298",
      ttl: "3600",
      metadata: '{"permissions": {"widget:w": ["read"]}}',
    });
    const ttl = await raw.ttl(`${prefix}:session:s1`);
    assert.ok(ttl > 3590 && ttl <= 3600, `EXPIRE is the ttl (${ttl})`);
    assert.deepEqual(await raw.smembers(`${prefix}:user:ünï:sessions`), ["s1"]);
    // pywry parses with float(): make sure the texts are what Python would parse back.
    assert.equal(Number(hash["created_at"]), NOW);
  });

  test("a session without expiry: expires_at 0, no ttl field, no EXPIRE", async () => {
    const prefix = freshPrefix();
    const store = await connect({ prefix, now: () => 1_800_000_000 });
    try {
      await store.createSession("forever", "admin", ["admin"]);
    } finally {
      await store.close();
    }
    const hash = await raw.hgetall(`${prefix}:session:forever`);
    assert.equal(hash["expires_at"], "0");
    assert.equal(hash["created_at"], "1800000000.0", "Python's str() of a whole float");
    assert.equal(hash["ttl"], undefined);
    assert.equal(await raw.ttl(`${prefix}:session:forever`), -1);
  });

  test("refresh sets expires_at and EXPIRE as pywry's refresh_session does", async () => {
    const prefix = freshPrefix();
    let now = NOW;
    const store = await connect({ prefix, now: () => now });
    try {
      await store.createSession("s", "bob", ["viewer"], 60);
      now = NOW + 30;
      assert.equal(await store.refreshSession("s", 7200), true);
    } finally {
      await store.close();
    }
    assert.equal(await raw.hget(`${prefix}:session:s`, "expires_at"), pythonFloat(NOW + 30 + 7200));
    assert.equal(await raw.hget(`${prefix}:session:s`, "ttl"), "60", "pywry leaves the stored ttl alone");
    assert.ok((await raw.ttl(`${prefix}:session:s`)) > 7100);
  });

  test("role permissions are json.dumps lists in the role_permissions hash", async () => {
    const prefix = freshPrefix();
    const store = await connect({ prefix });
    try {
      await store.setRolePermissions("analyst", ["read", "export"]);
    } finally {
      await store.close();
    }
    assert.deepEqual(await raw.hgetall(`${prefix}:role_permissions`), { analyst: '["read", "export"]' });
  });

  test("pywry-auth's own data lives under {prefix}:auth: and revocations expire with their token", async () => {
    const prefix = freshPrefix();
    const now = Math.floor(Date.now() / 1000);
    const store = await connect({ prefix, now: () => now });
    const token = `alice:${now}:${now + 600}:${"a".repeat(64)}`;
    try {
      await store.recordIssuedToken(
        { accessor: handleFor(token), tokenHash: sha256Hex(token), kind: "session", subject: "alice", issuedAt: now, expiresAt: now + 600, label: null, roles: ["viewer"], createdAt: now, revokedAt: null },
        { sessionId: token, userId: "alice", ttl: 600 },
      );
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: now + 600, reason: "test" });
      await store.revokeUser("bob", null);
    } finally {
      await store.close();
    }
    const keys = (await raw.keys(`${prefix}:*`)).sort();
    assert.deepEqual(keys, [
      `${prefix}:auth:audit`,
      `${prefix}:auth:audit:seq`,
      `${prefix}:auth:cutoff:bob`,
      `${prefix}:auth:meta`,
      `${prefix}:auth:revoked:${sha256Hex(token)}`,
      `${prefix}:auth:token:${handleFor(token)}`,
      `${prefix}:auth:tokens`,
      `${prefix}:auth:user:alice:tokens`,
    ].sort(), "the session and its (now empty) user set are gone with the revocation");
    assert.equal(keys.some((key) => key.includes(token)), false, "no key names the token");
    const revocationTtl = await raw.ttl(`${prefix}:auth:revoked:${sha256Hex(token)}`);
    assert.ok(revocationTtl > 600 + REVOCATION_GRACE_SECONDS - 10 && revocationTtl <= 600 + REVOCATION_GRACE_SECONDS, `revocation TTL ${revocationTtl}`);
    assert.equal(await raw.ttl(`${prefix}:auth:cutoff:bob`), -1, "cut-offs stay");
    assert.equal(await raw.type(`${prefix}:auth:audit`), "stream");
    const entries = await raw.xrange(`${prefix}:auth:audit`, "-", "+");
    assert.deepEqual(entries.map(([, fields]) => fields[fields.indexOf("action") + 1]), ["token.mint", "token.revoke", "user.revoke"]);
    assert.equal(JSON.stringify(entries).includes(token), false, "no token in the audit stream");
  });
});

describe("RedisSessionStore opening rules", () => {
  test("read mode writes nothing, and refuses changes", async () => {
    const prefix = freshPrefix();
    await pywryCreateSession(prefix, "s", "alice", ["viewer"], 600, {});
    const before = await snapshot(prefix);
    const store = await connect({ prefix, mode: "read", now: () => NOW + 10_000 });
    try {
      await store.listSessions({ includeExpired: true });
      await store.purgeExpired({ dryRun: true });
      await store.listTokens({ all: true });
      await store.listAudit();
      await store.listRoles();
      await store.healthCheck();
      await assert.rejects(store.createSession("x", "y"), { code: "ERR_STORE", message: /read-only/ });
      await assert.rejects(store.purgeExpired(), { code: "ERR_STORE" });
    } finally {
      await store.close();
    }
    assert.deepEqual(await snapshot(prefix), before);
  });

  test("a key layout from a newer pywry-auth is refused", async () => {
    const prefix = freshPrefix();
    await raw.hset(`${prefix}:auth:meta`, "schema_version", "99");
    await assert.rejects(connect({ prefix }), { code: "ERR_STORE_VERSION" });
  });

  test("prefixes keep deployments apart", async () => {
    const [a, b] = [freshPrefix(), freshPrefix()];
    const storeA = await connect({ prefix: a });
    const storeB = await connect({ prefix: b });
    try {
      await storeA.createSession("s", "alice");
      assert.equal(await storeB.getSession("s"), null);
      assert.deepEqual(await storeB.listSessions(), []);
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });

  test("a prefix with glob characters matches only itself", async () => {
    const prefix = `${freshPrefix()}*[x]`;
    await pywryCreateSession(`${prefix.slice(0, -4)}other`, "not-mine", "eve", ["viewer"], 600, {});
    const store = await connect({ prefix, mode: "read" });
    try {
      assert.deepEqual(await store.listSessions({ includeExpired: true }), []);
    } finally {
      await store.close();
    }
  });

  test("a database the server does not have is ERR_STORE, not a connection to database 0", async () => {
    const { port } = await server;
    await assert.rejects(RedisSessionStore.connect(`redis://127.0.0.1:${port}/99`), { code: "ERR_STORE", message: /has no database 99 \(it has 16: 0 to 15\)/ });
    const store = await RedisSessionStore.connect(`redis://127.0.0.1:${port}/15`, { prefix: freshPrefix() });
    await store.close();
  });

  test("a refused connection is ERR_STORE within the connect timeout, with the password redacted", async () => {
    const started = Date.now();
    await assert.rejects(RedisSessionStore.connect("redis://user:hunter2@127.0.0.1:1/0"), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_STORE");
      assert.match(error.message, /cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1\/0: connection refused/);
      assert.equal(JSON.stringify([error.message, String(error.cause)]).includes("hunter2"), false);
      return true;
    });
    assert.ok(Date.now() - started < 3000);
  });

  test("a wrong password is a clear ERR_STORE that does not show it", async () => {
    const locked = await startRedis(["--requirepass", "right-password"]);
    try {
      await assert.rejects(RedisSessionStore.connect(`redis://:wrong-password@127.0.0.1:${locked.port}/0`), (error: Error & { code?: string }) => {
        assert.equal(error.code, "ERR_STORE");
        assert.match(error.message, /authentication failed/);
        assert.equal(error.message.includes("wrong-password"), false);
        return true;
      });
      const store = await RedisSessionStore.connect(`redis://:right-password@127.0.0.1:${locked.port}/0`);
      assert.equal(store.location.includes("right-password"), false);
      await store.createSession("s", "alice");
      await store.close();
    } finally {
      await locked.stop();
    }
  });

  test("a server that answers nothing is ERR_STORE within a bounded time", async () => {
    const hung = await startRedis();
    hung.pause();
    try {
      const started = Date.now();
      await assert.rejects(RedisSessionStore.connect(hung.url(), { connectTimeoutMs: 500 }), { code: "ERR_STORE" });
      assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
    } finally {
      hung.resume();
      await hung.stop();
    }
  });

  test("a server stopped mid-run makes the next operation ERR_STORE, not a hang", async () => {
    const doomed = await startRedis();
    const store = await RedisSessionStore.connect(doomed.url());
    await store.createSession("s", "alice");
    await doomed.stop();
    const started = Date.now();
    await assert.rejects(store.getSession("s"), { code: "ERR_STORE" });
    await assert.rejects(store.createSession("t", "bob"), { code: "ERR_STORE" });
    assert.ok(Date.now() - started < 3000);
    await store.close();
  });
});

describe("RedisSessionStore under concurrency", () => {
  test("changes from several clients at once all land, each with its user-set entry and one audit entry", async () => {
    const prefix = freshPrefix();
    const stores = await Promise.all([connect({ prefix }), connect({ prefix }), connect({ prefix })]);
    try {
      await Promise.all(
        stores.flatMap((store, n) => Array.from({ length: 15 }, (_, i) => store.createSession(`s-${n}-${i}`, `user-${i % 3}`, ["viewer"], 600))),
      );
      await Promise.all(stores.map((store) => store.setRolePermissions("analyst", ["read"])));
      const sessions = await stores[0]!.listSessions();
      assert.equal(sessions.length, 45);
      for (const user of ["user-0", "user-1", "user-2"]) {
        assert.equal((await raw.smembers(`${prefix}:user:${user}:sessions`)).length, 15);
      }
      const log = await stores[1]!.listAudit();
      assert.equal(log.length, 48);
      assert.deepEqual(log.map((entry) => entry.id), Array.from({ length: 48 }, (_, i) => i + 1), "numbered in stream order, no gaps");
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  test("revoking a user while sessions are being created never leaves a session behind its cut-off", async () => {
    const prefix = freshPrefix();
    const [writer, revoker] = await Promise.all([connect({ prefix }), connect({ prefix })]);
    try {
      const creating = Promise.all(Array.from({ length: 20 }, (_, i) => writer.createSession(`d-${i}`, "dave", ["viewer"], 600)));
      const revoked = await revoker.revokeUser("dave", null);
      await creating;
      const left = await revoker.listUserSessions("dave");
      for (const session of left) assert.ok(session.createdAt >= revoked.cutoffAt - 1, "only sessions created after the cut-off remain");
      const members = await raw.smembers(`${prefix}:user:dave:sessions`);
      assert.deepEqual(members.sort(), left.map((s) => s.sessionId).sort(), "the user set matches the sessions exactly");
    } finally {
      await writer.close();
      await revoker.close();
    }
  });
});

describe("RedisSessionStore import", () => {
  test("copies records verbatim from another store, idempotently, with one audit entry", async () => {
    const source = new MemorySessionStore({ now: () => NOW });
    await source.createSession("s1", "alice", ["editor"], 600, { a: 1 });
    await source.setRolePermissions("analyst", ["read"]);
    await source.revokeUser("bob", "left");
    await source.revokeToken({ tokenHash: sha256Hex("tok"), subject: "carol", expiresAt: null, reason: null });
    const data = {
      roles: await source.listRoles(),
      sessions: await source.listSessions({ includeExpired: true }),
      tokens: await source.listTokens({ all: true }),
      revocations: await source.listRevocations(),
      cutoffs: await source.listUserCutoffs(),
    };
    const prefix = freshPrefix();
    const target = await connect({ prefix, now: () => NOW + 5 });
    try {
      const dry = await target.importRecords(data, { dryRun: true });
      assert.equal(dry.sessions.added, 1);
      assert.deepEqual(await raw.keys(`${prefix}:*`), [], "a dry run writes nothing");
      const first = await target.importRecords(data, { source: "memory" });
      assert.deepEqual(first.roles, { added: 5, updated: 0, unchanged: 0, skipped: 0 });
      assert.deepEqual(await target.getSession("s1"), await source.getSession("s1"));
      assert.equal(await target.findUserCutoff("bob"), NOW);
      assert.equal((await target.findRevocation(sha256Hex("tok")))?.revokedAt, NOW);
      const again = await target.importRecords(data, { source: "memory" });
      assert.deepEqual(again.sessions, { added: 0, updated: 0, unchanged: 1, skipped: 0 });
      const log = await target.listAudit();
      assert.deepEqual(log.map((e) => e.action), ["store.import"]);
      assert.equal(log[0]?.detail["source"], "memory");
      assert.ok((await raw.ttl(`${prefix}:session:s1`)) > 500, "EXPIRE follows the copied expiry");
    } finally {
      await target.close();
    }
  });
});

describe("Redis URLs", () => {
  test("redactUrl hides passwords in the user info and in the query", () => {
    assert.equal(redactUrl("redis://user:hunter2@host:6379/0"), "redis://user:***@host:6379/0");
    assert.equal(redactUrl("rediss://:hunter2@host:6380/1"), "rediss://:***@host:6380/1");
    assert.equal(redactUrl("redis://host:6379/0?password=hunter2"), "redis://host:6379/0?password=***");
    assert.equal(redactUrl("redis://host:6379/0"), "redis://host:6379/0");
    assert.equal(redactUrl("redis://user@host/0"), "redis://user@host/0");
    assert.equal(redactUrl("redis://us er:hun ter2@ho st/0").includes("hun"), false, "even when it does not parse");
  });

  test("parseRedisUrl checks the scheme and the database number", () => {
    assert.deepEqual(parseRedisUrl("REDISS://:pw@h:1/2"), { url: "rediss://:pw@h:1/2", shown: "rediss://:***@h:1/2", tls: true, db: 2 });
    assert.equal(parseRedisUrl("redis://h").db, 0);
    assert.throws(() => parseRedisUrl("redis://:pw@h/abc"), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_INVALID_INPUT");
      assert.equal(error.message.includes(":pw@"), false);
      return true;
    });
    assert.throws(() => parseRedisUrl("http://h"), { code: "ERR_INVALID_INPUT" });
  });
});

describe("pythonFloat", () => {
  const samples = [NOW, 1_800_000_000, 0.1, 1e16, 1.5e-5, 123456789012345680, 0.0001, -2.5, 1_795_789_328.5, 5e-324, 1.7976931348623157e308, 100, 12.000001];
  test("known values", () => {
    assert.equal(pythonFloat(NOW), "1795789328.0072298");
    assert.equal(pythonFloat(1_800_000_000), "1800000000.0");
    assert.equal(pythonFloat(1e16), "1e+16");
    assert.equal(pythonFloat(1.5e-5), "1.5e-05");
    assert.equal(pythonFloat(0.0001), "0.0001");
  });

  test("matches Python's str(float) when Python is there", (t) => {
    const python = spawnSync("python3", ["-c", "import json,sys; print(json.dumps([str(float(x)) for x in json.load(sys.stdin)]))"], {
      input: JSON.stringify(samples),
      encoding: "utf8",
    });
    if (python.status !== 0) return t.skip("python3 is not available");
    const random = Array.from({ length: 200 }, () => Math.random() * 2e9);
    const again = spawnSync("python3", ["-c", "import json,sys; print(json.dumps([str(float(x)) for x in json.load(sys.stdin)]))"], {
      input: JSON.stringify(random),
      encoding: "utf8",
    });
    assert.deepEqual(samples.map(pythonFloat), JSON.parse(python.stdout));
    assert.deepEqual(random.map(pythonFloat), JSON.parse(again.stdout));
  });
});

async function snapshot(prefix: string): Promise<Record<string, unknown>> {
  const keys = (await raw.keys(`${prefix}*`)).sort();
  const result: Record<string, unknown> = {};
  for (const key of keys) result[key] = [await raw.type(key), (await raw.dumpBuffer(key))?.toString("hex")];
  return result;
}

describe("the library's Redis entry point", () => {
  test('"pywry-auth/redis" exports the store; "pywry-auth" alone never loads the Redis driver', async () => {
    const entry = (await import("pywry-auth/redis")) as Record<string, unknown>;
    assert.equal(typeof entry["RedisSessionStore"], "function");
    assert.equal(typeof entry["redactUrl"], "function");
    const probe = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "await import('pywry-auth'); const { createRequire } = await import('node:module'); " +
          "const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/ioredis/')); " +
          "console.log(JSON.stringify(loaded));",
      ],
      { cwd: process.cwd(), encoding: "utf8" },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.deepEqual(JSON.parse(probe.stdout), []);
  });
});

describe("the HTTP session resolution on a Redis store", () => {
  test("cookie, Bearer token and revocation work as on SQLite", async () => {
    const { resolveSession } = await import("../../src/http/resolve.js");
    const { generateSessionToken } = await import("../../src/auth.js");
    const prefix = freshPrefix();
    const store = await connect({ prefix });
    try {
      const secret = "middleware-secret";
      const now = Math.floor(Date.now() / 1000);
      const token = generateSessionToken("alice", secret, now + 600, { now: () => now });
      await pywryCreateSession(prefix, token, "alice", ["editor"], 600, {}, now);
      const config = { sessionCookie: "pywry_session", authHeader: "Authorization", tokenSecret: secret };
      const byCookie = await resolveSession({ headers: { cookie: `pywry_session=${token}` } }, { store, config });
      assert.equal(byCookie?.userId, "alice");
      const byBearer = await resolveSession({ headers: { authorization: `Bearer ${token}` } }, { store, config });
      assert.deepEqual(byBearer?.roles, ["editor"]);
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: now + 600, reason: null });
      assert.equal(await resolveSession({ headers: { authorization: `Bearer ${token}` } }, { store, config }), null);
    } finally {
      await store.close();
    }
  });
});

describe("RedisSessionStore purge", () => {
  test("also removes user-set entries whose session Redis already dropped, and audits it", async () => {
    const prefix = freshPrefix();
    await raw.sadd(`${prefix}:user:carol:sessions`, "dropped-by-redis", "also-gone");
    await pywryCreateSession(prefix, "live", "carol", ["viewer"], 600, {});
    const store = await connect({ prefix, now: () => NOW });
    try {
      assert.deepEqual(await store.purgeExpired({ dryRun: true }), []);
      assert.deepEqual(await store.purgeExpired(), []);
      assert.deepEqual(await raw.smembers(`${prefix}:user:carol:sessions`), ["live"]);
      const [entry] = await store.listAudit();
      assert.equal(entry?.action, "session.purge");
      assert.deepEqual(entry?.detail, { count: 0, users: 0, stale_user_set_entries: 2 });
      assert.deepEqual(await store.purgeExpired(), []);
      assert.equal((await store.listAudit()).length, 1, "nothing left to do, nothing audited");
    } finally {
      await store.close();
    }
  });
});

describe("RedisSessionStore revokeUser", () => {
  test("also finds the user's sessions missing from the user set (deleted or evicted set)", async () => {
    const prefix = freshPrefix();
    await pywryCreateSession(prefix, "in-set", "mallory", ["viewer"], 600, {});
    await pywryCreateSession(prefix, "orphan", "mallory", ["admin"], 600, {});
    await pywryCreateSession(prefix, "other", "nick", ["viewer"], 600, {});
    await raw.srem(`${prefix}:user:mallory:sessions`, "orphan");
    const store = await connect({ prefix, now: () => NOW });
    try {
      assert.equal((await store.revokeUser("mallory", null)).sessionsDeleted, 2);
      assert.deepEqual((await store.listSessions({ includeExpired: true })).map((s) => s.sessionId), ["other"]);
    } finally {
      await store.close();
    }
  });
});

describe("RedisSessionStore revokeToken", () => {
  test("deletes the token's session even when the user set lost it", async () => {
    const prefix = freshPrefix();
    const token = "olga:1:0:" + "7".repeat(64);
    await pywryCreateSession(prefix, token, "olga", ["viewer"], 600, {});
    await raw.del(`${prefix}:user:olga:sessions`);
    const store = await connect({ prefix, now: () => NOW });
    try {
      assert.equal((await store.revokeToken({ tokenHash: sha256Hex(token), subject: "olga", expiresAt: null, reason: null })).sessionsDeleted, 1);
      assert.equal(await raw.exists(`${prefix}:session:${token}`), 0);
    } finally {
      await store.close();
    }
  });

  test("a token expiring too far ahead for EXPIRE is revoked whole: no half-applied change, one audit entry", async () => {
    const prefix = freshPrefix();
    const token = "olga:1:10000000000000000:" + "8".repeat(64);
    const store = await connect({ prefix, now: () => NOW });
    try {
      const result = await store.revokeToken({ tokenHash: sha256Hex(token), subject: "olga", expiresAt: 1e16, reason: null });
      assert.equal(result.alreadyRevoked, false);
      assert.equal(await store.tokenRevocationStatus({ tokenHash: sha256Hex(token), subject: "olga", issuedAt: 1 }), "token");
      assert.equal(await raw.ttl(`${prefix}:auth:revoked:${sha256Hex(token)}`), -1, "kept without EXPIRE");
      assert.equal((await store.revokeToken({ tokenHash: sha256Hex(token), subject: "olga", expiresAt: 1e16, reason: null })).alreadyRevoked, true);
      assert.deepEqual((await store.listAudit()).map((entry) => entry.action), ["token.revoke"]);
    } finally {
      await store.close();
    }
  });

  test("sessions living too long for EXPIRE are written whole too (create, refresh, import)", async () => {
    const prefix = freshPrefix();
    const store = await connect({ prefix, now: () => NOW });
    try {
      await store.createSession("long", "olga", ["viewer"], 1e16);
      assert.equal((await store.getSession("long"))?.userId, "olga");
      assert.equal(await store.refreshSession("long", 2e16), true);
      assert.equal((await store.getSession("long"))?.expiresAt, NOW + 2e16);
      const imported = { sessionId: "imported-long", userId: "olga", roles: ["viewer"], createdAt: NOW, expiresAt: 1e17, metadata: {} };
      await store.importRecords({ roles: new Map(), sessions: [imported], tokens: [], revocations: [], cutoffs: [] });
      assert.deepEqual(await store.getSession("imported-long"), imported);
      assert.deepEqual((await store.listAudit()).map((entry) => entry.action), ["session.create", "session.refresh", "store.import"]);
    } finally {
      await store.close();
    }
  });
});

describe("RedisSessionStore behind the HTTP resolver", () => {
  test("a revoked token whose session came back is no session as a cookie or a ?session= value", async () => {
    const now = 1_800_000_000;
    const store = await connect({ now: () => now });
    try {
      const token = generateSessionToken("alice", "resolver-secret", now + 3600, { now: () => now });
      await store.createSession(token, "alice", ["viewer"], 3600);
      const options = { store, config: createAuthConfig({ enabled: true, tokenSecret: "resolver-secret" }), now: () => now };
      const encoded = encodeURIComponent(token);
      assert.equal((await resolveSession({ headers: { cookie: `pywry_session=${encoded}` }, url: "/" }, options))?.userId, "alice");
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: now + 3600, reason: null });
      await store.createSession(token, "alice", ["admin"], 3600);
      assert.equal(await resolveSession({ headers: { cookie: `pywry_session=${encoded}` }, url: "/" }, options), null);
      assert.equal(await resolveSession({ headers: {}, url: `/?session=${encoded}` }, options), null);
    } finally {
      await store.close();
    }
  });
});

describe("RedisSessionStore keeps Python's JSON as pywry wrote it", () => {
  const PYTHON_METADATA = '{"a": NaN, "b": Infinity, "c": -Infinity, "d": 9223372036854775809, "e": 1.0, "f": -0.0, "g": 1e+16, "u": "\\u00e9"}';

  test("a grant keeps every number as pywry wrote it; metadata that is not JSON is never rewritten", async () => {
    const prefix = freshPrefix();
    await raw.hset(`${prefix}:session:py-numbers`, { user_id: "olga", roles: '["viewer"]', created_at: "1.0", expires_at: "0", metadata: PYTHON_METADATA });
    await raw.hset(`${prefix}:session:py-broken`, { user_id: "olga", roles: '["viewer"]', created_at: "1.0", expires_at: "0", metadata: '{"a": ' });
    const store = await connect({ prefix });
    try {
      await store.grantResource("py-numbers", "widget:w1", ["read"]);
      assert.equal(await raw.hget(`${prefix}:session:py-numbers`, "metadata"), `${PYTHON_METADATA.slice(0, -1)}, "permissions": {"widget:w1": ["read"]}}`);
      await assert.rejects(store.grantResource("py-broken", "widget:w1", ["read"]), (error: Error & { code?: string }) =>
        error.code === "ERR_STORE" && /its metadata is not valid JSON/.test(error.message),
      );
      assert.equal(await raw.hget(`${prefix}:session:py-broken`, "metadata"), '{"a": ');
    } finally {
      await store.close();
    }
  });
});

describe("sessionPages on a server that runs no scripts for us", () => {
  test("falls back to a pipeline and lists the same sessions", async () => {
    const prefix = freshPrefix();
    const url = (await server).url();
    const full = await RedisSessionStore.connect(url, { prefix });
    for (let index = 0; index < 30; index += 1) await full.createSession(`noscript-${index}`, "alice");
    await raw.call("ACL", "SETUSER", "noscripts", "on", ">noscripts-password", "~*", "+@all", "-@scripting");
    const limited = await RedisSessionStore.connect(url.replace("redis://", "redis://noscripts:noscripts-password@"), { prefix, mode: "read" });
    try {
      const ids = async (store: RedisSessionStore) => {
        const seen: string[] = [];
        for await (const page of store.sessionPages({}, { pageSize: 7 })) seen.push(...page.rows.map((session) => session.sessionId));
        return seen.sort();
      };
      const expected = Array.from({ length: 30 }, (_, index) => `noscript-${index}`).sort();
      assert.deepEqual(await ids(limited), expected);
      assert.deepEqual(await ids(full), expected);
    } finally {
      await limited.close();
      await full.close();
      await raw.call("ACL", "DELUSER", "noscripts");
    }
  });
});

describe("sessionPages resumed in a later command (a cursor) on Redis", () => {
  const changes = {
    "nothing changed": "exactly once",
    "sessions of the cursor's batch came and went (SCAN's batch from there now ends elsewhere)": "exactly once",
    "the keyspace grew many times over (Redis rehashed into a bigger table)": "exactly once",
    "the keyspace shrank to a tenth (Redis rehashed into a smaller table)": "at least once",
  } as const;
  for (const [change, promise] of Object.entries(changes)) {
    test(`every session there throughout is listed ${promise} when ${change}`, async () => {
      const prefix = freshPrefix();
      const store = await RedisSessionStore.connect((await server).url(), { prefix });
      const filler = Array.from({ length: 5000 }, (_, index) => `${prefix}:session:filler-${index}`);
      const fill = async () => {
        const pipeline = raw.pipeline();
        for (const key of filler) pipeline.hset(key, { user_id: "bob", roles: '["viewer"]', created_at: "1.0" });
        await pipeline.exec();
      };
      try {
        const original = Array.from({ length: 300 }, (_, index) => `kept-${index}`);
        for (const id of original) await store.createSession(id, "alice");
        if (change.includes("shrank")) await fill();
        // The first command: three pages (as --limit would stop it), then the cursor of its last row.
        const times = new Map<string, number>();
        const count = (sessions: readonly UserSession[]) => sessions.forEach((session) => times.set(session.sessionId, (times.get(session.sessionId) ?? 0) + 1));
        let cursor: string | undefined;
        let lastPage: UserSession[] = [];
        let pages = 0;
        for await (const page of store.sessionPages({}, { pageSize: 10 })) {
          count(page.rows);
          lastPage = page.rows;
          cursor = page.cursors[page.cursors.length - 1];
          if ((pages += 1) === 3) break;
        }
        assert.ok(cursor !== undefined && times.size < original.length);
        const gone = new Set<string>();
        if (change.includes("came and went")) {
          // Half of what the last page listed is deleted, and new sessions arrive.
          for (const session of lastPage.slice(0, Math.ceil(lastPage.length / 2))) {
            await store.deleteSession(session.sessionId);
            gone.add(session.sessionId);
          }
          const [from, next] = cursor.split(":");
          const batchEnd = async () => (await raw.scan(from!, "MATCH", `${prefix}:session:*`, "COUNT", 10))[0];
          // Where new keys land is up to Redis's hash: add them until one changes where the batch ends.
          for (let added = 0; added < 2000 && (await batchEnd()) === next; added += 50) {
            for (let index = added; index < added + 50; index += 1) await store.createSession(`new-${index}`, "carol");
          }
          assert.notEqual(await batchEnd(), next, "the change should move where SCAN's batch ends (else this case tests nothing)");
        } else if (change.includes("grew")) await fill();
        else if (change.includes("shrank")) {
          for (let index = 0; index < filler.length; index += 500) await raw.del(...filler.slice(index, index + 500));
          // Redis shrinks its table in the background once it is mostly empty.
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        for await (const page of store.sessionPages({}, { after: cursor, pageSize: 10 })) count(page.rows);
        const throughout = original.filter((id) => !gone.has(id));
        const missed = throughout.filter((id) => !times.has(id));
        assert.deepEqual(missed, [], `${missed.length} sessions present throughout were never listed`);
        if (promise === "exactly once") {
          const repeated = [...times].filter(([, seen]) => seen > 1).map(([id]) => id);
          assert.deepEqual(repeated, [], `${repeated.length} sessions were listed twice`);
        }
      } finally {
        await store.close();
      }
    });
  }
});

describe("auditPages on Redis reads the stream a page at a time", () => {
  test("every XRANGE it sends asks for a page (COUNT), never the whole stream; cursors are stream ids", async () => {
    const prefix = freshPrefix();
    const store = await RedisSessionStore.connect((await server).url(), { prefix });
    const monitor = await raw.monitor();
    const sent: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (/^x(rev)?range$/i.test(args[0] ?? "") && args[1] === `${prefix}:auth:audit`) sent.push(args);
    });
    try {
      for (let index = 0; index < 30; index += 1) await store.createSession(`audited-${index}`, index % 2 ? "alice" : "bob");
      const cursors: string[] = [];
      for await (const page of store.auditPages({}, { pageSize: 5 })) cursors.push(...page.cursors);
      for await (const page of store.auditPages({ subject: "bob", limit: 3 }, { pageSize: 5 })) cursors.push(...page.cursors);
      assert.equal(cursors.length, 33);
      assert.ok(cursors.every((cursor) => /^\d+-\d+$/.test(cursor)), "stream ids");
      // MONITOR reports commands asynchronously: wait until it has caught up with a marker.
      await raw.ping("marker");
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(sent.length > 0, "the walk was seen");
      assert.deepEqual(sent.filter((args) => !args.some((arg) => /^count$/i.test(arg))), [], "an XRANGE without COUNT reads the whole stream");
    } finally {
      monitor.disconnect();
      await store.close();
    }
  });
});

describe("sessionPages for one user on Redis walks the user's set with SSCAN", () => {
  test("a cursor resumes exactly once while that user's sessions come and go, and sessions another user took over are left out", async () => {
    const prefix = freshPrefix();
    const store = await RedisSessionStore.connect((await server).url(), { prefix });
    const monitor = await raw.monitor();
    const whole: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (/^smembers$/i.test(args[0] ?? "") && args[1] === `${prefix}:user:dora:sessions`) whole.push(args);
    });
    try {
      // Over 128 members: Redis keeps the set as a hash table, walked a batch at a time.
      const original = Array.from({ length: 300 }, (_, index) => `dora-${index}`);
      for (const id of original) await store.createSession(id, "dora");
      await raw.sadd(`${prefix}:user:dora:sessions`, "taken-over");
      await store.createSession("taken-over", "erin");
      const times = new Map<string, number>();
      const count = (rows: readonly UserSession[]) => rows.forEach((s) => times.set(s.sessionId, (times.get(s.sessionId) ?? 0) + 1));
      let cursor: string | undefined;
      let lastPage: UserSession[] = [];
      let pages = 0;
      for await (const page of store.sessionPages({ userId: "dora" }, { pageSize: 10 })) {
        count(page.rows);
        lastPage = page.rows;
        cursor = page.cursors[page.cursors.length - 1];
        if ((pages += 1) === 3) break;
      }
      assert.ok(cursor !== undefined);
      const gone = new Set(lastPage.slice(0, 5).map((s) => s.sessionId));
      for (const id of gone) await store.deleteSession(id);
      for (let index = 0; index < 100; index += 1) await store.createSession(`dora-new-${index}`, "dora");
      for await (const page of store.sessionPages({ userId: "dora" }, { after: cursor, pageSize: 10 })) count(page.rows);
      const missed = original.filter((id) => !gone.has(id) && !times.has(id));
      assert.deepEqual(missed, [], `${missed.length} of dora's sessions were never listed`);
      assert.deepEqual([...times].filter(([, seen]) => seen > 1), [], "none twice");
      assert.ok(!times.has("taken-over"), "erin's session is not listed as dora's");
      await raw.ping();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(whole, [], "the user's set is never read whole (SMEMBERS)");
    } finally {
      monitor.disconnect();
      await store.close();
    }
  });
});

describe("tokenPages for one subject on Redis walks its set with SSCAN", () => {
  test("a cursor resumes exactly once while the subject's tokens come and go; the set is never read whole", async () => {
    const prefix = freshPrefix();
    const store = await RedisSessionStore.connect((await server).url(), { prefix });
    const setKey = `${prefix}:auth:user:frank:tokens`;
    const monitor = await raw.monitor();
    const whole: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (/^smembers$/i.test(args[0] ?? "") && args[1]?.endsWith(":frank:tokens")) whole.push(args);
    });
    try {
      const original = Array.from({ length: 300 }, (_, index) => `frank-token-${index}`);
      for (const token of original) await store.recordIssuedToken(tokenRecord(token, { subject: "frank", expiresAt: null }));
      const times = new Map<string, number>();
      const count = (rows: readonly TokenRecord[]) => rows.forEach((r) => times.set(r.accessor, (times.get(r.accessor) ?? 0) + 1));
      let cursor: string | undefined;
      let pages = 0;
      for await (const page of store.tokenPages({ subject: "frank" }, { pageSize: 10 })) {
        count(page.rows);
        cursor = page.cursors[page.cursors.length - 1];
        if ((pages += 1) === 3) break;
      }
      assert.ok(cursor !== undefined);
      for (let index = 0; index < 100; index += 1) await store.recordIssuedToken(tokenRecord(`frank-new-${index}`, { subject: "frank", expiresAt: null }));
      for await (const page of store.tokenPages({ subject: "frank" }, { after: cursor, pageSize: 10 })) count(page.rows);
      const missed = original.map(handleFor).filter((accessor) => !times.has(accessor));
      assert.deepEqual(missed, [], `${missed.length} of frank's tokens were never listed`);
      assert.deepEqual([...times].filter(([, seen]) => seen > 1), [], "none twice");
      await raw.ping();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(whole, [], `the subject's set (${setKey}) is never read whole (SMEMBERS)`);
    } finally {
      monitor.disconnect();
      await store.close();
    }
  });
});
