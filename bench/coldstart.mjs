// Target 2: CLI cold start, as a CI loop sees it (stdout and stderr piped), against `node -e 0`
// in the same rounds. Each round runs every command once, in a rotating order; medians of wall time.
import { join } from "node:path";
import { RUNS, bin, cliEnv, figure, log, median, report, tempDir, wallMs } from "./lib.mjs";

const { generateSessionToken, SqliteSessionStore } = await import(new URL("../dist/index.js", import.meta.url).href);

const home = tempDir("coldstart");
const SECRET = "0f".repeat(32);
const env = cliEnv(home, { PYWRY_AUTH_SECRET: SECRET });
const now = Math.floor(Date.now() / 1000);
const token = generateSessionToken("alice", SECRET, now + 3600, { now: () => now });
const store = join(home, "pywry.db");
(await SqliteSessionStore.open(store)).close();

// 3 spawns per command per run: startup times are noisier than anything else here.
const ROUNDS = Math.max(9, RUNS * 6);
const commands = {
  node: [process.execPath, ["-e", "0"]],
  version: [process.execPath, [bin, "--version"]],
  verifyOffline: [process.execPath, [bin, "verify", "--offline", token]],
  verifyStore: [process.execPath, [bin, "--store", store, "verify", token]],
};
const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
const names = Object.keys(commands);
for (const name of names) wallMs(...commands[name], env); // warm the file cache
for (let round = 0; round < ROUNDS; round += 1) {
  for (let offset = 0; offset < names.length; offset += 1) {
    const name = names[(round + offset) % names.length];
    times[name].push(wallMs(...commands[name], env));
  }
}
const ratios = (name) => {
  // Per-round ratio against the node baseline of the same round, then the median.
  const per = times[name].map((ms, index) => ms / times.node[index]);
  return median(per);
};
const ms = Object.fromEntries(names.map((name) => [name, median(times[name])]));
log(`median wall: ${names.map((name) => `${name} ${ms[name].toFixed(0)} ms`).join(", ")} (${ROUNDS} rounds)`);

report([
  figure({
    id: "coldstart.verify",
    target: "2",
    label: "pywry-auth verify --offline <token>, wall time vs node -e 0",
    value: ratios("verifyOffline"),
    unit: "x",
    better: "lower",
    goal: 1.5,
    reference: { label: "node -e 0", value: Math.round(ms.node), unit: "ms" },
    note: `${Math.round(ms.verifyOffline)} ms; with a SQLite store to consult: ${ratios("verifyStore").toFixed(2)}x (${Math.round(ms.verifyStore)} ms)`,
    runs: ROUNDS,
  }),
  figure({
    id: "coldstart.version",
    target: "2",
    label: "pywry-auth --version, wall time vs node -e 0",
    value: ratios("version"),
    unit: "x",
    better: "lower",
    goal: 1.3,
    reference: { label: "node -e 0", value: Math.round(ms.node), unit: "ms" },
    note: `${Math.round(ms.version)} ms`,
    runs: ROUNDS,
  }),
]);
