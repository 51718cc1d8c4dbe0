/**
 * The pywry-auth command line: declarations only. Each command's code is imported when that
 * command runs, so `verify` never loads SQLite and `--version` loads almost nothing.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { InvalidInputError } from "../core/errors.js";
import type { Context, GlobalOptions } from "./context.js";
import { EXIT, Output } from "./output.js";

type Action = (context: Context, output: Output) => Promise<number | void>;

export async function run(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    process.exitCode = reportParseError(error, argv);
  }
}

export function buildProgram(): Command {
  const program = new Command("pywry-auth")
    .description("Mint, inspect, verify and revoke pywry session and widget tokens; administer pywry's session store.")
    .version(packageVersion(), "-V, --version", "print the pywry-auth version")
    .option("--secret-file <path>", "file holding the signing secret (default: $PYWRY_AUTH_SECRET, then ~/.config/pywry-auth/secret)")
    .option("--store <path>", "SQLite session store (default: $PYWRY_DEPLOY__SQLITE_PATH, then ~/.config/pywry/pywry.db)")
    .option("--json", "machine-readable JSON output")
    .option("--no-color", "never colour the output")
    .addOption(new Option("--secret <value>").hideHelp())
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  program.hook("preAction", (_program, command) => refuseSecretOnArgv(command.optsWithGlobals()));

  const token = program.command("token").description("session tokens: mint and list");
  token
    .command("create")
    .description("mint a session token and create its session the way pywry's login does")
    .requiredOption("--user <id>", "user id the token is for")
    .option("--roles <roles>", "comma-separated roles for the session", "viewer")
    .addOption(new Option("--ttl <duration>", "lifetime: seconds or 15m, 24h, 7d (default 24h)").conflicts(["expiresAt", "expiry"]))
    .addOption(new Option("--expires-at <time>", "expiry as ISO 8601 or Unix seconds").conflicts(["expiry"]))
    .option("--no-expiry", "a token that never expires")
    .option("--label <text>", "a note kept in the registry")
    .option("--no-session", "only mint the token: no session, no registry entry, no store")
    .action(command("./commands/tokens.js", "tokenCreate"));
  token
    .command("list")
    .description("issued tokens from the registry, by accessor (never the token itself)")
    .option("--user <id>", "only tokens for this subject")
    .addOption(new Option("--kind <kind>", "only this kind").choices(["session", "widget"]))
    .option("--all", "include revoked and expired tokens")
    .action(command("./commands/tokens.js", "tokenList"));

  program
    .command("widget-token")
    .description("mint a short-lived widget token")
    .argument("<widget-id>", "the widget the token is for")
    .option("--ttl <duration>", "lifetime: seconds or 5m, 1h", "300")
    .option("--label <text>", "a note kept in the registry")
    .option("--no-record", "do not record the token in the store's registry")
    .action(command("./commands/tokens.js", "widgetToken"));

  program
    .command("verify")
    .description("check a token: exit 0 when valid, 1 when not")
    .argument("<token>", "the token, or - to read it from stdin")
    .option("--widget <id>", "require a widget token for this widget id")
    .option("--user <id>", "require a token for this user id")
    .option("--at <time>", "validate as of this time (ISO 8601 or Unix seconds)")
    .option("--offline", "do not consult the store for revocations")
    .action(command("./commands/verify.js", "verify"));

  program
    .command("inspect")
    .description("decode a token without needing its secret; check the signature when a secret is configured")
    .argument("<token>", "the token, or - to read it from stdin")
    .action(command("./commands/verify.js", "inspect"));

  program
    .command("revoke")
    .description("revoke a token: delete its session and record the revocation (idempotent)")
    .argument("[token]", "the token, or - to read it from stdin")
    .option("--accessor <accessor>", "revoke the registry token with this accessor")
    .option("--session <id>", "revoke the session with this id or handle")
    .option("--reason <text>", "why, kept with the revocation")
    .action(command("./commands/revoke.js", "revoke"));

  const session = program.command("session").description("sessions in the store");
  session
    .command("list")
    .description("sessions, by handle (ids are credentials: --reveal shows them)")
    .option("--user <id>", "only this user's sessions")
    .option("--all", "include expired sessions")
    .option("--reveal", "show raw session ids")
    .action(command("./commands/sessions.js", "sessionList"));
  session
    .command("show")
    .description("one session, by id or handle")
    .argument("<id>", "session id or handle")
    .option("--reveal", "show the raw session id")
    .action(command("./commands/sessions.js", "sessionShow"));
  session
    .command("delete")
    .description("delete a session, by id or handle (pywry's delete_session)")
    .argument("<id>", "session id or handle")
    .action(command("./commands/sessions.js", "sessionDelete"));

  const roles = program.command("roles").description("role permissions in the store");
  roles.command("list").description("every role with its permissions").action(command("./commands/roles.js", "rolesList"));
  roles
    .command("show")
    .description("one role's permissions")
    .argument("<role>", "role name")
    .action(command("./commands/roles.js", "rolesShow"));

  const secret = program.command("secret").description("signing secrets");
  secret
    .command("generate")
    .description("generate a new secret (32 random bytes, hex)")
    .option("--out <file>", "write it to this file (mode 0600) instead of stdout")
    .option("--force", "replace an existing file")
    .action(command("./commands/secret.js", "secretGenerate"));

  for (const sub of [program, ...allCommands(program)]) sub.exitOverride().configureOutput({ outputError: () => undefined });
  return program;
}

/** Wraps a lazily imported command function as a commander action that sets the exit code. */
function command(modulePath: string, exportName: string) {
  return async (...args: unknown[]): Promise<void> => {
    const invoked = args[args.length - 1] as Command;
    const options = invoked.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
    const output = new Output({ json: Boolean(options.json), color: options.color });
    const context: Context = { options, env: process.env, notice: (message) => output.notice(message) };
    try {
      const module = (await import(modulePath)) as Record<string, (...input: unknown[]) => Promise<number | void>>;
      const action = module[exportName] as (...input: unknown[]) => ReturnType<Action>;
      process.exitCode = (await action(context, output, ...args.slice(0, -2), options)) ?? EXIT.ok;
    } catch (error) {
      process.exitCode = output.fail(error);
    }
  };
}

function refuseSecretOnArgv(options: Record<string, unknown>): void {
  if (options["secret"] !== undefined) {
    throw new InvalidInputError(
      "--secret is not accepted: command-line arguments are visible to every user of the machine. " +
        "Use --secret-file <path> or the PYWRY_AUTH_SECRET environment variable.",
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
    const message = error.message.replace(/^error: /, "");
    return output.fail(new InvalidInputError(`${message} (run with --help for usage)`, "ERR_USAGE"));
  }
  return output.fail(error);
}

function allCommands(root: Command): Command[] {
  return root.commands.flatMap((child) => [child, ...allCommands(child)]);
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}
