/**
 * Scans a transcript of CLI runs for leaked credentials (see leaks.ts). Record one by running the
 * end-to-end suite with PYWRY_AUTH_TRANSCRIPT set, then scan it:
 *
 *   PYWRY_AUTH_TRANSCRIPT=/tmp/pywry-auth-runs.ndjson npm test
 *   node .build-test/test/security/scan-transcript.js /tmp/pywry-auth-runs.ndjson
 *
 * Exit 0 when no run printed a secret, token or session id it had no business printing; exit 1
 * with one line per leak otherwise; exit 2 when the transcript is missing or empty.
 */
import { readFileSync } from "node:fs";
import { findLeaks, sensitiveValuesOf, type RecordedRun } from "./leaks.js";

const file = process.argv[2] ?? process.env["PYWRY_AUTH_TRANSCRIPT"];
if (!file) {
  process.stderr.write("usage: scan-transcript.js <transcript.ndjson> (or set PYWRY_AUTH_TRANSCRIPT)\n");
  process.exit(2);
}
let runs: RecordedRun[];
try {
  runs = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as RecordedRun);
} catch (error) {
  process.stderr.write(`cannot read ${file}: ${(error as Error).message}\n`);
  process.exit(2);
}
if (runs.length === 0) {
  process.stderr.write(`${file} records no runs: was the suite run with PYWRY_AUTH_TRANSCRIPT set?\n`);
  process.exit(2);
}
const sensitive = sensitiveValuesOf(runs);
const leaks = findLeaks(runs, sensitive);
const kinds = (kind: string) => sensitive.filter((value) => value.kind === kind).length;
process.stdout.write(
  `scanned ${runs.length} runs for ${kinds("secret")} secrets, ${kinds("token signature")} tokens and ${kinds("session id")} session ids: ` +
    `${leaks.length === 0 ? "no leaks" : `${leaks.length} leaks`}\n`,
);
for (const leak of leaks) process.stdout.write(`${leak}\n`);
process.exit(leaks.length === 0 ? 0 : 1);
