// Target 6: requests/s through createAuthMiddleware (Bearer token, SQLite store) against the same
// server without auth, with autocannon on loopback only (127.0.0.1), each run bounded in time
// and in request count. The server runs in its own process; runs alternate plain/auth.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { RUNS, dist, figure, log, median, report, root, tempDir } from "./lib.mjs";

const { SqliteSessionStore, generateSessionToken } = await import(dist("index.js"));

const SECRET = "0f".repeat(32);
const DURATION_S = Number(process.env.BENCH_HTTP_SECONDS ?? "5");
const MAX_REQUESTS = 2_000_000;
const CONNECTIONS = 16;
const TOKENS = 1000;

// pywry's login: a token per user, and a session whose id is the token.
const dir = tempDir("middleware");
const storePath = join(dir, "pywry.db");
const store = SqliteSessionStore.open(storePath);
const now = Math.floor(Date.now() / 1000);
const tokens = [];
for (let index = 0; index < TOKENS; index += 1) {
  const token = generateSessionToken(`user-${index}`, SECRET, now + 3600, { now: () => now });
  await store.createSession(token, `user-${index}`, ["viewer"], 3600);
  tokens.push(token);
}
await store.close();

async function startServer(mode) {
  const child = spawn(process.execPath, [join(root, "bench", "middleware-server.mjs"), mode, storePath, SECRET], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = await once(createInterface({ input: child.stdout }), "line");
  return { child, port: JSON.parse(line).port };
}

async function load(mode) {
  const { child, port } = await startServer(mode);
  try {
    let next = 0;
    const options = {
      url: `http://127.0.0.1:${port}/api/widgets`,
      connections: CONNECTIONS,
      pipelining: 1,
      duration: DURATION_S,
      maxOverallRequests: MAX_REQUESTS,
      requests: [
        {
          // Each request carries the next token of the pool (distinct tokens, distinct sessions).
          setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${tokens[(next += 1) % TOKENS]}` } }),
        },
      ],
    };
    // A short warm-up (JIT, SQLite page cache), then the measured run.
    await autocannon({ ...options, duration: 1 });
    const result = await autocannon(options);
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${mode}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result.requests.average;
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

// Rounds alternate which server goes first (plain, auth; auth, plain; ...), so that a machine
// getting busier or quieter during a round does not always favour the same side.
const rounds = [];
for (let round = 0; round < RUNS; round += 1) {
  let plain;
  let auth;
  if (round % 2 === 0) {
    plain = await load("plain");
    auth = await load("auth");
  } else {
    auth = await load("auth");
    plain = await load("plain");
  }
  rounds.push({ plain, auth });
  log(`round ${round + 1}: without auth ${Math.round(plain)} req/s, with createAuthMiddleware ${Math.round(auth)} req/s`);
}

report([
  figure({
    id: "http.middleware",
    target: "6",
    label: `requests/s through createAuthMiddleware (Bearer, SQLite store, ${TOKENS} tokens) vs the same server without auth`,
    value: median(rounds.map((round) => round.auth / round.plain)),
    unit: "x",
    goal: 0.8,
    reference: { label: "the same server without auth", value: Math.round(median(rounds.map((round) => round.plain))), unit: "req/s" },
    note: `per-round ratios ${rounds.map((round) => (round.auth / round.plain).toFixed(2)).join(", ")}; autocannon, 127.0.0.1, ${CONNECTIONS} connections, ${DURATION_S} s per run (at most ${MAX_REQUESTS} requests), server and load generator sharing the 2 cores`,
    runs: rounds.length,
  }),
]);
