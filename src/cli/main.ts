/**
 * The pywry-auth command line: declarations only. Each command's code is imported when that
 * command runs, so `verify` never loads SQLite and `--version` loads almost nothing.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { InvalidInputError } from "../core/errors.js";
import { closest } from "./suggest.js";
import type { Context, GlobalOptions } from "./context.js";
import { fieldProblem } from "./fields.js";
import { EXIT, Output, loadColour } from "./output.js";

type Action = (context: Context, output: Output) => Promise<number | void>;

export async function run(argv: readonly string[]): Promise<void> {
  await loadColour();
  try {
    argv = helpCommandAsFlag(argv);
  } catch (error) {
    process.exitCode = reportParseError(error, argv);
    return;
  }
  if (asksForHelp(argv)) helpDefaults = await configuredTtls();
  // Declaring only the command being run saves a fifth of a token command's start-up. A parse
  // error there is parsed again with every command declared, so whatever the user sees (the
  // message, a "did you mean") is exactly what the whole program says.
  const only = commandNamed(argv);
  let error = await parseErrorOf(buildProgram(only), argv);
  if (only !== undefined && error instanceof CommanderError && error.exitCode !== 0 && error.code !== "commander.help") {
    error = await parseErrorOf(buildProgram(), argv);
  }
  if (error !== null) process.exitCode = reportParseError(error, argv);
}

/** Index of the first argument that is not a root option or its value: the command's name. */
function firstCommandIndex(argv: readonly string[]): number {
  for (let index = 2; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (arg === "--") return -1;
    if (!arg.startsWith("-")) return index;
    if (ROOT_OPTIONS_WITH_VALUES.has(arg)) index += 1;
  }
  return -1;
}

/**
 * `help token create` as `token create --help`: commander's own help command takes one name and
 * shows the group's help for more. A name that is no command is a usage error, with a suggestion.
 */
function helpCommandAsFlag(argv: readonly string[]): readonly string[] {
  const index = firstCommandIndex(argv);
  if (index < 0 || argv[index] !== "help") return argv;
  const names = argv.slice(index + 1).filter((arg) => !arg.startsWith("-"));
  let command = buildProgram();
  for (const name of names) {
    const sub = command.commands.find((candidate) => candidate.name() === name || candidate.aliases().includes(name));
    if (!sub || sub.name() === "help") {
      const known = command.commands.map((candidate) => candidate.name()).filter((candidate) => candidate !== "help");
      const suggestion = closest(name, known);
      const where = command.parent ? ` in ${commandPath(command)}` : "";
      throw new InvalidInputError(
        `unknown command '${name}'${where}${suggestion ? ` (Did you mean ${suggestion}?)` : ""}; commands: ${known.join(", ")}`,
        "ERR_USAGE",
      );
    }
    command = sub;
  }
  return [...argv.slice(0, index), ...names, "--help"];
}

function asksForHelp(argv: readonly string[]): boolean {
  return argv.slice(2).some((arg) => arg === "--help" || arg === "-h");
}

/** The lifetimes --help shows as defaults: the configured ones once help was asked for, else fixed text. */
let helpDefaults: { session?: string; widget?: string } = {};

function ttlDefault(kind: "session" | "widget"): string {
  return helpDefaults[kind] ?? (kind === "session" ? "24h, or the configured session TTL" : "5m, or the configured widget TTL");
}

/** Read only for --help (not on any command's path): a broken setting leaves the fixed text. */
async function configuredTtls(): Promise<{ session?: string; widget?: string }> {
  const { sessionTtlSetting, widgetTtlSetting } = await import("./settings.js");
  const context: Context = { options: {}, env: process.env, notice: () => undefined };
  const describe = (read: () => { value: number; origin: string }): string | undefined => {
    try {
      const { value, origin } = read();
      return origin.startsWith("default") ? compactDuration(value) : `${compactDuration(value)}, from ${origin}`;
    } catch {
      return undefined;
    }
  };
  return { session: describe(() => sessionTtlSetting(context)), widget: describe(() => widgetTtlSetting(context)) };
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

// Root options that take a value: the argument after one is its value, not a command name.
const ROOT_OPTIONS_WITH_VALUES = new Set(["--secret-file", "--sqlite-key-file", "--store", "--redis-prefix", "--field", "--secret", "--sqlite-key"]);

/**
 * The top-level command argv runs, when that is plain without parsing; undefined (declare them
 * all) for the root's --help, `help`, `--`, an unknown name or no command at all.
 */
export function commandNamed(argv: readonly string[]): string | undefined {
  for (let index = 2; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (arg === "--" || arg === "-h" || arg === "--help") return undefined;
    if (arg.startsWith("-")) {
      if (ROOT_OPTIONS_WITH_VALUES.has(arg)) index += 1;
      continue;
    }
    return Object.hasOwn(COMMAND_GROUPS, arg) ? arg : undefined;
  }
  return undefined;
}

/** The whole program, or with `only` the root and that one command (or group of commands). */
export function buildProgram(only?: string): Command {
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
  program.hook("preAction", (_program, command) => refuseSecretOnArgv(command.optsWithGlobals()));

  for (const [name, declare] of Object.entries(COMMAND_GROUPS)) if (only === undefined || only === name) declare(program);

  for (const sub of [program, ...allCommands(program)]) {
    sub.exitOverride().configureOutput({ outputError: () => undefined });
    const examples = EXAMPLES[commandPath(sub)];
    if (examples) sub.addHelpText("after", `\nExamples:\n${examples.map((line) => `  $ ${line}`).join("\n")}`);
  }
  return program;
}

/**
 * Every top-level command (or group of commands) and the function that declares it, in the order
 * --help lists them.
 */
const COMMAND_GROUPS: Record<string, (program: Command) => void> = {
  token: declareToken,
  "widget-token": declareWidgetToken,
  verify: declareVerify,
  inspect: declareInspect,
  revoke: declareRevoke,
  session: declareSession,
  roles: declareRoles,
  can: declareCan,
  audit: declareAudit,
  migrate: declareMigrate,
  init: declareInit,
  doctor: declareDoctor,
  completion: declareCompletion,
  config: declareConfig,
  secret: declareSecret,
};

function declareToken(program: Command): void {
  const token = program.command("token").description("session tokens: mint and list");
  token
    .command("create")
    .description("mint a session token and create its session the way pywry's login does")
    .requiredOption("--user <id>", "user id the token is for")
    .option("--roles <roles>", "comma-separated roles for the session (default: the configured default roles, pywry's viewer)")
    .addOption(new Option("--ttl <duration>", `lifetime: seconds or 15m, 24h, 7d (default ${ttlDefault("session")})`).conflicts(["expiresAt", "expiry"]))
    .addOption(new Option("--expires-at <time>", "expiry as ISO 8601 or Unix seconds").conflicts(["expiry"]))
    .option("--no-expiry", "a token that never expires")
    .option("--label <text>", "a note kept in the registry")
    .option("--no-session", "only mint the token: no session, no registry entry, no store")
    .action(command(() => import("./commands/tokens.js"), "tokenCreate"));
  token
    .command("renew")
    .description("mint a fresh token for the same subject and roles, move the session to it, revoke the old one")
    .argument("[token]", "the token to renew, or - to read it from stdin")
    .option("--accessor <accessor>", "renew the registry token with this accessor")
    .option("--ttl <duration>", `lifetime of the new token: seconds or 15m, 24h, 7d (default ${ttlDefault("session")})`)
    .action(command(() => import("./commands/renew.js"), "tokenRenew"));
  const tokenList = token
    .command("list")
    .description("issued tokens from the registry, by accessor (never the token itself), newest first")
    .option("--user <id>", "only tokens for this subject")
    .addOption(new Option("--kind <kind>", "only this kind").choices(["session", "widget"]))
    .option("--all", "include revoked and expired tokens");
  withListFlags(tokenList, "tokens").action(command(() => import("./commands/tokens.js"), "tokenList"));
}

function declareWidgetToken(program: Command): void {
  program
    .command("widget-token")
    .description("mint a short-lived widget token")
    .argument("<widget-id>", "the widget the token is for")
    .option("--ttl <duration>", `lifetime: seconds or 5m, 1h (default ${ttlDefault("widget")})`)
    .option("--label <text>", "a note kept in the registry")
    .option("--no-record", "do not record the token in the store's registry")
    .action(command(() => import("./commands/tokens.js"), "widgetToken"));
}

function declareVerify(program: Command): void {
  program
    .command("verify")
    .description("check a token: exit 0 when valid, 1 when not")
    .argument("[token]", "the token, or - to read it from stdin")
    .option("--widget <id>", "require a widget token for this widget id")
    .option("--user <id>", "require a token for this user id")
    .option("--at <time>", "validate as of this time (ISO 8601 or Unix seconds)")
    .option("--offline", "do not consult the store for revocations")
    .option("--stdin", "verify many tokens, one per line on stdin: one NDJSON result per line on stdout, a summary on stderr; exit 0 only if all are valid")
    .action(command(() => import("./commands/verify.js"), "verify"));
}

function declareInspect(program: Command): void {
  program
    .command("inspect")
    .description("decode a token without needing its secret; check the signature when a secret is configured")
    .argument("<token>", "the token, or - to read it from stdin")
    .action(command(() => import("./commands/verify.js"), "inspect"));
}

function declareRevoke(program: Command): void {
  program
    .command("revoke")
    .description("revoke a token: delete its session and record the revocation (idempotent)")
    .argument("[token]", "the token, or - to read it from stdin")
    .option("--accessor <accessor>", "revoke the registry token with this accessor")
    .option("--session <id>", "revoke the session with this id or handle")
    .option("--user <id>", "revoke everything of this user: all sessions, and every token issued until now")
    .option("--reason <text>", "why, kept with the revocation")
    .option("-y, --yes", "do not ask for confirmation (needed without a terminal)")
    .option("--force", "record the revocation even when the store does not know the token or user (and no configured secret signed the token)")
    .action(command(() => import("./commands/revoke.js"), "revoke"));
}

function declareSession(program: Command): void {
  const session = program.command("session").description("sessions in the store");
  session
    .command("create")
    .description("create a session with a random id (printed on stdout)")
    .requiredOption("--user <id>", "user id")
    .option("--roles <roles>", "comma-separated roles (default: the configured default roles, pywry's viewer)")
    .addOption(new Option("--ttl <duration>", `lifetime: seconds or 15m, 24h, 7d (default ${ttlDefault("session")})`).conflicts(["expiry"]))
    .option("--no-expiry", "a session that never expires")
    .option("--metadata <key=value...>", "metadata entries (repeatable)")
    .action(command(() => import("./commands/sessions.js"), "sessionCreate"));
  const sessionList = session
    .command("list")
    .description("sessions, by handle (ids are credentials: --reveal shows them), newest first")
    .option("--user <id>", "only this user's sessions")
    .option("--role <role>", "only sessions with this role")
    .option("--expiring-within <duration>", "only sessions that expire within this time (e.g. 1h)")
    .option("--expired", "only expired sessions")
    .option("--all", "include expired sessions")
    .option("--reveal", "show raw session ids");
  withListFlags(sessionList, "sessions").action(command(() => import("./commands/sessions.js"), "sessionList"));
  session
    .command("refresh")
    .description("extend a live session (pywry's refresh_session)")
    .argument("<id>", "session id or handle")
    .option("--ttl <duration>", `new lifetime from now (default ${ttlDefault("session")})`)
    .action(command(() => import("./commands/sessions.js"), "sessionRefresh"));
  session
    .command("purge")
    .description("delete expired sessions")
    .option("--dry-run", "only show what would be deleted")
    .option("-y, --yes", "do not ask for confirmation (needed without a terminal)")
    .action(command(() => import("./commands/sessions.js"), "sessionPurge"));
  session
    .command("grant")
    .description("grant per-resource permissions in the session's metadata (pywry's format)")
    .argument("<id>", "session id or handle")
    .argument("<resource>", "resource as type:id, e.g. widget:w1")
    .argument("<permissions>", "comma-separated permissions, e.g. read,write")
    .action(command(() => import("./commands/grants.js"), "sessionGrant"));
  session
    .command("ungrant")
    .description("remove per-resource permissions (all of them for the resource when none are named)")
    .argument("<id>", "session id or handle")
    .argument("<resource>", "resource as type:id, e.g. widget:w1")
    .argument("[permissions]", "comma-separated permissions")
    .action(command(() => import("./commands/grants.js"), "sessionUngrant"));
  session
    .command("show")
    .description("one session, by id or handle")
    .argument("<id>", "session id or handle")
    .option("--reveal", "show the raw session id")
    .action(command(() => import("./commands/sessions.js"), "sessionShow"));
  session
    .command("delete")
    .description("delete a session, by id or handle (pywry's delete_session)")
    .argument("<id>", "session id or handle")
    .action(command(() => import("./commands/sessions.js"), "sessionDelete"));
  const sessionExport = session
    .command("export")
    .description("write every session (expired ones too) as NDJSON, one pywry sessions row per line, streaming; the ids are credentials")
    .option("--user <id>", "only this user's sessions")
    .option("--out <file>", "write to this new file (mode 0600) instead of stdout");
  withListFlags(sessionExport, "sessions").action(command(() => import("./commands/transfer.js"), "sessionExport"));
  session
    .command("import")
    .description("read sessions as NDJSON (session export's format) and write them in batched transactions; bad lines are reported and skipped; running it again resumes it")
    .argument("[file]", "the NDJSON file, or - (the default) for stdin")
    .option("--batch-size <n>", "lines per transaction, all or nothing (default 5000)")
    .option("--dry-run", "check every line and count what would change, write nothing")
    .action(command(() => import("./commands/transfer.js"), "sessionImport"));
}

function declareRoles(program: Command): void {
  const roles = program.command("roles").description("role permissions in the store");
  withListFlags(roles.command("list").description("every role with its permissions, by name"), "roles").action(
    command(() => import("./commands/roles.js"), "rolesList"),
  );
  roles
    .command("show")
    .description("one role's permissions")
    .argument("<role>", "role name")
    .action(command(() => import("./commands/roles.js"), "rolesShow"));
  roles
    .command("set")
    .description("replace a role's permissions")
    .argument("<role>", "role name")
    .argument("[permissions...]", "permissions (none needs --empty)")
    .option("--create", "create the role when the store does not have it")
    .option("--empty", "leave the role with no permissions (it then grants nothing)")
    .option("--force", "allow taking admin away from the admin role")
    .action(command(() => import("./commands/roles.js"), "rolesSet"));
  roles
    .command("grant")
    .description("add permissions to a role")
    .argument("<role>", "role name")
    .argument("<permissions...>", "permissions to add")
    .option("--create", "create the role when the store does not have it")
    .action(command(() => import("./commands/roles.js"), "rolesGrant"));
  roles
    .command("revoke")
    .description("remove permissions from a role")
    .argument("<role>", "role name")
    .argument("<permissions...>", "permissions to remove")
    .option("--force", "allow taking admin away from the admin role")
    .action(command(() => import("./commands/roles.js"), "rolesRevoke"));
  roles
    .command("delete")
    .description("delete a role")
    .argument("<role>", "role name")
    .option("--force", "allow deleting the admin role")
    .option("-y, --yes", "do not ask for confirmation (needed without a terminal)")
    .action(command(() => import("./commands/roles.js"), "rolesDelete"));
  roles
    .command("seed")
    .description("write pywry's default roles (admin, editor, viewer, anonymous) where missing; pywry's Redis store has none until then")
    .option("--force", "also reset default roles whose permissions were changed")
    .action(command(() => import("./commands/roles.js"), "rolesSeed"));
}

function declareCan(program: Command): void {
  program
    .command("can")
    .description("may a session, token or user do this? exit 0 yes, 1 no (like kubectl auth can-i)")
    .argument("[permission]", "the permission, e.g. write")
    .option("--session <id>", "ask for this session (id or handle)")
    .option("--token <token>", "ask for the session of this token (- reads stdin)")
    .option("--user <id>", "ask for the union of the user's live sessions")
    .option("--resource <type:id>", "a resource, for per-resource grants, e.g. widget:w1")
    .option("--list", "list every permission the subject has, and where it comes from")
    .option("-q, --quiet", "print nothing; answer with the exit code only")
    .action(command(() => import("./commands/can.js"), "can"));
}

function declareAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("the audit log of changes, oldest first (NDJSON with --json)")
    .option("--since <time>", "only entries since this time: a duration back (1h, 7d) or ISO 8601")
    .option("--action <action>", "only this action, or a group such as session or token")
    .option("--user <id>", "only entries about this user (or role)");
  withListFlags(audit, "entries", "; without --after, the newest ones").action(command(() => import("./commands/audit.js"), "audit"));
}

/** The paging and streaming flags every list command takes, with the same names and meaning. */
function withListFlags(list: Command, rows: string, limitNote = ""): Command {
  return list
    .option("--limit <n>", `at most this many ${rows}${limitNote}`)
    .option("--after <cursor>", "continue after the row with this cursor (the cursor field of --json, or the one a cut-off listing prints)")
    .option("--json-lines", "one JSON object per line (NDJSON), streamed, with the fields of --json");
}

function declareMigrate(program: Command): void {
  program
    .command("migrate")
    .description("copy sessions, roles, the token registry and revocations from one store to another (SQLite and Redis, either way); idempotent")
    .requiredOption("--from <path|url>", "the store to copy from: a SQLite file or redis://host:port/db")
    .requiredOption("--to <path|url>", "the store to copy to (a SQLite file is created when missing)")
    .option("--from-key-file <path>", "file holding the SQLCipher key of an encrypted --from (default: the configured key)")
    .option("--to-key-file <path>", "file holding the SQLCipher key for --to: a new target is encrypted with it (default: the configured key, if any)")
    .option("--to-plain", "create --to unencrypted even when a SQLCipher key is configured")
    .option("--dry-run", "count what would be copied, write nothing")
    .option("-y, --yes", "do not ask before writing into a store that already exists (needed without a terminal)")
    .action(command(() => import("./commands/migrate.js"), "migrate"));
}

function declareInit(program: Command): void {
  program
    .command("init")
    .description("set up pywry-auth: store, secret and defaults (asks at a terminal; --yes with flags for CI), then say what pywry needs")
    .option("-y, --yes", "do not ask: take --store, --secret-file and the options below (or the current settings)")
    .option("--force", "replace an existing config file")
    .option("--session-ttl <duration>", "default lifetime of new sessions and tokens (e.g. 24h)")
    .option("--widget-ttl <duration>", "default lifetime of widget tokens (e.g. 5m)")
    .option("--default-roles <roles>", "roles for new sessions when --roles is not given (e.g. viewer)")
    .action(command(() => import("./commands/init.js"), "init"));
}

function declareDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check the secret, the store and the clock, and explain each problem with its fix (exit 0 only when all is well)")
    .action(command(() => import("./commands/doctor.js"), "doctor"));
}

function declareCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish")
    .action(command(() => import("./commands/completion.js"), "completion"));
}

function declareConfig(program: Command): void {
  const config = program.command("config").description("pywry-auth's configuration");
  config
    .command("show")
    .description("every effective setting and where it came from (flag, environment, config file, pywry's environment, default)")
    .action(command(() => import("./commands/config.js"), "configShow"));
}

function declareSecret(program: Command): void {
  const secret = program.command("secret").description("signing secrets");
  secret
    .command("generate")
    .description("generate a new secret (32 random bytes, hex)")
    .option("--out <file>", "write it to this file (mode 0600) instead of stdout")
    .option("--force", "replace an existing file")
    .action(command(() => import("./commands/secret.js"), "secretGenerate"));
}

type CommandModule = Record<string, unknown>;

/**
 * Wraps a lazily imported command function as a commander action that sets the exit code.
 * `load` is a literal `import()` so that the build can bundle every command into the CLI file.
 */
function command(load: () => Promise<CommandModule>, exportName: string) {
  return async (...args: unknown[]): Promise<void> => {
    const invoked = args[args.length - 1] as Command;
    const options = invoked.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
    const output = new Output({ json: Boolean(options.json), color: options.color, field: options.field });
    const context: Context = { options, env: process.env, notice: (message) => output.notice(message) };
    try {
      if (options.field !== undefined) refuseUnknownField(commandPath(invoked), options.field);
      const action = (await load())[exportName] as (...input: unknown[]) => ReturnType<Action>;
      process.exitCode = (await action(context, output, ...args.slice(0, -2), options)) ?? EXIT.ok;
    } catch (error) {
      process.exitCode = output.fail(error);
    }
  };
}

/** --field is checked before the command runs, so a typo changes nothing. */
function refuseUnknownField(path: string, field: string): void {
  const problem = fieldProblem(path, field);
  if (problem !== null) throw new InvalidInputError(problem, "ERR_USAGE");
}

function refuseSecretOnArgv(options: Record<string, unknown>): void {
  if (options["secret"] !== undefined) {
    throw new InvalidInputError(
      "--secret is not accepted: command-line arguments are visible to every user of the machine. " +
        "Use --secret-file <path> or the PYWRY_AUTH_SECRET environment variable.",
      "ERR_USAGE",
    );
  }
  if (options["sqliteKey"] !== undefined) {
    throw new InvalidInputError(
      "--sqlite-key is not accepted: command-line arguments are visible to every user of the machine. " +
        "Use --sqlite-key-file <path> or the PYWRY_SQLITE_KEY environment variable.",
      "ERR_USAGE",
    );
  }
}

function reportParseError(error: unknown, argv: readonly string[]): number {
  if (error instanceof CommanderError && error.exitCode === 0) return EXIT.ok;
  // Commander has already printed the help text for a bare group such as `pywry-auth session`.
  if (error instanceof CommanderError && error.code === "commander.help") return EXIT.usage;
  const output = new Output({ json: argv.includes("--json"), color: argv.includes("--no-color") ? false : undefined });
  if (error instanceof CommanderError) {
    // Commander checks required options before unknown ones: `token create --usr alice` would
    // say "--user not specified" where the real mistake is the misspelt option.
    const misspelt = error.code === "commander.missingMandatoryOptionValue" ? unknownOptionIn(argv) : null;
    // One line: commander puts its "(Did you mean ...?)" suggestion on a line of its own.
    // Output redacts whatever commander quoted (a token pasted as a command, `--secrets=...`).
    const message = (misspelt ?? error.message).replace(/^error: /, "").replace(/\n/g, " ");
    return output.fail(new InvalidInputError(`${message} (run with --help for usage)`, "ERR_USAGE"));
  }
  return output.fail(error);
}

/** The first option in argv that the command it is given to (or its parents) does not know, as commander words it. */
function unknownOptionIn(argv: readonly string[]): string | null {
  let command = buildProgram();
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

/** Examples shown under each command's --help. Tokens go through stdin: argv is visible to all. */
const EXAMPLES: Record<string, string[]> = {
  "": ["pywry-auth init", "T=$(pywry-auth token create --user alice)", "printf '%s\\n' \"$T\" | pywry-auth verify -"],
  token: ["T=$(pywry-auth token create --user alice)", "pywry-auth token list --user alice", "pywry-auth help token create"],
  session: ["pywry-auth session list", "S=$(pywry-auth session create --user bob --roles editor)", "pywry-auth help session purge"],
  roles: ["pywry-auth roles list", "pywry-auth roles grant editor publish", "pywry-auth help roles set"],
  config: ["pywry-auth config show"],
  secret: ["pywry-auth secret generate --out ~/.config/pywry-auth/secret.next"],
  "token create": [
    "T=$(pywry-auth token create --user alice --roles editor --ttl 8h)",
    "pywry-auth --json token create --user ci-bot --no-session --ttl 15m",
  ],
  "token renew": ["printf '%s\\n' \"$T\" | pywry-auth token renew --ttl 24h -", "pywry-auth token renew --accessor 8da57535580c77fe"],
  "token list": ["pywry-auth token list --user alice --all", "pywry-auth token list --kind widget --field accessor"],
  "widget-token": ["pywry-auth widget-token chart-1 --ttl 5m"],
  verify: [
    "printf '%s\\n' \"$T\" | pywry-auth verify -",
    "printf '%s\\n' \"$W\" | pywry-auth --json verify --widget chart-1 -",
    "pywry-auth verify --stdin < tokens.txt > results.ndjson",
  ],
  inspect: ["printf '%s\\n' \"$T\" | pywry-auth inspect -"],
  revoke: [
    "printf '%s\\n' \"$T\" | pywry-auth revoke --reason leaked -",
    "pywry-auth revoke --accessor 8da57535580c77fe",
    "pywry-auth revoke --user dave --yes",
  ],
  "session create": ["S=$(pywry-auth session create --user bob --roles editor --ttl 8h --metadata team=infra)"],
  "session list": [
    "pywry-auth session list --user bob",
    "pywry-auth session list --expiring-within 1h",
    "pywry-auth session list --expired",
    "pywry-auth session list --limit 50            # then: --limit 50 --after <the cursor it prints>",
    "pywry-auth session list --json-lines | jq -r .user_id",
  ],
  "session show": ["pywry-auth session show 8da57535580c77fe"],
  "session delete": ["pywry-auth session delete 8da57535580c77fe"],
  "session refresh": ["pywry-auth session refresh 8da57535580c77fe --ttl 2h"],
  "session purge": ["pywry-auth session purge --dry-run", "pywry-auth session purge --yes"],
  "session export": ["pywry-auth session export --out sessions.ndjson", "pywry-auth --store old.db session export | pywry-auth --store new.db --create session import"],
  "session import": ["pywry-auth session import sessions.ndjson", "pywry-auth session import --dry-run < sessions.ndjson"],
  "session grant": ["pywry-auth session grant 8da57535580c77fe widget:w1 read,write"],
  "session ungrant": ["pywry-auth session ungrant 8da57535580c77fe widget:w1 write"],
  "roles list": ["pywry-auth roles list"],
  "roles show": ["pywry-auth roles show editor"],
  "roles set": ["pywry-auth roles set analyst read export --create", "pywry-auth roles set anonymous --empty"],
  "roles grant": ["pywry-auth roles grant editor publish"],
  "roles revoke": ["pywry-auth roles revoke editor publish"],
  "roles delete": ["pywry-auth roles delete analyst --yes"],
  "roles seed": ["pywry-auth --store redis://127.0.0.1:6379/0 roles seed"],
  migrate: [
    "pywry-auth migrate --from ~/.config/pywry/pywry.db --to redis://redis.internal:6379/0 --dry-run",
    "pywry-auth migrate --from ~/.config/pywry/pywry.db --to redis://redis.internal:6379/0",
    "pywry-auth migrate --from plain.db --to encrypted.db --to-key-file ~/.config/pywry-auth/sqlite.key",
    "pywry-auth migrate --from encrypted.db --to plain.db --to-plain",
  ],
  can: [
    "pywry-auth can write --session 8da57535580c77fe",
    "pywry-auth can write --user carol --resource widget:dashboard-1",
    "pywry-auth can --list --user dave",
  ],
  audit: ["pywry-auth audit --since 1h", "pywry-auth --json audit --action session --user bob"],
  init: ["pywry-auth init", "pywry-auth init --yes --store /srv/pywry/pywry.db --secret-file /srv/pywry/secret"],
  doctor: ["pywry-auth doctor", "pywry-auth --json doctor", "pywry-auth --sqlite-key-file ~/.config/pywry-auth/sqlite.key doctor"],
  completion: ["source <(pywry-auth completion bash)", "pywry-auth completion fish | source"],
  "config show": ["pywry-auth config show", "pywry-auth --json config show"],
  "secret generate": ["pywry-auth secret generate --out ~/.config/pywry-auth/secret.next"],
};

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) names.unshift(current.name());
  return names.join(" ");
}

function allCommands(root: Command): Command[] {
  return root.commands.flatMap((child) => [child, ...allCommands(child)]);
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
