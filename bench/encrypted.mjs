// Issue 13's figures: the same work on an encrypted store (SQLCipher 4, as pywry's sqlcipher3
// writes it) beside a plain one, in one run. getSession and createSession through the library;
// the middleware's Bearer path through a real HTTP server (bench/middleware-server.mjs, the key
// handed over in its environment, never argv) with autocannon on 127.0.0.1; and createSession on
// the encrypted store against pywry's plain create_session (bench/pywry_create_baseline.py).
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { RUNS, dist, figure, log, median, report, root, scaled, seconds, tempDir } from "./lib.mjs";

const { SqliteSessionStore, generateSessionToken } = await import(dist("index.js"));

const KEY = "bench-key-".padEnd(64, "0");
const SECRET = "0f".repeat(32);
const SESSIONS = scaled(10_000, 100);
const READS = scaled(200_000, 1000);
const CREATES = scaled(5000, 100);
const ROUNDS = Math.min(RUNS, 3);
const DURATION_S = Number(process.env.BENCH_HTTP_SECONDS ?? "5");
const dir = tempDir("encrypted");
let file = 0;
const fresh = () => join(dir, `store-${(file += 1)}.db`);
const open = (path, encrypted, options = {}) => SqliteSessionStore.open(path, encrypted ? { ...options, key: KEY } : options);

/** A store of pywry logins: session id = token. */
async function seeded(encrypted) {
  const path = fresh();
  const store = open(path, encrypted);
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  for (let index = 0; index < SESSIONS; index += 1) {
    const token = generateSessionToken(`user-${index}`, SECRET, now + 3600, { now: () => now });
    await store.createSession(token, `user-${index}`, ["viewer"], 3600);
    tokens.push(token);
  }
  await store.close();
  return { path, tokens };
}

async function readsPerSecond({ path, tokens }, encrypted) {
  const store = open(path, encrypted, { mode: "read" });
  let found = 0;
  const elapsed = await seconds(async () => {
    for (let index = 0; index < READS; index += 1) if (await store.getSession(tokens[(index * 7919) % tokens.length])) found += 1;
  });
  await store.close();
  if (found !== READS) throw new Error(`getSession found ${found} of ${READS}`);
  return READS / elapsed;
}

async function createsPerSecond(encrypted) {
  const store = open(fresh(), encrypted);
  const elapsed = await seconds(async () => {
    for (let index = 0; index < CREATES; index += 1) await store.createSession(`s-${index}`, `user-${index % 100}`, ["viewer"], 3600);
  });
  await store.close();
  return CREATES / elapsed;
}

function pywryCreatesPerSecond() {
  return JSON.parse(execFileSync("python3", [join(root, "bench", "pywry_create_baseline.py"), fresh(), String(CREATES)], { encoding: "utf8" })).per_second;
}

async function bearerRequestsPerSecond({ path, tokens }, encrypted) {
  const env = { ...process.env, ...(encrypted ? { BENCH_SQLITE_KEY: KEY } : {}) };
  const child = spawn(process.execPath, [join(root, "bench", "middleware-server.mjs"), "auth", path, SECRET], { stdio: ["ignore", "pipe", "inherit"], env });
  const [line] = await once(createInterface({ input: child.stdout }), "line");
  const { port } = JSON.parse(line);
  try {
    let next = 0;
    const options = {
      url: `http://127.0.0.1:${port}/api/widgets`,
      connections: 16,
      duration: DURATION_S,
      maxOverallRequests: 2_000_000,
      requests: [{ setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${tokens[(next += 1) % tokens.length]}` } }) }],
    };
    await autocannon({ ...options, duration: 1 });
    const result = await autocannon(options);
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result.requests.average;
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

const stores = { plain: await seeded(false), encrypted: await seeded(true) };
await readsPerSecond(stores.plain, false); // warm-up
await createsPerSecond(true);
const rounds = [];
for (let round = 0; round < ROUNDS; round += 1) {
  // Alternate which side goes first, so a machine getting busier does not always favour one.
  const order = round % 2 === 0 ? [false, true] : [true, false];
  const r = { read: {}, create: {}, bearer: {} };
  for (const encrypted of order) {
    const side = encrypted ? "encrypted" : "plain";
    r.read[side] = await readsPerSecond(stores[side], encrypted);
    r.create[side] = await createsPerSecond(encrypted);
    r.bearer[side] = await bearerRequestsPerSecond(stores[side], encrypted);
  }
  r.pywry = pywryCreatesPerSecond();
  rounds.push(r);
  log(
    `round ${round + 1}: getSession ${Math.round(r.read.plain)}/s plain, ${Math.round(r.read.encrypted)}/s encrypted; ` +
      `createSession ${Math.round(r.create.plain)}/s plain, ${Math.round(r.create.encrypted)}/s encrypted, pywry-style ${Math.round(r.pywry)}/s; ` +
      `Bearer ${Math.round(r.bearer.plain)} req/s plain, ${Math.round(r.bearer.encrypted)} req/s encrypted`,
  );
}

const ratio = (pick) => median(rounds.map(pick));
const perSecond = (values) => Math.round(median(values));
report([
  figure({
    id: "encrypted.getSession",
    target: "13a",
    label: `getSession on an encrypted store (SQLCipher 4) vs the same ${SESSIONS} sessions plain`,
    value: ratio((r) => r.read.encrypted / r.read.plain),
    unit: "x",
    goal: 0.8,
    reference: { label: "plain store", value: perSecond(rounds.map((r) => r.read.plain)), unit: "/s" },
    note: `${perSecond(rounds.map((r) => r.read.encrypted))} reads/s encrypted; decrypted pages stay in SQLite's page cache`,
    runs: ROUNDS,
  }),
  figure({
    id: "encrypted.createSession.vsPlain",
    target: "13b",
    label: `createSession on an encrypted store vs a plain one (${CREATES} creates)`,
    value: ratio((r) => r.create.encrypted / r.create.plain),
    unit: "x",
    goal: 0.3,
    reference: { label: "plain store", value: perSecond(rounds.map((r) => r.create.plain)), unit: "/s" },
    note: "every commit encrypts and MACs the pages it writes (AES-256 + HMAC-SHA512 per 4 KiB page)",
    runs: ROUNDS,
  }),
  figure({
    id: "encrypted.createSession.vsPywry",
    target: "13c",
    label: "createSession on an encrypted store vs pywry's plain create_session (Python re-creation, commit per call)",
    value: ratio((r) => r.create.encrypted / r.pywry),
    unit: "x",
    goal: 3,
    reference: { label: "pywry-style create_session, plain", value: perSecond(rounds.map((r) => r.pywry)), unit: "/s" },
    note: `${perSecond(rounds.map((r) => r.create.encrypted))} creates/s encrypted`,
    runs: ROUNDS,
  }),
  figure({
    id: "encrypted.middleware",
    target: "13d",
    label: `requests/s through createAuthMiddleware (Bearer) on an encrypted store vs the plain one (${SESSIONS} tokens)`,
    value: ratio((r) => r.bearer.encrypted / r.bearer.plain),
    unit: "x",
    goal: 0.8,
    reference: { label: "plain store", value: perSecond(rounds.map((r) => r.bearer.plain)), unit: "req/s" },
    note: `per-round ratios ${rounds.map((r) => (r.bearer.encrypted / r.bearer.plain).toFixed(2)).join(", ")}; autocannon, 127.0.0.1, 16 connections, ${DURATION_S} s per run`,
    runs: ROUNDS,
  }),
]);
