/**
 * The pywry-auth command line: the root options and a registry of command modules. Each command
 * (its declaration, examples, --json fields and action: see command.ts) is one module in
 * commands/, imported only when that command is declared, so `verify` never loads SQLite and
 * `--version` loads almost nothing.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { systemCliClock } from "./clock.js";
import { fieldProblem, type CommandDefinition, type HelpDefaults, type JsonFields, type LeafCommand } from "./command.js";
import type { Context, GlobalOptions } from "./context.js";
import { EXIT, UsageError } from "./errors.js";
import { Output, loadColour } from "./output.js";
import { closest } from "./suggest.js";

/**
 * Every top-level command (or group of commands) and its module, in the order --help lists them.
 * Each `import()` is a literal so that the build can bundle every command into the CLI file.
 */
const COMMANDS = {
  token: () => import("./commands/tokens.js"),
  "widget-token": () => import("./commands/widget-token.js"),
  verify: () => import("./commands/verify.js"),
  inspect: () => import("./commands/inspect.js"),
  revoke: () => import("./commands/revoke.js"),
  session: () => import("./commands/sessions.js"),
  roles: () => import("./commands/roles.js"),
  can: () => import("./commands/can.js"),
  audit: () => import("./commands/audit.js"),
  migrate: () => import("./commands/migrate.js"),
  init: () => import("./commands/init.js"),
  doctor: () => import("./commands/doctor.js"),
  completion: () => import("./commands/completion.js"),
  config: () => import("./commands/config.js"),
  secret: () => import("./commands/secret.js"),
} satisfies Record<string, () => Promise<{ default: CommandDefinition }>>;

type CommandName = keyof typeof COMMANDS;

/** Examples shown under the root's --help. Tokens go through stdin: argv is visible to all. */
const ROOT_EXAMPLES = ["pywry-auth init", "T=$(pywry-auth token create --user alice)", "printf '%s\\n' \"$T\" | pywry-auth verify -"];

export async function run(argv: readonly string[]): Promise<void> {
  await loadColour();
  try {
    argv = await helpCommandAsFlag(argv);
  } catch (error) {
    process.exitCode = await reportParseError(error, argv);
    return;
  }
  const defaults = asksForHelp(argv) ? await configuredTtls() : FIXED_HELP_DEFAULTS;
  // Declaring only the command being run saves a fifth of a token command's start-up. A parse
  // error there is parsed again with every command declared, so whatever the user sees (the
  // message, a "did you mean") is exactly what the whole program says.
  const only = commandNamed(argv);
  let error = await parseErrorOf(await buildProgram(only, defaults), argv);
  if (only !== undefined && error instanceof CommanderError && error.exitCode !== 0 && error.code !== "commander.help") {
    error = await parseErrorOf(await buildProgram(undefined, defaults), argv);
  }
  if (error !== null) process.exitCode = await reportParseError(error, argv);
}

/** The root program without its commands: its options tell which arguments are option values. */
function rootProgram(): Command {
  const program = new Command("pywry-auth")
    .description("Mint, inspect, verify and revoke pywry session and widget tokens; administer pywry's session store.")
    .version(packageVersion(), "-V, --version", "print the pywry-auth version")
    .option("--secret-file <path>", "file holding the signing secret (default: $PYWRY_AUTH_SECRET, then ~/.config/pywry-auth/secret)")
    .option("--store <path|url>", "session store: a SQLite file or redis://host:port/db (default: pywry's PYWRY_DEPLOY__* settings, then ~/.config/pywry/pywry.db)")
    .option("--sqlite-key-file <path>", "file holding the SQLCipher key of an encrypted pywry database (default: $PYWRY_SQLITE_KEY, then the config file, pywry's keyring entry, pywry's salt file)")
    .option("--redis-prefix <prefix>", "key prefix in Redis (default: $PYWRY_DEPLOY__REDIS_PREFIX, then pywry)")
    .option("--create", "create the session store if it is missing (only init, migrate and the first mint at the configured location do without it)")
    .option("--json", "machine-readable JSON output")
    .option("--field <name>", "print only this field of the JSON output, raw (e.g. --field accessor)")
    .option("--no-color", "never colour the output")
    .addOption(new Option("--secret <value>").hideHelp())
    .addOption(new Option("--sqlite-key <value>").hideHelp())
    // Every command's --help lists the global options too; narrow description columns still wrap.
    .configureHelp({ showGlobalOptions: true, minWidthToWrap: 24 })
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  return program;
}

/** Whether `arg` is a root option whose value is the next argument (not a command name). */
function takesValue(root: Command, arg: string): boolean {
  return root.options.some((option) => (option.long === arg || option.short === arg) && (option.required || option.optional));
}

/** The root's options, declared once, to tell option values from command names before parsing. */
let rootOptions: Command | undefined;

/** Index of the first argument that is not a root option or its value: the command's name. */
function firstCommandIndex(argv: readonly string[]): number {
  const root = (rootOptions ??= rootProgram());
  for (let index = 2; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (arg === "--") return -1;
    if (!arg.startsWith("-")) return index;
    if (takesValue(root, arg)) index += 1;
  }
  return -1;
}

/**
 * `help token create` as `token create --help`: commander's own help command takes one name and
 * shows the group's help for more. A name that is no command is a usage error, with a suggestion.
 */
async function helpCommandAsFlag(argv: readonly string[]): Promise<readonly string[]> {
  const index = firstCommandIndex(argv);
  if (index < 0 || argv[index] !== "help") return argv;
  const names = argv.slice(index + 1).filter((arg) => !arg.startsWith("-"));
  let command = await buildProgram();
  for (const name of names) {
    const sub = command.commands.find((candidate) => candidate.name() === name || candidate.aliases().includes(name));
    if (!sub || sub.name() === "help") {
      const known = command.commands.map((candidate) => candidate.name()).filter((candidate) => candidate !== "help");
      const suggestion = closest(name, known);
      const where = command.parent ? ` in ${commandPath(command)}` : "";
      throw new UsageError(`unknown command '${name}'${where}${suggestion ? ` (Did you mean ${suggestion}?)` : ""}; commands: ${known.join(", ")}`);
    }
    command = sub;
  }
  return [...argv.slice(0, index), ...names, "--help"];
}

function asksForHelp(argv: readonly string[]): boolean {
  return argv.slice(2).some((arg) => arg === "--help" || arg === "-h");
}

const FIXED_HELP_DEFAULTS: HelpDefaults = { sessionTtl: "24h, or the configured session TTL", widgetTtl: "5m, or the configured widget TTL" };

/** Read only for --help (not on any command's path): a broken setting leaves the fixed text. */
async function configuredTtls(): Promise<HelpDefaults> {
  const { sessionTtlSetting, widgetTtlSetting } = await import("./settings.js");
  const context: Context = { options: {}, env: process.env, notice: () => undefined, clock: systemCliClock };
  const describe = (read: () => { value: number; origin: string }): string | undefined => {
    try {
      const { value, origin } = read();
      return origin.startsWith("default") ? compactDuration(value) : `${compactDuration(value)}, from ${origin}`;
    } catch {
      return undefined;
    }
  };
  return {
    sessionTtl: describe(() => sessionTtlSetting(context)) ?? FIXED_HELP_DEFAULTS.sessionTtl,
    widgetTtl: describe(() => widgetTtlSetting(context)) ?? FIXED_HELP_DEFAULTS.widgetTtl,
  };
}

/** 86400 as "24h", 300 as "5m": the largest unit that divides the lifetime. */
function compactDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

async function parseErrorOf(program: Command, argv: readonly string[]): Promise<unknown> {
  try {
    await program.parseAsync([...argv]);
    return null;
  } catch (error) {
    return error;
  }
}

/**
 * The top-level command argv runs, when that is plain without parsing; undefined (declare them
 * all) for the root's --help, `help`, `--`, an unknown name or no command at all.
 */
export function commandNamed(argv: readonly string[]): CommandName | undefined {
  const root = (rootOptions ??= rootProgram());
  for (let index = 2; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (arg === "--" || arg === "-h" || arg === "--help") return undefined;
    if (arg.startsWith("-")) {
      if (takesValue(root, arg)) index += 1;
      continue;
    }
    return Object.hasOwn(COMMANDS, arg) ? (arg as CommandName) : undefined;
  }
  return undefined;
}

/** The whole program, or with `only` the root and that one command (or group of commands). */
export async function buildProgram(only?: string, defaults: HelpDefaults = FIXED_HELP_DEFAULTS): Promise<Command> {
  const program = rootProgram();
  program.hook("preAction", (_program, command) => refuseSecretOnArgv(command.optsWithGlobals()));
  addExamples(program, ROOT_EXAMPLES);
  for (const definition of await definitions(only)) declare(program, definition, defaults);
  return program;
}

/** The definitions of every top-level command (or of `only`), in the order --help lists them. */
async function definitions(only?: string): Promise<CommandDefinition[]> {
  const names = (Object.keys(COMMANDS) as CommandName[]).filter((name) => only === undefined || only === name);
  return Promise.all(names.map(async (name) => (await COMMANDS[name]()).default));
}

/** Every command that runs, by its path (`token create`): for tests and tools that need the definitions. */
export async function leafCommands(): Promise<Map<string, LeafCommand>> {
  const leaves = new Map<string, LeafCommand>();
  const walk = (definition: CommandDefinition, parent: Command): void => {
    const command = definition.declare(parent, FIXED_HELP_DEFAULTS);
    if (definition.kind === "group") for (const child of definition.commands) walk(child, command);
    else leaves.set(commandPath(command), definition);
  };
  const root = rootProgram();
  for (const definition of await definitions()) walk(definition, root);
  return leaves;
}

function declare(parent: Command, definition: CommandDefinition, defaults: HelpDefaults): void {
  const command = definition.declare(parent, defaults);
  addExamples(command, definition.examples);
  if (definition.kind === "group") for (const child of definition.commands) declare(command, child, defaults);
  else command.action(actionOf(definition));
}

function addExamples(command: Command, examples: readonly string[]): void {
  command.exitOverride().configureOutput({ outputError: () => undefined });
  if (examples.length > 0) command.addHelpText("after", `\nExamples:\n${examples.map((line) => `  $ ${line}`).join("\n")}`);
}

/** The commander action that runs `definition` and sets the exit code. */
function actionOf(definition: LeafCommand) {
  return async (...args: unknown[]): Promise<void> => {
    const invoked = args[args.length - 1] as Command;
    const options = invoked.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
    const output = new Output({ json: Boolean(options.json), color: options.color, field: options.field });
    const context: Context = { options, env: process.env, notice: (message) => output.notice(message), clock: systemCliClock };
    try {
      if (options.field !== undefined) refuseUnknownField(commandPath(invoked), definition.fields, options.field);
      process.exitCode = (await definition.action(context, output, ...args.slice(0, -2), options)) ?? EXIT.ok;
    } catch (error) {
      process.exitCode = output.fail(error);
    }
  };
}

/** --field is checked before the command runs, so a typo changes nothing. */
function refuseUnknownField(path: string, fields: JsonFields, field: string): void {
  const problem = fieldProblem(path, fields, field);
  if (problem !== null) throw new UsageError(problem);
}

function refuseSecretOnArgv(options: Record<string, unknown>): void {
  if (options["secret"] !== undefined) {
    throw new UsageError(
      "--secret is not accepted: command-line arguments are visible to every user of the machine. " +
        "Use --secret-file <path> or the PYWRY_AUTH_SECRET environment variable.",
    );
  }
  if (options["sqliteKey"] !== undefined) {
    throw new UsageError(
      "--sqlite-key is not accepted: command-line arguments are visible to every user of the machine. " +
        "Use --sqlite-key-file <path> or the PYWRY_SQLITE_KEY environment variable.",
    );
  }
}

async function reportParseError(error: unknown, argv: readonly string[]): Promise<number> {
  if (error instanceof CommanderError && error.exitCode === 0) return EXIT.ok;
  // Commander has already printed the help text for a bare group such as `pywry-auth session`.
  if (error instanceof CommanderError && error.code === "commander.help") return EXIT.usage;
  const output = new Output({ json: argv.includes("--json"), color: argv.includes("--no-color") ? false : undefined });
  if (error instanceof CommanderError) {
    // Commander checks required options before unknown ones: `token create --usr alice` would
    // say "--user not specified" where the real mistake is the misspelt option.
    const misspelt = error.code === "commander.missingMandatoryOptionValue" ? await unknownOptionIn(argv) : null;
    // One line: commander puts its "(Did you mean ...?)" suggestion on a line of its own.
    // Output redacts whatever commander quoted (a token pasted as a command, `--secrets=...`).
    const message = (misspelt ?? error.message).replace(/^error: /, "").replace(/\n/g, " ");
    return output.fail(new UsageError(`${message} (run with --help for usage)`));
  }
  return output.fail(error);
}

/** The first option in argv that the command it is given to (or its parents) does not know, as commander words it. */
async function unknownOptionIn(argv: readonly string[]): Promise<string | null> {
  let command = await buildProgram();
  const known = (): Option[] => {
    const options: Option[] = [];
    for (let current: Command | null = command; current; current = current.parent) options.push(...current.options);
    return options;
  };
  for (let index = 2; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (arg === "--") return null;
    if (!arg.startsWith("-") || arg === "-") {
      const sub = command.commands.find((candidate) => candidate.name() === arg);
      if (sub) command = sub;
      continue;
    }
    const flag = arg.split("=")[0] ?? arg;
    const option = known().find((candidate) => candidate.long === flag || candidate.short === flag);
    if (!option) {
      const longs = known().flatMap((candidate) => (candidate.long && !candidate.hidden ? [candidate.long] : []));
      const suggestion = flag.startsWith("--") ? closest(flag, longs) : undefined;
      return `unknown option '${flag}'${suggestion ? ` (Did you mean ${suggestion}?)` : ""}`;
    }
    if ((option.required || option.optional) && !arg.includes("=")) index += 1;
  }
  return null;
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) names.unshift(current.name());
  return names.join(" ");
}

function packageVersion(): string {
  // The nearest package.json above this module: dist/cli/ when installed, elsewhere in tests.
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    try {
      const manifest = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version: string };
      if (manifest.name === "pywry-auth") return manifest.version;
    } catch {
      // not here; look one level up
    }
    if (dir.pathname === "/") return "unknown";
  }
}
