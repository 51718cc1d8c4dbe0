/** The ES module side of load-log.ts: a resolve hook that records each specifier. */
import { appendFileSync } from "node:fs";

let logFile = "";

export function initialize(data: { logFile: string }): void {
  logFile = data.logFile;
}

export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<unknown>,
): Promise<unknown> {
  appendFileSync(logFile, `${specifier}\n`);
  return next(specifier, context);
}
