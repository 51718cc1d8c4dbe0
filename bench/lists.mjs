// Issue 17 (lists at scale): a store of a million sessions, a million registry entries and a
// million audit events (BENCH_SCALE scales it), written straight in SQL in one transaction
// (building it through the CLI would take most of the run); then the list commands as whole
// processes: rows/s, peak RSS, when the first row came out; human tables against --json in the
// same run; audit, and audit --user through its index; and session list on a local redis-server.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import Database from "better-sqlite3-multiple-ciphers";
import { Redis } from "ioredis";
import { RUNS, bin, cliEnv, dist, figure, log, median, report, root, scaled, tempDir } from "./lib.mjs";

const { SqliteSessionStore } = await import(dist("index.js"));

const N = scaled(1_000_000, 1000);
const USERS = Math.max(10, Math.round(N / 100));
const dir = tempDir("lists");
const env = cliEnv(dir, { PYWRY_AUTH_SECRET: "bench-lists-secret-0123456789abcdef" });
const store = join(dir, "pywry.db");
const RSS_HOOK = pathToFileURL(join(root, "bench", "rss-hook.mjs")).href;

/**
 * Runs the CLI with stdout on a pipe that is read and counted (not kept): wall time, when the
 * first line arrived, lines, exit code, peak RSS.
 */
function runList(args, extraEnv = {}) {
  const rssFile = join(tmpdir(), `pywry-auth-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ["--import", RSS_HOOK, bin, ...args], {
      env: { ...env, ...extraEnv, BENCH_RSS_OUT: rssFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let firstLine = null;
    let lines = 0;
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines += 1;
      if (firstLine === null && lines > 0) firstLine = Number(process.hrtime.bigint() - started) / 1e9;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      let rssMb = null;
      try {
        rssMb = JSON.parse(readFileSync(rssFile, "utf8")).maxRssKb / 1024;
        rmSync(rssFile, { force: true });
      } catch {
        // died before its exit hook
      }
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}: ${stderr}`));
      else resolve({ wall, firstLine, lines, rssMb, stderr });
    });
  });
}

// ---- the store -------------------------------------------------------------------------------
{
  // The schema as pywry-auth makes it (pywry's tables, the registry, the audit log and its indexes).
  (await SqliteSessionStore.open(store)).close();
  const started = process.hrtime.bigint();
  const db = new Database(store);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -262144");
  const now = Date.now() / 1000;
  const session = db.prepare("INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, ?, ?, ?, ?, ?)");
  const token = db.prepare(
    "INSERT INTO pywry_auth_tokens (token_hash, accessor, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at) VALUES (?, ?, 'session', ?, ?, ?, ?, ?, ?, NULL)",
  );
  const audit = db.prepare("INSERT INTO pywry_auth_audit (at, action, subject, target, actor, detail) VALUES (?, 'session.create', ?, ?, 'bench', ?)");
  db.transaction(() => {
    for (let index = 0; index < N; index += 1) {
      const user = `user-${index % USERS}`;
      const created = now - (N - index) / 1000;
      const hex = (index * 2654435761 % 4294967296).toString(16).padStart(8, "0") + index.toString(16).padStart(8, "0");
      session.run(`bench-${hex}-${index.toString(36)}`, user, index % 10 === 0 ? '["editor", "viewer"]' : '["viewer"]', created, now + 86400 + (index % 3600), "{}");
      token.run(`${hex}${hex}${hex}${hex}`, hex, user, Math.floor(created), Math.floor(created) + 86400, index % 7 === 0 ? "ci" : null, '["viewer"]', created);
      audit.run(created, user, hex, `{"roles":["viewer"],"expires_at":${now + 86400}}`);
    }
  })();
  db.close();
  log(`store: ${N} sessions, ${N} registry entries, ${N} audit events for ${USERS} users, in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
}

// ---- whole listings as JSON --------------------------------------------------------------------
const sessionsJson = await runList(["--store", store, "--json", "session", "list"]);
if (sessionsJson.lines !== N + 2) throw new Error(`session list --json printed ${sessionsJson.lines} lines for ${N} sessions`);
log(`session list --json: ${sessionsJson.wall.toFixed(2)} s, first row at ${sessionsJson.firstLine.toFixed(3)} s, ${sessionsJson.rssMb?.toFixed(0)} MB`);
const tokensJson = await runList(["--store", store, "--json", "token", "list"]);
if (tokensJson.lines !== N + 2) throw new Error(`token list --json printed ${tokensJson.lines} lines for ${N} tokens`);
log(`token list --json: ${tokensJson.wall.toFixed(2)} s, first row at ${tokensJson.firstLine.toFixed(3)} s, ${tokensJson.rssMb?.toFixed(0)} MB`);
const auditJson = await runList(["--store", store, "--json", "audit"]);
if (auditJson.lines !== N) throw new Error(`audit --json printed ${auditJson.lines} lines for ${N} events`);
log(`audit --json: ${auditJson.wall.toFixed(2)} s, ${auditJson.rssMb?.toFixed(0)} MB`);

// ---- human tables against --json, interleaved round by round ------------------------------------
async function ratio(limit, rounds) {
  const ratios = [];
  const walls = { human: [], json: [] };
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 ? ["json", "human"] : ["human", "json"];
    const wall = {};
    for (const kind of order) {
      const args = ["--store", store, ...(kind === "json" ? ["--json"] : []), "session", "list", "--limit", String(limit)];
      wall[kind] = (await runList(args)).wall;
      walls[kind].push(wall[kind]);
    }
    ratios.push(wall.human / wall.json);
  }
  return { ratio: median(ratios), ratios, human: median(walls.human), json: median(walls.json) };
}
// A 1000-row run takes about as long as Node's start-up, where the machine's other work shows
// most: three times the rounds for the median.
const small = await ratio(1000, RUNS * 3);
const BIG = Math.min(N, scaled(100_000, 1000));
const big = await ratio(BIG, RUNS);
log(`human/json --limit 1000: ${small.ratio.toFixed(2)} (${(small.human * 1000).toFixed(0)} vs ${(small.json * 1000).toFixed(0)} ms); --limit ${BIG}: ${big.ratio.toFixed(2)}`);

// ---- audit --user through the index ------------------------------------------------------------
const reader = SqliteSessionStore.open(store, { mode: "read" });
const userTimes = [];
let userEvents = 0;
for (let index = 0; index < 20; index += 1) {
  const started = process.hrtime.bigint();
  userEvents = 0;
  for await (const page of reader.auditPages({ subject: `user-${(index * 37) % USERS}` })) userEvents += page.rows.length;
  userTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
}
await reader.close();
const auditUserCli = await runList(["--store", store, "--json", "audit", "--user", "user-7"]);
const nodeStart = await (async () => {
  const started = process.hrtime.bigint();
  await new Promise((resolve) => spawn(process.execPath, ["-e", "0"]).on("close", resolve));
  return Number(process.hrtime.bigint() - started) / 1e6;
})();
log(`audit --user: ${median(userTimes).toFixed(2)} ms in process (${userEvents} events); CLI ${(auditUserCli.wall * 1000).toFixed(0)} ms`);

// ---- Redis -------------------------------------------------------------------------------------
const redisResult = await benchRedis();

report([
  figure({
    id: "lists.sessions",
    target: "17",
    label: `session list --json over ${N} sessions, whole process`,
    value: Math.round(N / sessionsJson.wall),
    unit: "/s",
    goal: 200_000,
    note: `${sessionsJson.wall.toFixed(2)} s; peak RSS ${sessionsJson.rssMb?.toFixed(0)} MB; first row out at ${(sessionsJson.firstLine * 1000).toFixed(0)} ms (${((100 * sessionsJson.firstLine) / sessionsJson.wall).toFixed(1)}% of the run)`,
    runs: 1,
  }),
  figure({
    id: "lists.tokens",
    target: "17",
    label: `token list --json over ${N} registry entries, whole process`,
    value: Math.round(N / tokensJson.wall),
    unit: "/s",
    goal: 200_000,
    note: `${tokensJson.wall.toFixed(2)} s; peak RSS ${tokensJson.rssMb?.toFixed(0)} MB; first row out at ${(tokensJson.firstLine * 1000).toFixed(0)} ms (${((100 * tokensJson.firstLine) / tokensJson.wall).toFixed(1)}% of the run)`,
    runs: 1,
  }),
  figure({
    id: "lists.rss",
    target: "17",
    label: "peak RSS of session list --json and token list --json (the higher)",
    value: Math.round(Math.max(sessionsJson.rssMb ?? NaN, tokensJson.rssMb ?? NaN)),
    unit: "MB",
    better: "lower",
    goal: 150,
    note: `session list ${sessionsJson.rssMb?.toFixed(0)} MB, token list ${tokensJson.rssMb?.toFixed(0)} MB, audit ${auditJson.rssMb?.toFixed(0)} MB`,
    runs: 1,
  }),
  figure({
    id: "lists.firstRow",
    target: "17",
    label: "first row out, as a share of the whole run (session list --json; token list --json in the note)",
    value: Number(((100 * sessionsJson.firstLine) / sessionsJson.wall).toFixed(2)),
    unit: "%",
    better: "lower",
    goal: 10,
    note: `rows are read 1000 a page, each page written before the next is read; token list: ${((100 * tokensJson.firstLine) / tokensJson.wall).toFixed(2)}%`,
    runs: 1,
  }),
  figure({
    id: "lists.human1000",
    target: "17",
    label: "human session list --limit 1000, wall time vs --json --limit 1000",
    value: small.ratio,
    unit: "x",
    better: "lower",
    goal: 1.5,
    reference: { label: "--json --limit 1000", value: small.json * 1000, unit: "ms" },
    note: `human ${(small.human * 1000).toFixed(0)} ms; per-round ratios ${small.ratios.map((r) => r.toFixed(2)).join(", ")}`,
    runs: RUNS * 3,
  }),
  figure({
    id: "lists.human100k",
    target: "17",
    label: `human session list of ${BIG} rows (piped), wall time vs --json of the same rows`,
    value: big.ratio,
    unit: "x",
    better: "lower",
    goal: 2,
    reference: { label: `--json --limit ${BIG}`, value: big.json * 1000, unit: "ms" },
    note: `human ${(big.human * 1000).toFixed(0)} ms; per-round ratios ${big.ratios.map((r) => r.toFixed(2)).join(", ")}; widths measured per page of 1000 rows, never shrinking`,
    runs: RUNS,
  }),
  figure({
    id: "lists.audit",
    target: "17",
    label: `audit --json over ${N} events, whole process`,
    value: Math.round(N / auditJson.wall),
    unit: "/s",
    goal: 200_000,
    note: `${auditJson.wall.toFixed(2)} s; peak RSS ${auditJson.rssMb?.toFixed(0)} MB`,
    runs: 1,
  }),
  figure({
    id: "lists.auditUser",
    target: "17",
    label: `audit --user: one user's ${userEvents} events of ${N}, through the (subject, id) index (auditPages in process)`,
    value: Number(median(userTimes).toFixed(2)),
    unit: "ms",
    better: "lower",
    goal: 50,
    note: `the whole CLI command \`audit --json --user\`: ${(auditUserCli.wall * 1000).toFixed(0)} ms wall (node -e 0: ${nodeStart.toFixed(0)} ms)`,
    runs: userTimes.length,
  }),
  figure({
    id: "lists.redis",
    target: "17",
    label: `session list --json on Redis (SCAN), ${redisResult.count} sessions, local redis-server, whole process`,
    value: Math.round(redisResult.count / redisResult.wall),
    unit: "/s",
    goal: 50_000,
    note: `${redisResult.wall.toFixed(2)} s; peak RSS ${redisResult.rssMb?.toFixed(0)} MB; SCAN COUNT 1000 and one read-only script call (HGETALL of each key) per page`,
    runs: 1,
  }),
]);
process.exit(0);

async function benchRedis() {
  const port = await new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port: free } = server.address();
      server.close(() => resolve(free));
    });
  });
  const redisDir = tempDir("lists-redis");
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redisDir], {
    stdio: "ignore",
  });
  process.on("exit", () => server.kill("SIGKILL"));
  let client;
  for (let attempt = 0; ; attempt += 1) {
    const candidate = new Redis({ host: "127.0.0.1", port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
    candidate.on("error", () => undefined);
    try {
      await candidate.connect();
      await candidate.ping();
      client = candidate;
      break;
    } catch (error) {
      candidate.disconnect();
      if (attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const count = N;
  const now = Date.now() / 1000;
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < count; offset += 10_000) {
    const pipeline = client.pipeline();
    for (let index = offset; index < Math.min(count, offset + 10_000); index += 1) {
      const id = `redis-bench-${index.toString(36)}-${(index * 2654435761 % 4294967296).toString(36)}`;
      const user = `user-${index % USERS}`;
      // pywry's layout: the session hash and the user's set of session ids.
      pipeline.hset(`pywry:session:${id}`, {
        user_id: user,
        roles: '["viewer"]',
        created_at: String(now - (count - index) / 1000),
        expires_at: String(now + 86400),
        ttl: "86400",
        metadata: "{}",
      });
      pipeline.sadd(`pywry:user:${user}:sessions`, id);
    }
    await pipeline.exec();
  }
  log(`redis: ${count} sessions written in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
  const listed = await runList(["--store", `redis://127.0.0.1:${port}/0`, "--json", "session", "list"]);
  if (listed.lines !== count + 2) throw new Error(`session list on Redis printed ${listed.lines} lines for ${count} sessions`);
  log(`redis session list --json: ${listed.wall.toFixed(2)} s, ${listed.rssMb?.toFixed(0)} MB`);
  client.disconnect();
  server.kill("SIGTERM");
  return { count, wall: listed.wall, rssMb: listed.rssMb };
}
