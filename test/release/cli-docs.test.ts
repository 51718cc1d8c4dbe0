/**
 * docs/cli.md is generated from the commander definitions (`npm run docs`). These tests keep the
 * checked-in file equal to what the code renders now, so the reference never drifts from the CLI.
 */
import assert from "node:assert/strict";
import type { EventEmitter } from "node:events";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/main.js";
import { EXIT } from "../../src/cli/errors.js";
import { CLI_REFERENCE_PATH, renderCliReference } from "../../src/cli/reference.js";
import { projectRoot } from "../helpers/paths.js";

function checkedIn(path: string): string {
  try {
    return readFileSync(join(projectRoot, path), "utf8");
  } catch {
    assert.fail(`${path} is missing: run \`npm run docs\` and commit it`);
  }
}

/** Every command below `root`, depth first, without commander's implicit `help`. */
function commandsOf(root: Command): Command[] {
  return root.commands.flatMap((child) => [child, ...commandsOf(child)]);
}

function pathOf(command: Command): string {
  const names: string[] = [];
  for (let each: Command | null = command; each; each = each.parent) names.unshift(each.name());
  return names.join(" ");
}

/** The first line where two texts differ, for a failure message a person can act on. */
function firstDifference(expected: string, actual: string): string {
  const want = expected.split("\n");
  const got = actual.split("\n");
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] !== got[i]) return `line ${i + 1}:\n  code renders: ${JSON.stringify(want[i] ?? "(end of file)")}\n  docs/cli.md:  ${JSON.stringify(got[i] ?? "(end of file)")}`;
  }
  return "(no difference)";
}

describe("docs/cli.md, the command reference", () => {
  test("is up to date with the command definitions", async () => {
    const rendered = await renderCliReference();
    const file = checkedIn(CLI_REFERENCE_PATH);
    if (rendered !== file) {
      assert.fail(
        `${CLI_REFERENCE_PATH} is out of date with the CLI's commands: run \`npm run docs\` and commit ${CLI_REFERENCE_PATH}.\n` +
          `First difference, ${firstDifference(rendered, file)}`,
      );
    }
  });

  test("documents every visible command, argument and option, and the exit codes", async () => {
    const program = await buildProgram();
    const text = await renderCliReference(program);
    const help = program.createHelp();
    for (const command of [program, ...commandsOf(program)]) {
      let after = "";
      (command as unknown as EventEmitter).emit("afterHelp", { error: false, command, write: (chunk: string) => (after += chunk) });
      assert.ok(text.includes(after.trim()), `the examples of ${pathOf(command)}`);
      if (command === program) continue;
      assert.ok(text.includes(`\n### ${pathOf(command)}\n`), `a section for ${pathOf(command)}`);
      assert.ok(text.includes(help.commandUsage(command)), `the usage of ${pathOf(command)}`);
      for (const option of help.visibleOptions(command).filter((each) => each.long !== "--help")) {
        assert.ok(text.includes(`\`${help.optionTerm(option).replace(/\|/g, "\\|")}\``), `${pathOf(command)} ${option.flags}`);
      }
      for (const argument of help.visibleArguments(command)) {
        assert.ok(text.includes(argument.name()), `${pathOf(command)} <${argument.name()}>`);
      }
    }
    for (const option of help.visibleOptions(program)) assert.ok(text.includes(`\`${help.optionTerm(option).replace(/\|/g, "\\|")}\``), option.flags);
    assert.equal(text.includes("--secret <value>"), false, "the hidden --secret option stays hidden");
    for (const code of Object.values(EXIT)) assert.match(text, new RegExp(`^\\| ${code} \\| \\S`, "m"), `exit code ${code}`);
  });

  test("changes when a command changes, so a stale file fails the check above", async () => {
    const before = await renderCliReference(await buildProgram());
    const changed = await buildProgram();
    const verify = changed.commands.find((command) => command.name() === "verify");
    assert.ok(verify);
    verify.option("--docs-probe", "a new option nobody documented");
    const after = await renderCliReference(changed);
    assert.notEqual(after, before);
    assert.match(after, /`--docs-probe` \| a new option nobody documented/);
    changed.command("docs-probe").description("a new command");
    assert.match(await renderCliReference(changed), /^### pywry-auth docs-probe$/m);
  });

  test("is never loaded by the CLI at run time", () => {
    const importers: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith(".js") && entry.name !== "reference.js" && /\breference\.js\b/.test(readFileSync(path, "utf8"))) {
          importers.push(relative(projectRoot, path));
        }
      }
    };
    walk(join(projectRoot, "dist"));
    assert.deepEqual(importers, [], "the generator is development tooling; keep the CLI's cold paths cold");
  });
});
