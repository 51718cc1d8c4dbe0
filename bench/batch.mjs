// Target 3: `verify --stdin` on a million tokens (BENCH_SCALE scales it): tokens/s offline and
// with revocation checks against SQLite, peak RSS, and the exit code (0 only if all are valid).
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3-multiple-ciphers";
import { RUNS, cliEnv, dist, figure, log, median, report, runCli, scaled, tempDir } from "./lib.mjs";

const { generateSessionToken, SqliteSessionStore, sha256Hex } = await import(dist("index.js"));

const N = scaled(1_000_000, 1000);
const SECRET = "0f".repeat(32);
const dir = tempDir("batch");
const env = cliEnv(dir, { PYWRY_AUTH_SECRET: SECRET });
const now = Math.floor(Date.now() / 1000);

// The tokens: distinct users, issue and expiry times; 1% of them revoked in the store.
const tokensFile = join(dir, "tokens.txt");
const revokedHashes = [];
{
  const fd = openSync(tokensFile, "w");
  let chunk = "";
  for (let index = 0; index < N; index += 1) {
    const token = generateSessionToken(`user-${index}`, SECRET, now + 86400 + (index % 5000), { now: () => now - (index % 3600) });
    if (index % 100 === 50) revokedHashes.push(sha256Hex(token));
    chunk += `${token}\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = "";
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}
const store = join(dir, "pywry.db");
(await SqliteSessionStore.open(store)).close();
{
  const db = new Database(store);
  db.transaction(() => {
    const revoke = db.prepare("INSERT INTO pywry_auth_revocations (token_hash, accessor, subject, revoked_at, expires_at, reason) VALUES (?, ?, NULL, ?, NULL, NULL)");
    for (const hash of revokedHashes) revoke.run(hash, hash.slice(0, 16), now);
    const cutoff = db.prepare("INSERT INTO pywry_auth_user_cutoffs (user_id, cutoff_at, reason) VALUES (?, ?, NULL)");
    for (let index = 0; index < 1000; index += 1) cutoff.run(`someone-else-${index}`, now);
  })();
  db.close();
}
log(`${N} tokens (${revokedHashes.length} revoked in the store) written`);

async function run(args) {
  const stdinFd = openSync(tokensFile, "r");
  const stdoutFd = openSync("/dev/null", "w");
  try {
    return await runCli(args, { env, stdinFd, stdoutFd });
  } finally {
    closeSync(stdinFd);
    closeSync(stdoutFd);
  }
}

const BATCH_RUNS = Math.min(RUNS, 3);
const offline = [];
const withStore = [];
for (let round = 0; round < BATCH_RUNS; round += 1) {
  const a = await run(["verify", "--stdin", "--offline"]);
  if (a.code !== 0) throw new Error(`offline: every token is valid, but the exit code was ${a.code}: ${a.stderr}`);
  offline.push(a);
  const b = await run(["--store", store, "verify", "--stdin"]);
  if (b.code !== 1 || !b.stderr.includes(`ERR_TOKEN_REVOKED ${revokedHashes.length}`)) {
    throw new Error(`with the store: expected exit 1 and ${revokedHashes.length} revoked, got exit ${b.code}: ${b.stderr}`);
  }
  withStore.push(b);
  log(`round ${round + 1}: offline ${Math.round(N / a.wall)}/s (${a.rssMb?.toFixed(0)} MB), with SQLite ${Math.round(N / b.wall)}/s (${b.rssMb?.toFixed(0)} MB)`);
}
const rss = Math.max(...[...offline, ...withStore].map((result) => result.rssMb ?? Infinity));
const summary = withStore[0].stderr.trim().split("\n").at(-1);

report([
  figure({
    id: "batch.offline",
    target: "3",
    label: `verify --stdin --offline, ${N} tokens, wall time of the whole process`,
    value: Math.round(median(offline.map((result) => N / result.wall))),
    unit: "/s",
    goal: 200_000,
    note: "exit 0 (all valid), NDJSON to /dev/null",
    runs: BATCH_RUNS,
  }),
  figure({
    id: "batch.sqlite",
    target: "3",
    label: `verify --stdin with revocation checks against SQLite, ${N} tokens`,
    value: Math.round(median(withStore.map((result) => N / result.wall))),
    unit: "/s",
    goal: 100_000,
    note: `exit 1 as expected (1% revoked); stderr: ${summary}`,
    runs: BATCH_RUNS,
  }),
  figure({
    id: "batch.rss",
    target: "3",
    label: `peak RSS of verify --stdin over ${N} tokens (highest of all runs)`,
    value: Math.round(rss),
    unit: "MB",
    better: "lower",
    goal: 100,
    note: `offline runs: ${Math.round(Math.max(...offline.map((r) => r.rssMb ?? Infinity)))} MB, with SQLite: ${Math.round(Math.max(...withStore.map((r) => r.rssMb ?? Infinity)))} MB; most of it is Node itself; the young generation is held at 8 MiB (2 x 16 MiB uncapped)`,
    runs: BATCH_RUNS * 2,
  }),
]);
