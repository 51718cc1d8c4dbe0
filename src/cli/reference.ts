/**
 * The `pywry-auth` command reference (docs/cli.md), rendered from the command definitions
 * (commands/*.ts, gathered by main.ts) so the documentation cannot drift from the code. `npm run docs` writes it; a test
 * renders it afresh and compares it with the checked-in file.
 *
 * Development tooling only: the CLI never imports this module, and it is left out of the npm
 * package (see "files" in package.json).
 */
import type { EventEmitter } from "node:events";
import type { Argument, Command, Help, Option } from "commander";
import { TOKEN_ERROR_CODES } from "../core/errors.js";
import { buildProgram } from "./main.js";
import { EXIT } from "./errors.js";

/** Where `npm run docs` writes the reference, relative to the project root. */
export const CLI_REFERENCE_PATH = "docs/cli.md";

/** What each exit code means. Keyed by EXIT, so a new exit code cannot go undocumented. */
const EXIT_MEANINGS: Record<keyof typeof EXIT, string> = {
  ok: "ok; the token is valid; `can` says yes",
  no: "no: the token is invalid, expired, revoked or for another subject; `can` says no",
  usage:
    "usage error or bad input (unknown flag, bad TTL, an id containing `:`, a malformed token to inspect or revoke, a destructive command without `--yes` and without a terminal)",
  environment:
    "environment error: no secret configured, the store is missing, unreadable, not a database, or from a newer pywry-auth",
  notFound: "not found: no such session, accessor or role",
  internal: "internal error (a bug in pywry-auth)",
  cancelled: "cancelled: Ctrl-C at a prompt; nothing was changed",
};

/** Renders the whole reference as Markdown. `program` defaults to the real CLI. */
export async function renderCliReference(program?: Command): Promise<string> {
  program ??= await buildProgram();
  const help = program.createHelp();
  const name = program.name();
  const commands = subcommandsOf(program, help).flatMap((command) => [command, ...descendantsOf(command, help)]);
  const lines: string[] = [
    `# ${name} command reference`,
    "",
    "<!-- Generated from the command definitions in src/cli/commands/ by `npm run docs`. Do not edit by hand:",
    "     a test fails when this file no longer matches the code. -->",
    "",
    "## Name",
    "",
    `\`${name}\` - ${escapeText(help.commandDescription(program))}`,
    "",
    "## Synopsis",
    "",
    "```text",
    `${name} [global options] <command> [options] [arguments]`,
    `${name} <command> --help`,
    "```",
    "",
    ...fenced(helpText(program, "after")),
    "## Global options",
    "",
    `Accepted by every command, before or after its name, e.g. \`${name} --json verify -\`. Every command also accepts \`-h, --help\`.`,
    "",
    ...optionTable(program, help, { keepHelp: true }),
    "",
    "## Commands",
    "",
    "| Command | Description |",
    "| --- | --- |",
    ...commands.map((command) => `| [\`${pathOf(command)}\`](#${anchorOf(command)}) | ${escapeText(help.commandDescription(command))} |`),
    "",
    ...commands.flatMap((command) => commandSection(command, help)),
    "## Exit status",
    "",
    "| Code | Meaning |",
    "| --- | --- |",
    ...(Object.keys(EXIT) as Array<keyof typeof EXIT>).map((key) => `| ${EXIT[key]} | ${EXIT_MEANINGS[key]} |`),
    "",
    "Errors are one line on stderr, starting with `error:`; with `--json` they are",
    '`{"error": {"code": "...", "message": "..."}}` on stdout. The `code` is stable (the message may be reworded):',
    "for example `ERR_USAGE`, `ERR_INVALID_INPUT`, `ERR_NO_SECRET`, `ERR_STORE`, `ERR_NOT_FOUND`, or one of the token codes",
    `${TOKEN_ERROR_CODES.map((code) => `\`${code}\``).join(", ")}.`,
    "",
    "## See also",
    "",
    "- docs/tour.md: every command, with what it prints.",
    "- docs/configuration.md: every setting (flag, environment variable, config key) and the order in which each is looked for.",
    "",
  ];
  return lines.join("\n");
}

function commandSection(command: Command, help: Help): string[] {
  const children = subcommandsOf(command, help);
  const lines = [`### ${pathOf(command)}`, "", escapeText(help.commandDescription(command)), "", "```text", help.commandUsage(command), "```", ""];
  if (children.length > 0) {
    lines.push(`Commands: ${children.map((child) => `[\`${child.name()}\`](#${anchorOf(child)})`).join(", ")}.`, "");
  }
  const args = help.visibleArguments(command);
  if (args.length > 0) {
    lines.push("Arguments:", "", "| Argument | Description |", "| --- | --- |");
    lines.push(...args.map((arg) => `| ${code(argumentTerm(arg))} | ${escapeText(help.argumentDescription(arg))} |`), "");
  }
  const options = optionTable(command, help, { keepHelp: false });
  if (options.length > 0) lines.push("Options:", "", ...options, "");
  lines.push(...fenced(helpText(command, "after")));
  return lines;
}

function fenced(text: string): string[] {
  return text ? ["```text", text, "```", ""] : [];
}

/** What `addHelpText(position, ...)` adds to the command's --help (e.g. its examples). */
function helpText(command: Command, position: "before" | "after"): string {
  let text = "";
  // Commander keeps that text as listeners of a Command (an EventEmitter at run time; its types omit it).
  (command as unknown as EventEmitter).emit(`${position}Help`, { error: false, command, write: (chunk: string) => (text += chunk) });
  return text.trim();
}

function optionTable(command: Command, help: Help, { keepHelp }: { keepHelp: boolean }): string[] {
  const options = help.visibleOptions(command).filter((option) => keepHelp || option.long !== "--help");
  if (options.length === 0) return [];
  return [
    "| Option | Description |",
    "| --- | --- |",
    ...options.map((option) => `| ${code(help.optionTerm(option))} | ${escapeText(optionDescription(command, option, help))} |`),
  ];
}

/** Commander's own description (with default and choices), plus what --help leaves out. */
function optionDescription(command: Command, option: Option, help: Help): string {
  const extras: string[] = [];
  if (option.mandatory) extras.push("(required)");
  const conflicts = (option as Option & { conflictsWith?: string[] }).conflictsWith ?? [];
  if (conflicts.length > 0) {
    const flags = conflicts.map((name) => command.options.find((other) => other.attributeName() === name)?.long ?? name);
    extras.push(`(cannot be combined with ${flags.join(", ")})`);
  }
  return [help.optionDescription(option), ...extras].filter((part) => part.length > 0).join(" ");
}

function argumentTerm(arg: Argument): string {
  const name = `${arg.name()}${arg.variadic ? "..." : ""}`;
  return arg.required ? `<${name}>` : `[${name}]`;
}

/** Subcommands as --help lists them, without commander's implicit `help` command. */
function subcommandsOf(command: Command, help: Help): Command[] {
  return help.visibleCommands(command).filter((child) => command.commands.includes(child));
}

function descendantsOf(command: Command, help: Help): Command[] {
  return subcommandsOf(command, help).flatMap((child) => [child, ...descendantsOf(child, help)]);
}

function ancestorsOf(command: Command): Command[] {
  const chain: Command[] = [];
  for (let parent = command.parent; parent; parent = parent.parent) chain.unshift(parent);
  return chain;
}

function pathOf(command: Command): string {
  return [...ancestorsOf(command), command].map((each) => each.name()).join(" ");
}

/** GitHub's anchor for a "### pywry-auth token create" heading. */
function anchorOf(command: Command): string {
  return pathOf(command).toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-");
}

/** Environment variables in prose ($PYWRY_AUTH_SECRET, PYWRY_DEPLOY__*), shown as code. */
const ENV_VAR = /(\$?[A-Z][A-Z0-9]*(?:_{1,2}(?:[A-Z0-9]+|\*))+)/;

/** Markdown-safe prose for a table cell or paragraph: no pipes, tags or emphasis by accident. */
function escapeText(text: string): string {
  return text
    .replace(/\s*\n\s*/g, " ")
    .split(ENV_VAR)
    .map((part, index) => (index % 2 === 1 ? `\`${part}\`` : part.replace(/[\\|<>*]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (char) => `\\${char}`)))
    .join("");
}

/** An option or argument term as inline code; a pipe must still be escaped inside a table. */
function code(term: string): string {
  return `\`${term.replace(/\|/g, "\\|")}\``;
}
