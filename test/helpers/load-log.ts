/**
 * Preloaded into a CLI process with NODE_OPTIONS=--import: appends every module request the
 * process makes (CommonJS require and ES import alike) to the file named by
 * PYWRY_AUTH_LOAD_LOG, one per line, so a test can tell what a command loaded.
 */
import { appendFileSync } from "node:fs";
import Module, { register } from "node:module";

const logFile = process.env["PYWRY_AUTH_LOAD_LOG"];
if (logFile) {
  register(new URL("./load-log-hooks.js", import.meta.url), { data: { logFile } });
  const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = loader._load;
  loader._load = function logged(this: unknown, request: string, ...rest: unknown[]) {
    appendFileSync(logFile, `${request}\n`);
    return load.call(this, request, ...rest);
  };
}
