/**
 * What a command module is: its declaration (name, arguments, options, description), the examples
 * its --help ends with, the fields of its --json result, and its action, all in one place. main.ts
 * imports a command's module only when that command is declared, so a module must be cheap to
 * import: a store driver, a prompt or a table library is loaded inside the action, when it runs.
 */
import type { Command } from "commander";
import type { Context } from "./context.js";
import type { Output } from "./output.js";

/** The lifetimes --help shows as defaults: the configured ones when help was asked for, else fixed text. */
export interface HelpDefaults {
  sessionTtl: string;
  widgetTtl: string;
}

/**
 * The fields of the command's `--json` result, so that `--field` is checked before the command
 * runs (a typo must not create a session and only then fail). A list names the fields (of each
 * item, for lists); null means the result's keys are data (role names, setting names) that only
 * the result can show; a string says why --field does not apply.
 */
export type JsonFields = readonly string[] | null | string;

/** Why --field does not apply to a command that writes NDJSON. */
export const NDJSON_OUTPUT = "it writes one JSON object per line (use jq to pick fields)";

/** A listed row also says where it is, for --after. */
export const LISTED = "cursor";

/**
 * Runs the command: the positional arguments as commander parsed them, then the options (the
 * command's own with the global ones). Returns the exit code (none: 0).
 */
// The arguments are typed by each action; commander hands them over untyped.
export type Action = (context: Context, output: Output, ...args: any[]) => Promise<number | void>;

/** A command that runs. */
export interface LeafCommand {
  readonly kind: "command";
  /** Declares the command under `parent` (name, description, arguments, options) and returns it. */
  readonly declare: (parent: Command, defaults: HelpDefaults) => Command;
  readonly examples: readonly string[];
  readonly fields: JsonFields;
  readonly action: Action;
}

/** A group of commands, such as `session` (its subcommands in the order --help lists them). */
export interface CommandGroup {
  readonly kind: "group";
  readonly declare: (parent: Command, defaults: HelpDefaults) => Command;
  readonly examples: readonly string[];
  readonly commands: readonly CommandDefinition[];
}

export type CommandDefinition = LeafCommand | CommandGroup;

export function defineCommand(definition: Omit<LeafCommand, "kind">): LeafCommand {
  return { kind: "command", ...definition };
}

export function defineGroup(definition: Omit<CommandGroup, "kind">): CommandGroup {
  return { kind: "group", ...definition };
}

/** The paging and streaming flags every list command takes, with the same names and meaning. */
export function withListFlags(list: Command, rows: string, limitNote = ""): Command {
  return list
    .option("--limit <n>", `at most this many ${rows}${limitNote}`)
    .option("--after <cursor>", "continue after the row with this cursor (the cursor field of --json, or the one a cut-off listing prints)")
    .option("--json-lines", "one JSON object per line (NDJSON), streamed, with the fields of --json");
}

/** Why `field` cannot be printed for the command at `path`, or null when it can (or only the result can say). */
export function fieldProblem(path: string, fields: JsonFields, field: string): string | null {
  if (fields === null) return null;
  if (typeof fields === "string") return `--field does not apply to ${path}: ${fields}`;
  if (fields.includes(field)) return null;
  return `no field ${JSON.stringify(field)} in the output of ${path}; fields: ${fields.join(", ")}`;
}
