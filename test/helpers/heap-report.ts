/**
 * Preloaded into a CLI process with NODE_OPTIONS=--import: at exit, writes V8's heap space sizes
 * (bytes, by space name) as JSON to the file named by PYWRY_AUTH_HEAP_REPORT.
 */
import { writeFileSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";

const reportFile = process.env["PYWRY_AUTH_HEAP_REPORT"];
if (reportFile) {
  process.on("exit", () => {
    const sizes = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
    writeFileSync(reportFile, JSON.stringify(sizes));
  });
}
