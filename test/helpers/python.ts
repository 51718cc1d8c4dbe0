import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fixturesDir } from "./paths.js";

/** Asks the Python reference of pywry's algorithms (test/fixtures/pywry_reference.py). */
export function pywry<T = Record<string, unknown>>(request: Record<string, unknown>): T {
  const output = execFileSync("python3", [join(fixturesDir, "pywry_reference.py")], {
    input: JSON.stringify(request),
    encoding: "utf8",
  });
  return JSON.parse(output) as T;
}
