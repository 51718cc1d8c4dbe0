/**
 * `init`: set pywry-auth up once (store, secret, defaults), test the store live, write the config
 * file, and say exactly what the pywry app must be given. Interactive at a terminal; `--yes` with
 * flags for CI.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseTtl } from "../../core/duration.js";
import { ConfigError, UsageError, asUsage } from "../errors.js";
import { redactUrl } from "../../core/redact.js";
import type { Context } from "../context.js";
import { generateSecret, writePrivateFile } from "../secrets.js";
import { configFilePath, defaultRolesSetting, defaultSecretPath, loadedSettings, sessionTtlSetting, widgetTtlSetting, expandHome, storeSetting, type StoreLocation, describeStore } from "../settings.js";
import { withStore, sqliteKeySources, sqliteKeyStatus } from "../store-access.js";
import { checkWriteTarget, modeNote, type WrittenFile } from "../../files.js";
import { splitNames } from "../input.js";
import type { Output } from "../output.js";
import { storeSpecProblem, type ConfigFile } from "../settings-schema.js";
import { defineCommand } from "../command.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("init")
      .description("set up pywry-auth: store, secret and defaults (asks at a terminal; --yes with flags for CI), then say what pywry needs")
      .option("-y, --yes", "do not ask: take --store, --secret-file and the options below (or the current settings)")
      .option("--force", "replace an existing config file")
      .option("--session-ttl <duration>", "default lifetime of new sessions and tokens (e.g. 24h)")
      .option("--widget-ttl <duration>", "default lifetime of widget tokens (e.g. 5m)")
      .option("--default-roles <roles>", "roles for new sessions when --roles is not given (e.g. viewer)"),
  examples: ["pywry-auth init", "pywry-auth init --yes --store /srv/pywry/pywry.db --secret-file /srv/pywry/secret"],
  fields: ["config_file", "config", "secret_created", "pywry_env", "sqlite_key"],
  action: init,
});

interface InitOptions {
  yes?: boolean;
  force?: boolean;
  store?: string;
  secretFile?: string;
  sessionTtl?: string;
  widgetTtl?: string;
  defaultRoles?: string;
}

interface Plan {
  store: string;
  secretFile: string;
  /** A secret typed at the prompt, to be written to secretFile. */
  typedSecret?: string;
  sessionTtl?: number;
  widgetTtl?: number;
  defaultRoles?: string[];
}

export async function init(context: Context, output: Output, options: InitOptions): Promise<void> {
  const configPath = configFilePath(context.env);
  // init is how a broken config file gets replaced: only the settings it reads must be valid.
  context.tolerateInvalidSettings = true;
  const interactive = !options.yes;
  if (interactive && (!process.stdin.isTTY || !process.stdout.isTTY)) {
    throw new UsageError("init asks questions, but there is no terminal: pass --yes with --store and --secret-file (CI)");
  }
  if (existsSync(configPath) && !options.force && !(interactive && (await confirmOverwrite(configPath)))) {
    throw new UsageError(`${configPath} already exists; pass --force to replace it`);
  }
  // The file is being replaced: what is wrong in it no longer matters (its valid values still do).
  const loaded = loadedSettings(context);
  context.settings = { ...loaded, problems: loaded.problems.filter((problem) => problem.kind !== "config") };
  const plan = interactive ? await askPlan(context) : planFromFlags(context, options);
  const location = storeLocationOf(context, plan.store);
  // A config file init could not write (a planted symbolic link) stops it before the secret or the store is made.
  checkWriteTarget(configPath, true, configFailure, "file");
  const secretWritten = ensureSecretFile(plan);
  const secretCreated = secretWritten !== null;
  // Tested live: a store that cannot be opened (or created) stops init before anything is written.
  const storeContext = { ...context, options: { ...context.options, store: plan.store } };
  await withStore(storeContext, "create", async (store) => {
    await store.listRoles();
  });
  const key = location.kind === "sqlite" ? await sqliteKeyStatus(storeContext, location.path) : null;
  const encrypted = key?.format === "encrypted";
  const keyFile = encrypted ? recordedKeyFile(context) : undefined;
  const config: ConfigFile = {
    store: plan.store,
    secretFile: plan.secretFile,
    ...(keyFile === undefined ? {} : { sqliteKeyFile: keyFile }),
    ...(plan.sessionTtl === undefined ? {} : { sessionTtl: plan.sessionTtl }),
    ...(plan.widgetTtl === undefined ? {} : { widgetTtl: plan.widgetTtl }),
    ...(plan.defaultRoles === undefined ? {} : { defaultRoles: plan.defaultRoles }),
  };
  const effective = settingsAfter(context, config);
  writePrivateFile(configPath, `${JSON.stringify(config, null, 2)}\n`, true, configFailure);
  const pywryEnv = { ...pywryEnvironment(location), ...pywrySettingsEnvironment(effective) };
  output.result(
    [
      `wrote ${configPath}`,
      `store   ${describeStore(location)} (reachable)`,
      `secret  ${plan.secretFile}${secretWritten !== null ? ` (created now, ${modeNote(secretWritten)})` : ""}`,
      ...(encrypted ? [`key     encrypted (SQLCipher), key from ${key?.source}`] : []),
      "",
      "Give your pywry app the same settings:",
      "",
      "  from pathlib import Path",
      "  from pywry.state.auth import AuthConfig",
      `  config = AuthConfig(enabled=True, token_secret=Path(${JSON.stringify(plan.secretFile)}).read_text().strip(), session_ttl=${effective.sessionTtl})`,
      `  # widget tokens: generate_widget_token(widget_id, config.token_secret, ttl=${effective.widgetTtl})`,
      "",
      ...Object.entries(pywryEnv).map(([name, value]) => `  ${name}=${value}`),
      ...(effective.sessionTtl < PYWRY_MIN_SESSION_TTL
        ? [`  # PYWRY_DEPLOY__SESSION_TTL is left out: pywry requires at least ${PYWRY_MIN_SESSION_TTL} seconds there`]
        : []),
      ...(encrypted ? ["", pywryKeyAdvice(key?.source ?? "", keyFile)] : []),
    ],
    {
      config_file: configPath,
      // The file keeps the store URL whole (it is the operator's, mode 0600); output never shows its password.
      config: { ...config, store: describeStore(location) },
      secret_created: secretCreated,
      pywry_auth_config: { enabled: true, session_ttl: effective.sessionTtl },
      pywry_widget_token_ttl: effective.widgetTtl,
      pywry_env: pywryEnv,
      sqlite_key: key === null ? null : { encrypted, source: encrypted ? key.source : null },
    },
  );
}

function configFailure(message: string): ConfigError {
  return new ConfigError(message);
}

/** The key file to keep in the config, when the key came from one (env, keyring and salt need no record). */
function recordedKeyFile(context: Context): string | undefined {
  const { keyFile, configKeyFile } = sqliteKeySources(context);
  if (keyFile) return keyFile.path;
  if (configKeyFile && !context.env["PYWRY_SQLITE_KEY"]) return configKeyFile.path;
  return undefined;
}

/** How pywry gets the same key: by itself for the keyring and salt, from PYWRY_SQLITE_KEY otherwise. */
function pywryKeyAdvice(source: string, keyFile: string | undefined): string {
  if (keyFile !== undefined) return `  and the SQLCipher key from ${keyFile}: PYWRY_SQLITE_KEY="$(cat ${keyFile})" (pip install "pywry[sqlite]")`;
  if (source.startsWith("env ")) return "  and the same PYWRY_SQLITE_KEY in its environment (pip install \"pywry[sqlite]\")";
  return `  pywry finds the SQLCipher key itself (${source}) when sqlcipher3 is installed (pip install "pywry[sqlite]")`;
}

/** pywry's DeploySettings.session_ttl has ge=60. */
const PYWRY_MIN_SESSION_TTL = 60;

interface Effective {
  sessionTtl: number;
  widgetTtl: number;
  defaultRoles: string[];
}

/**
 * The settings pywry-auth will use once the new config file is written (the environment still
 * wins over it): what the pywry side must be given to agree. The old file is left out.
 */
function settingsAfter(context: Context, config: ConfigFile): Effective {
  const after: Context = { ...context, settings: { ...loadedSettings(context), config } };
  return {
    sessionTtl: sessionTtlSetting(after).value,
    widgetTtl: widgetTtlSetting(after).value,
    defaultRoles: defaultRolesSetting(after).value,
  };
}

/** The pywry variables for pywry-auth's other settings: session lifetime and default roles. */
function pywrySettingsEnvironment(effective: Effective): Record<string, string> {
  return {
    ...(effective.sessionTtl >= PYWRY_MIN_SESSION_TTL ? { PYWRY_DEPLOY__SESSION_TTL: String(effective.sessionTtl) } : {}),
    // pywry splits this variable on commas (it reads no JSON there).
    PYWRY_DEPLOY__DEFAULT_ROLES: effective.defaultRoles.join(","),
  };
}

function planFromFlags(context: Context, options: InitOptions): Plan {
  return {
    store: options.store ? storeSpec(context, options.store) : describeSpec(storeSetting(context).value),
    secretFile: expandHome(options.secretFile ?? defaultSecretPath(context.env), context.env),
    sessionTtl: options.sessionTtl === undefined ? undefined : asUsage(parseTtl, options.sessionTtl, "--session-ttl"),
    widgetTtl: options.widgetTtl === undefined ? undefined : asUsage(parseTtl, options.widgetTtl, "--widget-ttl"),
    defaultRoles: options.defaultRoles === undefined ? undefined : nonEmptyRoles(options.defaultRoles),
  };
}

async function askPlan(context: Context): Promise<Plan> {
  const { input, password, select } = await import("@inquirer/prompts");
  const current = currentStore(context);
  const kind = await select({
    message: "Where are the sessions kept?",
    choices: [
      { name: "SQLite file (pywry's default; a desktop app or one server)", value: "sqlite" },
      { name: "Redis (several workers or machines)", value: "redis" },
    ],
    default: current.kind,
  });
  const store =
    kind === "sqlite"
      ? await input({
          message: "SQLite file",
          default: current.kind === "sqlite" ? current.path : pywryDefaultStore(context),
          validate: (value) => storeSpecProblem(value) ?? true,
        })
      : await input({
          message: "Redis URL",
          default: current.kind === "redis" ? current.url : "redis://localhost:6379/0",
          validate: (value) => /^rediss?:\/\//i.test(value) || "a redis:// or rediss:// URL",
        });
  const secretChoice = await select({
    message: "Signing secret",
    choices: [
      { name: `Generate a new one into ${defaultSecretPath(context.env)}`, value: "generate" },
      { name: "Use an existing file", value: "file" },
      { name: "Type it (hidden) and save it to a file", value: "type" },
    ],
  });
  let secretFile = defaultSecretPath(context.env);
  let typedSecret: string | undefined;
  if (secretChoice === "file") {
    secretFile = await input({ message: "Secret file", validate: (value) => existsSync(expandHome(value, context.env)) || "no such file" });
  } else if (secretChoice === "type") {
    typedSecret = await password({ message: "Secret", mask: false, validate: (value) => value.trim().length > 0 || "empty" });
    secretFile = await input({ message: "Save it to", default: secretFile });
  }
  const sessionTtl = parseTtl(await input({ message: "Default session lifetime", default: "24h", validate: validTtl }));
  const widgetTtl = parseTtl(await input({ message: "Default widget-token lifetime", default: "5m", validate: validTtl }));
  const defaultRoles = nonEmptyRoles(await input({ message: "Default roles for new sessions", default: "viewer" }));
  return {
    store: storeSpec(context, store),
    secretFile: expandHome(secretFile, context.env),
    ...(typedSecret === undefined ? {} : { typedSecret }),
    sessionTtl,
    widgetTtl,
    defaultRoles,
  };
}

/**
 * The store configured now, as the wizard's suggestion; pywry's default when the setting is
 * invalid (the wizard is how it gets replaced).
 */
function currentStore(context: Context): StoreLocation {
  try {
    return storeSetting(context).value;
  } catch {
    return { kind: "sqlite", path: pywryDefaultStore(context) };
  }
}

function pywryDefaultStore(context: Context): string {
  return join(context.env["HOME"] || homedir(), ".config", "pywry", "pywry.db");
}

async function confirmOverwrite(path: string): Promise<boolean> {
  const { confirm } = await import("@inquirer/prompts");
  return confirm({ message: `${path} exists. Replace it?`, default: false });
}

/** The secret file written now (null: an existing one is kept). */
function ensureSecretFile(plan: Plan): WrittenFile | null {
  if (plan.typedSecret === undefined && existsSync(plan.secretFile)) return null;
  return writePrivateFile(plan.secretFile, `${plan.typedSecret ?? generateSecret()}\n`, plan.typedSecret !== undefined);
}

function storeSpec(context: Context, spec: string): string {
  return /^rediss?:\/\//i.test(spec) ? spec : expandHome(spec, context.env);
}

function describeSpec(location: StoreLocation): string {
  return location.kind === "sqlite" ? location.path : location.url;
}

function storeLocationOf(context: Context, spec: string): StoreLocation {
  return storeSetting({ ...context, options: { ...context.options, store: spec } }).value;
}

/** pywry's own settings for the same store (its PYWRY_DEPLOY__* environment). */
function pywryEnvironment(location: StoreLocation): Record<string, string> {
  if (location.kind === "sqlite") return { PYWRY_DEPLOY__STATE_BACKEND: "sqlite", PYWRY_DEPLOY__SQLITE_PATH: location.path };
  return {
    PYWRY_DEPLOY__STATE_BACKEND: "redis",
    PYWRY_DEPLOY__REDIS_URL: redactUrl(location.url),
    PYWRY_DEPLOY__REDIS_PREFIX: location.prefix,
  };
}

function nonEmptyRoles(text: string): string[] {
  const roles = splitNames(text, "role");
  if (roles.length === 0) throw new UsageError("name at least one default role, e.g. viewer");
  return roles;
}

function validTtl(value: string): true | string {
  try {
    parseTtl(value);
    return true;
  } catch (error) {
    return (error as Error).message;
  }
}
