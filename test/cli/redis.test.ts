/**
 * The CLI on a real Redis: every command gives the same output and exit code as on SQLite,
 * pywry's Redis data (written with raw commands, as pywry writes it) reads back, what the CLI
 * writes is in pywry's format with its TTLs, concurrent CLI processes, store selection from
 * pywry's environment, passwords never shown, dead servers give exit 3 quickly, and migrate.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Redis } from "ioredis";
import {
  assertCliError,
  assertExit,
  handleOf,
  okJson,
  pywryToken,
  sandboxFor,
  sha256Hex,
  show,
  type CliResult,
  type Sandbox,
} from "../helpers/cli.js";
import { startRedis, writePywrySession, type RedisServer } from "../helpers/redis.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";

const SECRET = "redis-cli-test-secret-0123456789abcdef";
const server: Promise<RedisServer> = startRedis();
let redis: RedisServer;
let raw: Redis;
before(async () => {
  redis = await server;
  raw = redis.raw();
});
after(async () => (await server).stop());

let counter = 0;
function freshPrefix(): string {
  counter += 1;
  return `cli${counter}`;
}

type Run = (args: readonly string[], input?: string) => Promise<CliResult>;

function cli(sandbox: Sandbox, store: string, prefix?: string): Run {
  const global = ["--store", store, ...(prefix === undefined ? [] : ["--redis-prefix", prefix])];
  return (args, input) => sandbox.run([...global, ...args], { env: { PYWRY_AUTH_SECRET: SECRET }, ...(input === undefined ? {} : { input }) });
}

/** What pywry's create_session sends for a session. */
function pywrySession(prefix: string, id: string, user: string, roles: string[], ttl: number, metadata: object = {}): Promise<void> {
  return writePywrySession(raw, { prefix, id, user, roles, ttl, metadata });
}

/**
 * One walk through every store-backed command of the foundation and RBAC issues. Returns what
 * each step printed and exited with, with the parts that differ between any two runs (times,
 * tokens, handles, the store's name) replaced, so a SQLite run and a Redis run compare equal.
 */
async function walkThrough(run: Run, storeName: string): Promise<string[]> {
  const steps: Array<{ args: string[]; input?: string; result: CliResult }> = [];
  const secrets = new Map<string, string>();
  const step = async (args: string[], input?: string): Promise<CliResult> => {
    const result = await run(args, input);
    steps.push({ args, input, result });
    return result;
  };
  const tokenOf = async (args: string[]): Promise<string> => {
    const result = await step(args);
    assertExit(result, 0);
    const token = result.stdout.trim();
    secrets.set(token, `<token ${secrets.size}>`);
    secrets.set(handleOf(token), `<handle ${secrets.size - 1}>`);
    return token;
  };
  const alice = await tokenOf(["token", "create", "--user", "alice", "--roles", "editor", "--ttl", "2h", "--label", "ci"]);
  const bob = await tokenOf(["token", "create", "--user", "bob", "--roles", "viewer,editor"]);
  const forever = await tokenOf(["token", "create", "--user", "carol", "--no-expiry"]);
  await tokenOf(["token", "create", "--user", "dave", "--no-session", "--ttl", "15m"]);
  const widget = await tokenOf(["widget-token", "grid-main", "--ttl", "5m"]);
  const created = await step(["session", "create", "--user", "erin", "--roles", "viewer", "--ttl", "1h", "--metadata", "team=infra"]);
  const erin = created.stdout.trim();
  secrets.set(erin, "<session erin>");
  secrets.set(handleOf(erin), "<handle erin>");

  await step(["--json", "token", "list"]);
  await step(["token", "list", "--user", "alice"]);
  await step(["--json", "token", "list", "--kind", "widget"]);
  await step(["verify", "-"], alice);
  await step(["--json", "verify", "--widget", "grid-main", "-"], widget);
  await step(["inspect", "-"], bob);
  await step(["--json", "session", "list"]);
  await step(["session", "list", "--user", "bob"]);
  await step(["--json", "session", "list", "--role", "editor"]);
  await step(["--json", "session", "show", handleOf(erin)]);
  await step(["session", "show", "0000000000000000"]);
  await step(["session", "refresh", handleOf(erin), "--ttl", "3h"]);
  await step(["session", "grant", handleOf(erin), "widget:w1", "read,write"]);
  await step(["can", "write", "--session", handleOf(erin), "--resource", "widget:w1"]);
  await step(["can", "write", "--session", handleOf(erin), "--resource", "widget:w2"]);
  await step(["session", "ungrant", handleOf(erin), "widget:w1", "write"]);
  await step(["--json", "can", "--list", "--session", handleOf(erin)]);
  await step(["roles", "list"]);
  await step(["roles", "show", "editor"]);
  await step(["roles", "set", "--create", "analyst", "read", "export"]);
  await step(["roles", "grant", "analyst", "publish"]);
  await step(["roles", "revoke", "analyst", "export"]);
  await step(["roles", "set", "admin", "read"]);
  await step(["roles", "show", "nobody"]);
  await step(["can", "publish", "--user", "bob"]);
  await step(["can", "write", "--user", "bob"]);
  await step(["-q", "can", "admin", "--token", "-"], alice);
  await step(["can", "read", "--token", "-"], forever);
  await step(["roles", "delete", "analyst", "--yes"]);
  await step(["roles", "delete", "analyst", "--yes"]);
  await step(["token", "renew", "-"], alice).then((result) => {
    const renewed = result.stdout.trim();
    secrets.set(renewed, "<token renewed>");
    secrets.set(handleOf(renewed), "<handle renewed>");
  });
  await step(["verify", "-"], alice);
  await step(["revoke", "--accessor", handleOf(bob), "--reason", "leaked"]);
  await step(["revoke", "-"], bob);
  await step(["--json", "verify", "-"], bob);
  await step(["revoke", "--session", handleOf(erin), "--yes"]);
  await step(["revoke", "--user", "carol", "--yes", "--reason", "left"]);
  await step(["verify", "-"], forever);
  await step(["session", "delete", handleOf(forever)]);
  await step(["session", "purge", "--dry-run"]);
  await step(["session", "purge", "--yes"]);
  await step(["--json", "token", "list", "--all"]);
  await step(["--json", "session", "list", "--all"]);
  await step(["audit", "--action", "role"]);
  await step(["--json", "audit", "--limit", "3"]);
  await step(["audit", "--user", "carol"]);
  // Normalised at the end, when every token and session id the walk produced is known.
  return steps.map(
    ({ args, input, result }) =>
      `$ ${normalise(args.join(" "), storeName, secrets)}${input === undefined ? "" : " < input"}\nexit ${result.code}\n${normalise(result.stdout, storeName, secrets)}\n--stderr--\n${normalise(result.stderr, storeName, secrets)}`,
  );
}

function normalise(text: string, storeName: string, secrets: Map<string, string>): string {
  let out = text;
  // Longest first, so a token is replaced before its parts are.
  for (const [secret, name] of [...secrets].sort((a, b) => b[0].length - a[0].length)) out = out.split(secret).join(name);
  out = out
    .split(storeName)
    .join("<store>")
    .replace(/[0-9a-f]{64}/g, "<hex64>")
    .replace(/\b[0-9a-f]{16}\b/g, "<handle>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/\b\d{10}(\.\d+)?\b/g, "<unix>")
    .replace(/\((in|expired) [^)]*\)/g, "($1 <duration>)")
    .replace(/"(id|actor|cursor)": ?("[^"]*"|\d+)/g, '"$1": <$1>');
  // Tables align columns to their content; rows created in the same second may come in either
  // order, and Redis lists sessions in SCAN's order (so which JSON row is last, without a comma).
  return out
    .split("\n")
    .map((line) => line.replace(/\s+/g, " ").trimEnd().replace(/^( \{.*\}),$/, "$1"))
    .sort()
    .join("\n");
}

describe("the CLI on Redis behaves as on SQLite", () => {
  test("every command: same output and exit codes", async (t) => {
    const sandbox = sandboxFor(t);
    const sqlite = sandbox.path("parity.db");
    const url = redis.url();
    const prefix = freshPrefix();
    // pywry's SQLite store seeds the default roles, unaudited, when it creates its tables; give
    // Redis the same table the same way (pywry's Redis store never seeds one).
    await raw.hset(`${prefix}:role_permissions`, {
      admin: '["read", "write", "admin", "delete", "manage_users"]',
      editor: '["read", "write"]',
      viewer: '["read"]',
      anonymous: "[]",
    });
    // The SQLite store exists beforehand, as the Redis server does (a mint with --store does not create one).
    await SqliteSessionStore.open(sqlite).close();
    const onSqlite = await walkThrough(cli(sandbox, sqlite), sqlite);
    const onRedis = await walkThrough(cli(sandbox, url, prefix), `${url} (prefix ${prefix})`);
    assert.equal(onRedis.length, onSqlite.length);
    onSqlite.forEach((expected, index) => assert.equal(onRedis[index], expected, `step ${index + 1} differs`));
    // The walk really exercised the stores: some steps failed on purpose, most succeeded.
    assert.ok(onRedis.filter((entry) => /\nexit 0\n/.test(entry)).length > 40);
    assert.ok(onRedis.some((entry) => /\nexit 4\n/.test(entry)));
  });
});

describe("pywry's data, written with raw Redis commands, through the CLI", () => {
  test("sessions, roles and grants as pywry wrote them are listed, shown and checked", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    await pywrySession(prefix, "sess-editor", "bob", ["editor"], 86400);
    await pywrySession(prefix, "sess-viewer", "carol", ["viewer"], 3600, { permissions: { "widget:dashboard-1": ["read", "write"] } });
    await raw.hset(`${prefix}:role_permissions`, "editor", '["read", "write"]', "viewer", '["read"]');
    const run = cli(sandbox, redis.url(), prefix);
    const sessions = okJson<Array<Record<string, unknown>>>(await run(["--json", "session", "list"]));
    assert.deepEqual(sessions.map((s) => s["user_id"] ?? s["userId"]).sort(), ["bob", "carol"]);
    assertExit(await run(["can", "write", "--user", "bob"]), 0);
    assertExit(await run(["can", "write", "--session", "sess-viewer", "--resource", "widget:dashboard-1"]), 0);
    assertExit(await run(["can", "write", "--session", "sess-viewer", "--resource", "widget:other"]), 1);
    assert.match((await run(["roles", "list"])).stdout, /editor\s+read, write/);
  });

  test("revoking a token pywry minted deletes pywry's session whose id is the token", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    const now = Math.floor(Date.now() / 1000);
    const token = pywryToken("frank", now, now + 3600, SECRET);
    await pywrySession(prefix, token, "frank", ["viewer"], 3600);
    const run = cli(sandbox, redis.url(), prefix);
    assertExit(await run(["verify", "-"], token), 0);
    assertExit(await run(["revoke", "-"], token), 0);
    assert.equal(await raw.exists(`${prefix}:session:${token}`), 0);
    assert.equal(await raw.sismember(`${prefix}:user:frank:sessions`, token), 0);
    assertExit(await run(["verify", "-"], token), 1);
  });

  test("on an empty role table roles list and can say that no role grants anything, and roles seed fixes it", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    await pywrySession(prefix, "s", "gina", ["editor"], 600);
    const run = cli(sandbox, redis.url(), prefix);
    const listed = await run(["roles", "list"]);
    assertExit(listed, 0);
    assert.match(listed.stdout, /no roles: in pywry no role grants anything/);
    assert.match(listed.stderr, /roles seed/);
    assert.deepEqual(okJson(await run(["--json", "roles", "list"])), {});
    const can = await run(["can", "read", "--session", "s"]);
    assertExit(can, 1);
    assert.match(can.stderr, /no roles.*roles seed/);
    const seeded = okJson<Record<string, string[]>>(await run(["--json", "roles", "seed"]));
    assert.deepEqual(seeded["added"], ["admin", "editor", "viewer", "anonymous"]);
    assert.equal(await raw.hget(`${prefix}:role_permissions`, "admin"), '["read", "write", "admin", "delete", "manage_users"]');
    assertExit(await run(["can", "write", "--session", "s"]), 0);
    assert.deepEqual(okJson<Record<string, string[]>>(await run(["--json", "roles", "seed"]))["unchanged"]?.length, 4);
    assertExit(await run(["roles", "set", "editor", "read"]), 0);
    assert.deepEqual(okJson<Record<string, string[]>>(await run(["--json", "roles", "seed"]))["kept"], ["editor"]);
    assert.deepEqual(okJson<Record<string, string[]>>(await run(["--json", "roles", "seed", "--force"]))["reset"], ["editor"]);
  });
});

describe("what the CLI writes is pywry's format", () => {
  test("token create: a session hash of strings with EXPIRE = ttl, the user set, the registry by accessor", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    const run = cli(sandbox, redis.url(), prefix);
    const created = await run(["token", "create", "--user", "hana", "--roles", "editor,viewer", "--ttl", "1h"]);
    assertExit(created, 0);
    const token = created.stdout.trim();
    const hash = await raw.hgetall(`${prefix}:session:${token}`);
    assert.equal(hash["user_id"], "hana");
    assert.equal(hash["roles"], '["editor", "viewer"]');
    assert.equal(hash["ttl"], "3600");
    assert.equal(hash["metadata"], "{}");
    assert.match(hash["created_at"] ?? "", /^\d{10}\.\d+$/, "Python float text");
    assert.ok(Math.abs(Number(hash["expires_at"]) - Number(hash["created_at"]) - 3600) <= 1, "expires_at is created_at + ttl");
    const ttl = await raw.ttl(`${prefix}:session:${token}`);
    assert.ok(ttl > 3590 && ttl <= 3600, `EXPIRE ${ttl}`);
    assert.deepEqual(await raw.smembers(`${prefix}:user:hana:sessions`), [token]);
    const entry = await raw.hgetall(`${prefix}:auth:token:${handleOf(token)}`);
    assert.equal(entry["token_hash"], sha256Hex(token));
    assert.equal(JSON.stringify(entry).includes(token), false, "the registry never holds the token");

    const forever = (await run(["token", "create", "--user", "hana", "--no-expiry"])).stdout.trim();
    assert.equal(await raw.ttl(`${prefix}:session:${forever}`), -1);
    assert.equal(await raw.hget(`${prefix}:session:${forever}`, "expires_at"), "0");
  });

  test("revocations expire with their token; user cut-offs and the audit stream stay", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    const run = cli(sandbox, redis.url(), prefix);
    const token = (await run(["token", "create", "--user", "ivan", "--ttl", "10m"])).stdout.trim();
    assertExit(await run(["revoke", "-"], token), 0);
    const ttl = await raw.ttl(`${prefix}:auth:revoked:${sha256Hex(token)}`);
    assert.ok(ttl > 600 && ttl <= 600 + 3600, `revocation TTL ${ttl}: the token's remaining life plus the clock-skew grace`);
    assertExit(await run(["revoke", "--user", "ivan", "--yes"]), 0);
    assert.equal(await raw.ttl(`${prefix}:auth:cutoff:ivan`), -1);
    assert.equal(await raw.type(`${prefix}:auth:audit`), "stream");
    assert.equal(await raw.xlen(`${prefix}:auth:audit`), 3);
  });

  test("commands that only read write nothing", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    await pywrySession(prefix, "s1", "jo", ["viewer"], 600);
    await raw.hset(`${prefix}:role_permissions`, "viewer", '["read"]');
    const run = cli(sandbox, redis.url(), prefix);
    const before = await dump(prefix);
    for (const args of [
      ["session", "list", "--all"],
      ["session", "show", "s1"],
      ["roles", "list"],
      ["roles", "show", "viewer"],
      ["token", "list", "--all"],
      ["audit"],
      ["can", "read", "--session", "s1"],
      ["session", "purge", "--dry-run"],
      ["doctor"],
    ]) {
      await run(args);
    }
    assertExit(await run(["verify", "-"], pywryToken("jo", Math.floor(Date.now() / 1000), 0, SECRET)), 0);
    assert.deepEqual(await dump(prefix), before);
  });
});

describe("several CLI processes against one Redis", () => {
  // Distinct users: the same user's tokens minted in the same second are the same token, which
  // the CLI refuses to hand out twice (on any store).
  test("concurrent token creation and role changes all land, each audited once", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    const run = cli(sandbox, redis.url(), prefix);
    const results = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => run(["token", "create", "--user", `user-${i}`, "--label", `n${i}`])),
      ...Array.from({ length: 4 }, (_, i) => run(["roles", "set", "--create", `role-${i}`, "read"])),
    ]);
    for (const result of results) assertExit(result, 0);
    for (let i = 0; i < 10; i += 1) assert.equal((await raw.smembers(`${prefix}:user:user-${i}:sessions`)).length, 1);
    assert.equal((await raw.zcard(`${prefix}:auth:tokens`)), 10);
    assert.equal((await raw.hlen(`${prefix}:role_permissions`)), 4);
    const audit = (await run(["--json", "audit"])).stdout.trim().split("\n").map((line) => JSON.parse(line) as { id: number });
    assert.equal(audit.length, 14);
    assert.deepEqual(audit.map((entry) => entry.id), Array.from({ length: 14 }, (_, i) => i + 1));
  });
});

describe("choosing the Redis store", () => {
  test("pywry's own environment: PYWRY_DEPLOY__STATE_BACKEND=redis with its URL and prefix", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    await pywrySession(prefix, "from-env", "kim", ["viewer"], 600);
    const env = {
      PYWRY_AUTH_SECRET: SECRET,
      PYWRY_DEPLOY__STATE_BACKEND: "redis",
      PYWRY_DEPLOY__REDIS_URL: redis.url(),
      PYWRY_DEPLOY__REDIS_PREFIX: prefix,
    };
    const listed = okJson<unknown[]>(await sandbox.run(["--json", "session", "list"], { env }));
    assert.equal(listed.length, 1);
    // --redis-prefix wins over pywry's environment.
    const other = okJson<unknown[]>(await sandbox.run(["--json", "--redis-prefix", freshPrefix(), "session", "list"], { env }));
    assert.equal(other.length, 0);
  });

  test("a password is used but never shown, not even when it is wrong", async (t) => {
    const sandbox = sandboxFor(t);
    const locked = await startRedis(["--requirepass", "s3cret-pass"]);
    t.after(() => locked.stop());
    const wrong = await sandbox.run(["--store", `redis://:n0t-it@127.0.0.1:${locked.port}/0`, "session", "list"], { env: { PYWRY_AUTH_SECRET: SECRET } });
    assertCliError(wrong, 3, /authentication failed/);
    assert.equal(wrong.stderr.includes("n0t-it"), false);
    assert.match(wrong.stderr, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
    const right = cli(sandbox, `redis://:s3cret-pass@127.0.0.1:${locked.port}/0`);
    assertExit(await right(["session", "create", "--user", "lee"]), 0);
    for (const args of [["session", "list"], ["config", "show"], ["doctor"], ["--json", "audit"]]) {
      const result = await right(args);
      assert.equal(`${result.stdout}${result.stderr}`.includes("s3cret-pass"), false, `${args.join(" ")} shows the password\n${show(result)}`);
    }
  });

  test("a database the server does not have (/99 of 16) is exit 3, and doctor reports it: never a silent db 0", async (t) => {
    const sandbox = sandboxFor(t);
    const url = `redis://127.0.0.1:${redis.port}/99`;
    const before = await raw.dbsize();
    for (const args of [["session", "list"], ["session", "create", "--user", "mo"], ["token", "create", "--user", "mo"]]) {
      assertCliError(
        await sandbox.run(["--store", url, ...args], { env: { PYWRY_AUTH_SECRET: SECRET } }),
        3,
        /Redis at redis:\/\/127\.0\.0\.1:\d+\/99 has no database 99 \(it has 16: 0 to 15\)/,
      );
    }
    assert.equal(await raw.dbsize(), before, "nothing was written to database 0");
    const doctor = await sandbox.run(["--json", "--store", url, "doctor"], { env: { PYWRY_AUTH_SECRET: SECRET } });
    assertExit(doctor, 1);
    const { findings } = JSON.parse(doctor.stdout) as { findings: Array<{ check: string; status: string; message: string }> };
    assert.ok(findings.some((finding) => finding.check === "store" && finding.status === "fail" && /no database 99/.test(finding.message)), doctor.stdout);
    // The last database there is, is used.
    assertExit(await sandbox.run(["--store", `redis://127.0.0.1:${redis.port}/15`, "session", "create", "--user", "mo"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 0);
  });

  test("nothing listening: exit 3 at once with a clear message", async (t) => {
    const sandbox = sandboxFor(t);
    const started = Date.now();
    const result = await sandbox.run(["--store", "redis://127.0.0.1:1/0", "session", "list"], { env: { PYWRY_AUTH_SECRET: SECRET } });
    assertCliError(result, 3, /cannot connect to Redis at redis:\/\/127\.0\.0\.1:1\/0: connection refused/);
    assert.ok(Date.now() - started < 5000);
  });

  test("a server that hangs: exit 3 within a bounded time, not a hang", async (t) => {
    const sandbox = sandboxFor(t);
    const hung = await startRedis();
    t.after(() => hung.stop());
    hung.pause();
    const started = Date.now();
    const result = await sandbox.run(["--store", hung.url(), "session", "list"], { env: { PYWRY_AUTH_SECRET: SECRET }, timeoutMs: 20_000 });
    hung.resume();
    assertCliError(result, 3, /cannot connect to Redis/);
    assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms (the connect timeout is 2 s)`);
  });

  test("a server stopped between commands: the next command exits 3", async (t) => {
    const sandbox = sandboxFor(t);
    const doomed = await startRedis();
    const run = cli(sandbox, doomed.url());
    assertExit(await run(["session", "create", "--user", "max"]), 0);
    await doomed.stop();
    assertCliError(await run(["session", "list"]), 3, /cannot connect to Redis/);
    assertCliError(await run(["token", "create", "--user", "max"]), 3, /cannot connect to Redis/);
  });

  test("a bad Redis URL is a usage error", async (t) => {
    const sandbox = sandboxFor(t);
    assertCliError(await sandbox.run(["--store", "redis://:pw@localhost/notanumber", "session", "list"]), 2, /database in a Redis URL/);
  });
});

describe("migrate", () => {
  test("pywry's SQLite database to Redis and back: the same sessions, roles, registry and revocations; idempotent", async (t) => {
    const sandbox = sandboxFor(t);
    const prefix = freshPrefix();
    const desktop = sandbox.copyPywryFixture();
    const sqlite = cli(sandbox, desktop);
    const token = (await sqlite(["token", "create", "--user", "nina", "--roles", "editor", "--label", "laptop"])).stdout.trim();
    const revoked = (await sqlite(["token", "create", "--user", "omar"])).stdout.trim();
    assertExit(await sqlite(["revoke", "-"], revoked), 0);
    const beforeCutoff = Math.floor(Date.now() / 1000) - 1;
    assertExit(await sqlite(["revoke", "--user", "pia", "--force"]), 0);
    const url = redis.url();
    const migrate = (from: string, to: string, ...extra: string[]) =>
      sandbox.run(["--json", "--redis-prefix", prefix, "migrate", "--yes", "--from", from, "--to", to, ...extra], { env: { PYWRY_AUTH_SECRET: SECRET } });

    const dry = okJson<{ counts: Record<string, { added: number }>; dry_run: boolean }>(await migrate(desktop, url, "--dry-run"));
    assert.equal(dry.dry_run, true);
    assert.ok(dry.counts["sessions"]!.added >= 5);
    assert.deepEqual(await raw.keys(`${prefix}:*`), [], "a dry run writes nothing");

    const first = okJson<{ counts: Record<string, { added: number; updated: number }>; skipped: { sessions: number } }>(await migrate(desktop, url));
    assert.equal(first.skipped.sessions, 1, "pywry's expired sess-old stays behind");
    assert.equal(first.counts["tokens"]!.added, 2);
    assert.equal(first.counts["revocations"]!.added, 1);
    assert.equal(first.counts["cutoffs"]!.added, 1);
    const again = okJson<{ counts: Record<string, { added: number; updated: number }> }>(await migrate(desktop, url));
    for (const [kind, count] of Object.entries(again.counts)) assert.equal(count.added + count.updated, 0, `${kind} copied twice`);

    const onRedis = cli(sandbox, url, prefix);
    const listSqlite = rowsOf(okJson(await sqlite(["--json", "session", "list"])));
    assert.deepEqual(rowsOf(okJson(await onRedis(["--json", "session", "list"]))), listSqlite);
    assert.deepEqual(okJson(await onRedis(["--json", "roles", "list"])), okJson(await sqlite(["--json", "roles", "list"])));
    assert.deepEqual(rowsOf(okJson(await onRedis(["--json", "token", "list", "--all"]))), rowsOf(okJson(await sqlite(["--json", "token", "list", "--all"]))));
    assertExit(await onRedis(["verify", "-"], token), 0);
    assertExit(await onRedis(["verify", "-"], revoked), 1);
    assertExit(await onRedis(["verify", "-"], pywryToken("pia", beforeCutoff, 0, SECRET)), 1);
    assert.match((await onRedis(["audit", "--action", "store"])).stdout, /store\.import/);

    const back = sandbox.path("back.db");
    okJson(await migrate(url, back));
    const onBack = cli(sandbox, back);
    assert.deepEqual(rowsOf(okJson(await onBack(["--json", "session", "list"]))), listSqlite);
    assert.deepEqual(rowsOf(okJson(await onBack(["--json", "token", "list", "--all"]))), rowsOf(okJson(await sqlite(["--json", "token", "list", "--all"]))));
    assertExit(await onBack(["verify", "-"], revoked), 1);
  });

  test("the same store on both sides is refused", async (t) => {
    const sandbox = sandboxFor(t);
    assertCliError(await sandbox.run(["migrate", "--from", redis.url(), "--to", `REDIS://127.0.0.1:${redis.port}`]), 2, /same store/);
  });
});

/**
 * A listing's rows without their cursors, by handle: each store lists in its own stable order
 * (SQLite: as rows were inserted; Redis: as SCAN walks) with its own cursors.
 */
function rowsOf(list: unknown): Array<Record<string, unknown>> {
  return (list as Array<Record<string, unknown>>)
    .map(({ cursor: _cursor, ...row }) => row)
    .sort((a, b) => String(a["handle"] ?? a["accessor"]).localeCompare(String(b["handle"] ?? b["accessor"])));
}

async function dump(prefix: string): Promise<Record<string, string>> {
  const keys = (await raw.keys(`${prefix}:*`)).sort();
  const out: Record<string, string> = {};
  for (const key of keys) out[key] = `${await raw.type(key)} ${(await raw.dumpBuffer(key))?.toString("hex")} ttl=${(await raw.ttl(key)) > 0 ? "set" : "none"}`;
  return out;
}
