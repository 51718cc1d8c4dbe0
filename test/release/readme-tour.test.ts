/**
 * The tours (README.md's 60-second tour, and docs/tour.md, every command), each run top to bottom
 * in a fresh HOME, print what the document shows. Each
 * `$ command` of a console block runs in one bash session (so `T=$(...)` carries on to the next
 * command), with `pywry-auth` and `npx pywry-auth` being this checkout's CLI; its output (stdout
 * and stderr, in the order written) must equal the lines shown under it, after what changes from
 * run to run (times, handles, the home directory, the OS user) is put in a normal form.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { binPath, projectRoot } from "../helpers/paths.js";

interface Step {
  command: string;
  expected: string[];
}

/** The console blocks of the section headed `heading` (up to the next `## ` heading), or of the whole text. */
export function tourSteps(readme: string, heading?: string): Step[] {
  let section = readme;
  if (heading !== undefined) {
    const start = readme.indexOf(`\n${heading}\n`);
    assert.ok(start >= 0, `no section ${heading}`);
    const end = readme.indexOf("\n## ", start + heading.length + 2);
    section = readme.slice(start, end < 0 ? undefined : end);
  }
  const steps: Step[] = [];
  for (const [, block] of section.matchAll(/```console\n([\s\S]*?)```/g)) {
    for (const line of (block ?? "").split("\n")) {
      if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
      else if (line.trim() !== "") steps.at(-1)?.expected.push(line);
    }
  }
  return steps;
}

/** Runs the steps in one bash session in a fresh HOME; returns each step's output lines. */
function runTour(steps: readonly Step[]): string[][] {
  const home = mkdtempSync(join(tmpdir(), "pywry-auth-tour-"));
  try {
    const script = [
      `pywry-auth() { ${JSON.stringify(process.execPath)} ${JSON.stringify(binPath)} "$@"; }`,
      'npx() { "$@"; }',
      `cd ${JSON.stringify(home)}`,
      ...steps.flatMap((step, index) => [`printf '\\n@@step ${index}@@\\n'`, `{ ${step.command}\n} 2>&1`]),
      // A tour may end on a command that says no (exit 1); what it printed is what is compared.
      "exit 0",
    ].join("\n");
    const output = execFileSync("bash", ["-c", script], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home, USER: userInfo().username },
      encoding: "utf8",
      timeout: 120_000,
    });
    const byStep = output.split(/\n@@step \d+@@\n/).slice(1);
    return byStep.map((text) => normalise(text, home));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Lines without what differs between runs; blank lines dropped, runs of spaces made one. */
function normalise(text: string, home?: string): string[] {
  let result = text;
  if (home !== undefined) result = result.split(home).join("~");
  result = result
    .replace(/\/home\/you/g, "~")
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/g, "<time>")
    .replace(/\((?:in )?\d+[dhms](?: \d+[dhms])?(?: ago)?\)/g, "(<relative>)")
    .replace(/\b[0-9a-f]{16}\b/g, "<handle>")
    .replace(/\b1\d{9}(?:\.\d+)?\b/g, "<unix>")
    .replace(/in \d+(?:\.\d+)? s \(\d+ tokens\/s\)/g, "in <seconds> s (<rate> tokens/s)");
  const user = userInfo().username;
  return result
    .split("\n")
    .map((line) => (home === undefined ? line : line.replace(new RegExp(`(\\s)${user}(\\s)`, "g"), "$1you$2")))
    .map((line) => line.replace(/\s+/g, " ").trim())
    .filter((line) => line !== "");
}

const TOURS: ReadonlyArray<{ file: string; heading?: string }> = [
  { file: "README.md", heading: "## The 60-second tour" },
  { file: "docs/tour.md" },
];

describe("the tours, run in a fresh HOME", () => {
  for (const { file, heading } of TOURS) {
    const name = heading === undefined ? file : `${file}, ${heading.slice(3)}`;
    test(`${name}: every command prints what the document shows`, () => {
      const steps = tourSteps(readFileSync(join(projectRoot, file), "utf8"), heading);
      assert.ok(steps.length >= 5, `${name}: only ${steps.length} commands found`);
      const outputs = runTour(steps);
      assert.equal(outputs.length, steps.length);
      steps.forEach((step, index) => {
        assert.deepEqual(outputs[index], normalise(step.expected.join("\n")), `$ ${step.command}`);
      });
    });
  }
});
