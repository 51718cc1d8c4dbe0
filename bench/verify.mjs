// Target 1: verify throughput in process, against a bare loop of Node's own HMAC-SHA256 over the
// same payloads, measured side by side (rounds interleaved; medians of the per-round ratios).
import { createHmac, createSecretKey } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3-multiple-ciphers";
import { RUNS, dist, figure, log, median, report, scaled, tempDir } from "./lib.mjs";

const { generateSessionToken, validateSessionToken, verifyToken, SqliteSessionStore, sha256Hex } = await import(dist("index.js"));

const N = scaled(200_000, 1000);
const SECRET = "0f".repeat(32);
const NOW = 1_764_000_000;
// The clock every timed call is given (one function, so a call allocates no more than before).
const CLOCK = () => NOW;
const tokens = Array.from({ length: N }, (_, index) => generateSessionToken(`user-${index}`, SECRET, NOW + 3600 + index, { now: () => NOW - (index % 1000) }));
const payloads = tokens.map((token) => token.slice(0, token.lastIndexOf(":")));

// A store with revocations and user cut-offs to look through (none of them hits these tokens,
// which is the common case: almost every token checked was never revoked).
const dir = tempDir("verify");
const path = join(dir, "pywry.db");
(await SqliteSessionStore.open(path)).close();
const db = new Database(path);
db.transaction(() => {
  const revoke = db.prepare("INSERT INTO pywry_auth_revocations (token_hash, accessor, subject, revoked_at, expires_at, reason) VALUES (?, ?, ?, ?, ?, NULL)");
  for (let index = 0; index < 10_000; index += 1) {
    const hash = sha256Hex(`revoked-${index}`);
    revoke.run(hash, hash.slice(0, 16), `other-${index}`, NOW, NOW + 86400);
  }
  const cutoff = db.prepare("INSERT INTO pywry_auth_user_cutoffs (user_id, cutoff_at, reason) VALUES (?, ?, NULL)");
  for (let index = 0; index < 1000; index += 1) cutoff.run(`cut-${index}`, NOW);
})();
db.close();
const store = SqliteSessionStore.open(path, { mode: "read" });

// The bare loop two ways, the secret as a string and as an imported KeyObject (no per-call key
// set-up); the faster of the two, round by round, is the reference.
const KEY = createSecretKey(Buffer.from(SECRET, "utf8"));

function bareHmacStringKey() {
  let sink = 0;
  for (let index = 0; index < N; index += 1) sink ^= createHmac("sha256", SECRET).update(payloads[index]).digest()[0];
  return sink;
}

function bareHmacKeyObject() {
  let sink = 0;
  for (let index = 0; index < N; index += 1) sink ^= createHmac("sha256", KEY).update(payloads[index]).digest()[0];
  return sink;
}

async function bareHmac() {
  return Math.max(await rate(bareHmacStringKey), await rate(bareHmacKeyObject));
}

function validate() {
  let valid = 0;
  for (let index = 0; index < N; index += 1) if (validateSessionToken(tokens[index], SECRET, { now: CLOCK }).valid) valid += 1;
  if (valid !== N) throw new Error(`only ${valid} of ${N} tokens validated`);
}

async function verifyWithStore() {
  let valid = 0;
  for (let index = 0; index < N; index += 1) if ((await verifyToken(tokens[index], { secrets: SECRET, store, now: CLOCK })).valid) valid += 1;
  if (valid !== N) throw new Error(`only ${valid} of ${N} tokens verified`);
}

async function rate(work) {
  const started = process.hrtime.bigint();
  await work();
  return N / (Number(process.hrtime.bigint() - started) / 1e9);
}

// Warm-up: JIT, the prepared key, the prepared statements.
await bareHmac();
await rate(validate);
await rate(verifyWithStore);

const rounds = [];
for (let round = 0; round < RUNS; round += 1) {
  const hmac = await bareHmac();
  const plain = await rate(validate);
  const withStore = await rate(verifyWithStore);
  const hmacAfter = await bareHmac();
  const reference = (hmac + hmacAfter) / 2;
  rounds.push({ hmac: reference, plain, withStore });
  log(`round ${round + 1}: bare HMAC ${Math.round(reference)}/s, validateSessionToken ${Math.round(plain)}/s, verifyToken+SQLite ${Math.round(withStore)}/s`);
}
await store.close();

const hmacRate = median(rounds.map((round) => round.hmac));
report([
  figure({
    id: "verify.inprocess",
    target: "1",
    label: `validateSessionToken, ${N} distinct tokens, vs bare createHmac loop`,
    value: median(rounds.map((round) => round.plain / round.hmac)),
    unit: "x",
    goal: 0.9,
    reference: { label: "the faster bare createHmac loop (string key or KeyObject)", value: Math.round(hmacRate), unit: "/s" },
    note: `${Math.round(median(rounds.map((round) => round.plain)))} tokens/s`,
    runs: RUNS,
  }),
  figure({
    id: "verify.sqlite",
    target: "1",
    label: "verifyToken with the SQLite revocation check, vs the same HMAC loop",
    value: median(rounds.map((round) => round.withStore / round.hmac)),
    unit: "x",
    goal: 0.5,
    reference: { label: "the faster bare createHmac loop (string key or KeyObject)", value: Math.round(hmacRate), unit: "/s" },
    note: `${Math.round(median(rounds.map((round) => round.withStore)))} tokens/s (10,000 revocations, 1,000 cut-offs in the store)`,
    runs: RUNS,
  }),
]);
