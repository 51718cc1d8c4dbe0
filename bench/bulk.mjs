// Targets 4 and 5 (store reads): a million sessions (BENCH_SCALE scales it) imported with
// `session import`, exported with `session export`, read back with getSession and
// listUserSessions, then all expired and purged with `session purge`.
import { closeSync, copyFileSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3-multiple-ciphers";
import { bin, cliEnv, dist, figure, log, median, report, runCli, scaled, tempDir, wallMs } from "./lib.mjs";

const { SqliteSessionStore } = await import(dist("index.js"));

const N = scaled(1_000_000, 1000);
const USERS = Math.max(10, Math.round(N / 100));
const dir = tempDir("bulk");
const env = cliEnv(dir);
const now = Date.now() / 1000;

const file = join(dir, "sessions.ndjson");
const ids = [];
{
  const fd = openSync(file, "w");
  let chunk = "";
  for (let index = 0; index < N; index += 1) {
    const id = `${index.toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    if (index % 97 === 0) ids.push(id);
    chunk += `${JSON.stringify({
      session_id: id,
      user_id: `user-${index % USERS}`,
      roles: index % 10 === 0 ? ["editor", "viewer"] : ["viewer"],
      created_at: now - (N - index) / 1000,
      expires_at: now + 86400 + (index % 3600),
      metadata: index % 50 === 0 ? { permissions: { "widget:w1": ["read"] } } : {},
    })}\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = "";
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}
log(`${N} sessions for ${USERS} users written as NDJSON`);

const store = join(dir, "pywry.db");
const imported = await runCli(["--store", store, "session", "import", file], { env });
if (imported.code !== 0) throw new Error(`session import failed (${imported.code}): ${imported.stderr}`);
log(`import: ${imported.wall.toFixed(1)} s, ${Math.round(N / imported.wall)}/s, ${imported.rssMb?.toFixed(0)} MB`);

const devNull = openSync("/dev/null", "w");
const exported = await runCli(["--store", store, "session", "export"], { env, stdoutFd: devNull });
// The same command for one user's ~100 sessions: what the process needs without the streaming.
const exportedOne = await runCli(["--store", store, "session", "export", "--user", "user-7"], { env, stdoutFd: devNull });
closeSync(devNull);
if (exported.code !== 0) throw new Error(`session export failed (${exported.code}): ${exported.stderr}`);
log(`export: ${exported.wall.toFixed(1)} s, ${Math.round(N / exported.wall)}/s, ${exported.rssMb?.toFixed(0)} MB`);

// Library reads on the million-session store: getSession as a server would open the store
// (a page cache big enough for the index, cacheSizeMb), and with SQLite's default 2 MiB cache.
async function getSessionRate(options) {
  const reader = SqliteSessionStore.open(store, { mode: "read", ...options });
  const gets = Math.min(ids.length * 10, 100_000);
  for (let index = 0; index < gets; index += 1) await reader.getSession(ids[(index * 31) % ids.length]); // warm-up
  const rates = [];
  for (let round = 0; round < 3; round += 1) {
    const started = process.hrtime.bigint();
    let found = 0;
    for (let index = 0; index < gets; index += 1) if (await reader.getSession(ids[(index * 7919) % ids.length])) found += 1;
    rates.push(gets / (Number(process.hrtime.bigint() - started) / 1e9));
    if (found !== gets) throw new Error(`getSession found ${found} of ${gets}`);
  }
  await reader.close();
  return { rate: median(rates), gets };
}
const tuned = await getSessionRate({ cacheSizeMb: 256 });
const untuned = await getSessionRate({});
const GETS = tuned.gets;
const getRates = [tuned.rate];
const reader = SqliteSessionStore.open(store, { mode: "read" });
const listTimes = [];
for (let index = 0; index < 20; index += 1) {
  const started = process.hrtime.bigint();
  const sessions = await reader.listUserSessions(`user-${(index * 37) % USERS}`);
  listTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
  if (sessions.length === 0) throw new Error("listUserSessions found nothing");
}
await reader.close();
const cliList = median([0, 1, 2].map(() => wallMs(process.execPath, [bin, "--store", store, "session", "list", "--user", "user-7"], env)));
const nodeStart = median([0, 1, 2].map(() => wallMs(process.execPath, ["-e", "0"], env)));
log(`getSession ${Math.round(median(getRates))}/s (default cache ${Math.round(untuned.rate)}/s); listUserSessions ${median(listTimes).toFixed(2)} ms; CLI session list --user ${cliList.toFixed(0)} ms`);

// Purge: a copy of the store with every session expired.
const purgeStore = join(dir, "expired.db");
copyFileSync(store, purgeStore);
{
  const db = new Database(purgeStore);
  db.exec("UPDATE sessions SET expires_at = 1000");
  db.close();
}
const purged = await runCli(["--store", purgeStore, "session", "purge", "--yes"], { env });
if (purged.code !== 0 || !purged.stdout.includes(`purged ${N} expired sessions`)) {
  throw new Error(`session purge: exit ${purged.code}: ${purged.stdout}${purged.stderr}`);
}
log(`purge: ${purged.wall.toFixed(1)} s (${purged.rssMb?.toFixed(0)} MB)`);

report([
  figure({
    id: "bulk.import",
    target: "4",
    label: `session import of ${N} NDJSON sessions into a new SQLite store (batches of 5000)`,
    value: Math.round(N / imported.wall),
    unit: "/s",
    goal: 50_000,
    note: `${imported.wall.toFixed(1)} s for the whole process, peak RSS ${imported.rssMb?.toFixed(0)} MB`,
    runs: 1,
  }),
  figure({
    id: "bulk.export",
    target: "4",
    label: `session export streams: peak RSS exporting all ${N} sessions minus exporting one user's`,
    value: Math.round((exported.rssMb ?? NaN) - (exportedOne.rssMb ?? NaN)),
    unit: "MB",
    better: "lower",
    // Holding a million sessions would take several hundred MB; streaming stays within V8's
    // young generation (2 x 16 MB by default) and a few buffers.
    goal: 64,
    note: `${Math.round(N / exported.wall)} sessions/s, ${exported.wall.toFixed(1)} s; peak RSS ${exported.rssMb?.toFixed(0)} MB (one user: ${exportedOne.rssMb?.toFixed(0)} MB); sessions are read 1000 at a time`,
    runs: 1,
  }),
  figure({
    id: "bulk.purge",
    target: "4",
    label: `session purge --yes of ${N} expired rows, wall time`,
    value: Number(purged.wall.toFixed(2)),
    unit: "s",
    better: "lower",
    goal: 10,
    note: `batches of 100,000 rows with a 64 MiB page cache, one audited transaction each; progress on stderr at a terminal; peak RSS ${purged.rssMb?.toFixed(0)} MB`,
    runs: 1,
  }),
  figure({
    id: "store.getSession",
    target: "5",
    label: `getSession on the ${N}-session store, ${GETS} random look-ups, opened with cacheSizeMb: 256 (the whole store in cache)`,
    value: Math.round(median(getRates)),
    unit: "/s",
    goal: 100_000,
    note: `with SQLite's default 2 MiB page cache: ${Math.round(untuned.rate)}/s`,
    runs: 3,
  }),
  figure({
    id: "store.listUser",
    target: "5",
    label: `listUserSessions (session list --user) on the ${N}-session store, ~${Math.round(N / USERS)} sessions per user`,
    value: Number(median(listTimes).toFixed(2)),
    unit: "ms",
    better: "lower",
    goal: 50,
    note: `the whole CLI command \`session list --user\`: ${cliList.toFixed(0)} ms wall (node -e 0: ${nodeStart.toFixed(0)} ms)`,
    runs: listTimes.length,
  }),
]);
