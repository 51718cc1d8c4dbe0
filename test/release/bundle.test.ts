/**
 * bin/pywry-auth runs dist/pywry-auth.cjs, which scripts/bundle-cli.mjs makes from the compiled
 * dist/ (`npm run build` does both). A bundle older than what it was made from would run stale
 * code while every library test passes.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { projectRoot } from "../helpers/paths.js";

function compiledFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return compiledFiles(path);
    return entry.name.endsWith(".js") ? [path] : [];
  });
}

describe("the CLI bundle", () => {
  test("is no older than any compiled file it is made from (run `npm run build`, not tsc alone)", () => {
    const dist = join(projectRoot, "dist");
    const bundled = statSync(join(dist, "pywry-auth.cjs")).mtimeMs;
    const newer = compiledFiles(dist).filter((path) => statSync(path).mtimeMs > bundled);
    assert.deepEqual(newer, [], "compiled after the bundle was made");
  });
});
