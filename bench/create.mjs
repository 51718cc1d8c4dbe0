// Target 5 (first part): createSession against pywry's per-call commit (a Python re-creation of
// SqliteSessionStore.create_session, bench/pywry_create_baseline.py), same machine, same rounds.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { RUNS, dist, figure, log, median, report, root, tempDir } from "./lib.mjs";

const { SqliteSessionStore } = await import(dist("index.js"));

const COUNT = 5000;
const dir = tempDir("create");
let file = 0;
const fresh = () => join(dir, `store-${(file += 1)}.db`);

function python() {
  const out = execFileSync("python3", [join(root, "bench", "pywry_create_baseline.py"), fresh(), String(COUNT)], { encoding: "utf8" });
  return JSON.parse(out);
}

async function node() {
  const path = fresh();
  const store = SqliteSessionStore.open(path);
  const started = process.hrtime.bigint();
  for (let index = 0; index < COUNT; index += 1) await store.createSession(`node-session-${index}`, `user-${index % 100}`, ["viewer"], 3600);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  return COUNT / elapsed;
}

let pythonSynchronous = null;
await node(); // warm-up
const rounds = [];
// At most 3 rounds: under load, pywry's fsync per call can take 15 s per 5,000 creates.
const ROUNDS = Math.min(RUNS, 3);
for (let round = 0; round < ROUNDS; round += 1) {
  const py = python();
  pythonSynchronous = py.synchronous;
  const js = await node();
  rounds.push({ py: py.per_second, js });
  log(`round ${round + 1}: pywry-style create_session ${Math.round(py.per_second)}/s, createSession ${Math.round(js)}/s`);
}
const levels = ["OFF", "NORMAL", "FULL", "EXTRA"];
report([
  figure({
    id: "store.createSession",
    target: "5",
    label: `createSession, ${COUNT} creates, vs pywry's create_session (Python re-creation, commit per call)`,
    value: median(rounds.map((round) => round.js / round.py)),
    unit: "x",
    goal: 3,
    reference: { label: "pywry-style create_session", value: Math.round(median(rounds.map((round) => round.py))), unit: "/s" },
    note:
      `${Math.round(median(rounds.map((round) => round.js)))} creates/s; pywry-auth: WAL + synchronous=NORMAL for creates (FULL for revocations), ` +
      `the Python baseline: WAL + synchronous=${levels[pythonSynchronous] ?? pythonSynchronous} (the connection's default, as pywry leaves it)`,
    runs: ROUNDS,
  }),
]);
