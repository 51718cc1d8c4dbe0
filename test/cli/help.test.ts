import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Command } from "commander";
import { buildProgram, commandNamed } from "../../src/cli/main.js";
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
  test("every command's --help ends with examples", async () => {
    const commands = leaves(await buildProgram());
    assert.ok(commands.length >= 25, `only ${commands.length} commands found`);
    for (const command of commands) {
      assert.match(helpOf(command), /\nExamples:\n {2}\$ .*pywry-auth /, `${command.name()} has examples`);
    }
  });

  test("no example passes a token or secret as an argument (argv is visible to every user)", async () => {
    for (const command of leaves(await buildProgram())) {
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

describe("declaring only the command being run", () => {
  const argv = (...args: string[]) => ["node", "pywry-auth", ...args];

  test("finds the top-level command, skipping the root options and their values", () => {
    assert.equal(commandNamed(argv("verify", "-")), "verify");
    assert.equal(commandNamed(argv("--json", "token", "create", "--user", "alice")), "token");
    assert.equal(commandNamed(argv("--store", "verify", "session", "list")), "session", "--store's value is not the command");
    assert.equal(commandNamed(argv("--secret-file", "roles", "--field", "can", "widget-token", "w1")), "widget-token");
    assert.equal(commandNamed(argv("--store=verify", "session", "list")), "session");
    assert.equal(commandNamed(argv("verify", "--help")), "verify", "a command's own help needs only that command");
  });

  test("declares everything for the root's help, `help`, `--`, an unknown name or no command", () => {
    for (const args of [[], ["--help"], ["-h", "verify"], ["help", "verify"], ["--", "verify"], ["verfy"], ["--json"]]) {
      assert.equal(commandNamed(argv(...args)), undefined, args.join(" "));
    }
  });

  test("each command declared alone is exactly the same command as in the whole program", async () => {
    const whole = await buildProgram();
    const groups = whole.commands.filter((sub) => sub.name() !== "help");
    assert.ok(groups.length >= 15, `only ${groups.length} top-level commands`);
    for (const group of groups) {
      const alone = await buildProgram(group.name());
      assert.deepEqual(alone.commands.map((sub) => sub.name()), [group.name()]);
      assert.deepEqual(leaves(alone).map(helpOf), leaves(group).map(helpOf), group.name());
    }
  });

  test("a mistake after the command still gets the whole program's message and suggestion", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["token", "creat"]), 2, /unknown command 'creat' \(Did you mean create\?\)/);
    assertCliError(await sb.run(["verify", "--bogus"]), 2, /unknown option '--bogus'/);
    assertCliError(await sb.run(["--store", "x.db", "sesion", "list"]), 2, /unknown command 'sesion' \(Did you mean session\?\)/);
  });
});

