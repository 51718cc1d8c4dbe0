import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/main.js";
import { assertCliError, sandboxFor } from "../helpers/cli.js";

function leaves(command: Command): Command[] {
  const children = command.commands.filter((sub) => sub.name() !== "help");
  return children.length === 0 ? [command] : children.flatMap(leaves);
}

function helpOf(command: Command): string {
  let text = "";
  command.configureOutput({ writeOut: (chunk) => (text += chunk), writeErr: (chunk) => (text += chunk) });
  command.outputHelp();
  return text;
}

describe("help", () => {
  test("every command's --help ends with examples", () => {
    const commands = leaves(buildProgram());
    assert.ok(commands.length >= 25, `only ${commands.length} commands found`);
    for (const command of commands) {
      assert.match(helpOf(command), /\nExamples:\n {2}\$ .*pywry-auth /, `${command.name()} has examples`);
    }
  });

  test("no example passes a token or secret as an argument (argv is visible to every user)", () => {
    for (const command of leaves(buildProgram())) {
      const help = helpOf(command);
      assert.doesNotMatch(help, /\$ pywry-auth (verify|inspect|revoke|token renew) \S*[:]\d+/, command.name());
      assert.doesNotMatch(help, /--secret /, command.name());
    }
  });

  test("an unknown command gets a suggestion, on one line", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["tokn"]), 2, /unknown command 'tokn' \(Did you mean token\?\)/);
  });
});
