/** `config show`: every effective setting and where it came from (like `git config --show-origin`). */
import { existsSync } from "node:fs";
import { isPywryAuthError } from "../../core/errors.js";
import type { Context } from "../context.js";
import { configFilePath, defaultRolesSetting, loadedSettings, redisPrefixSetting, secretSetting, sessionTtlSetting, storeSetting, widgetTtlSetting, describeStore } from "../settings.js";
import { sqliteKeyStatus } from "../store-access.js";
import { type Output } from "../output.js";
import { EXIT } from "../errors.js";
import type { SettingName, SettingProblem } from "../settings-schema.js";
import { defineCommand, defineGroup } from "../command.js";

const configShowCommand = defineCommand({
  declare: (config) =>
    config
      .command("show")
      .description("every effective setting and where it came from (flag, environment, config file, pywry's environment, default)"),
  examples: ["pywry-auth config show", "pywry-auth --json config show"],
  fields: null,
  action: configShow,
});

export default defineGroup({
  declare: (program) => program.command("config").description("pywry-auth's configuration"),
  examples: ["pywry-auth config show"],
  commands: [configShowCommand],
});

interface Row {
  key: string;
  value: string | number | string[] | null;
  shown: string;
  origin: string;
  /** Why the setting is unusable, when it is. */
  error?: string;
}

/**
 * Every setting, invalid ones included (each with its source and what is wrong): exit 0 when all
 * are valid, else 2 when a flag is invalid, else 3.
 */
export async function configShow(context: Context, output: Output): Promise<number> {
  context.tolerateInvalidSettings = true;
  const rows = settingRows(context);
  const store = storeSetting(context).value;
  if (store.kind === "sqlite") rows.splice(2, 0, await sqliteKeyRow(context, store.path));
  const table = await output.table(
    [{ header: "SETTING" }, { header: "VALUE" }, { header: "ORIGIN" }],
    rows.map((row) => [row.key, row.error === undefined ? row.shown : output.verdict(false, `invalid: ${row.error}`), output.style.dim(row.origin)]),
    "setting",
  );
  output.result(
    table,
    Object.fromEntries(rows.map((row) => [row.key, { value: row.value, origin: row.origin, ...(row.error === undefined ? {} : { error: row.error }) }])),
  );
  const { problems } = loadedSettings(context);
  if (problems.length === 0) return EXIT.ok;
  return problems.some((problem) => problem.kind === "flag") ? EXIT.usage : EXIT.environment;
}

/** A row for `setting`, or, when it is invalid, a row that says where and why. */
function rowOf(context: Context, key: SettingName, build: () => Row[]): Row[] {
  const problems = loadedSettings(context).problems.filter((problem) => problem.setting === key);
  if (problems.length > 0) return [invalidRow(key, problems)];
  try {
    return build();
  } catch (error) {
    // Valid values that cannot be used together (pywry's memory backend, say).
    if (!isPywryAuthError(error)) throw error;
    return [{ key, value: null, shown: "", origin: "", error: error.message }];
  }
}

function invalidRow(key: SettingName, problems: readonly SettingProblem[]): Row {
  return {
    key,
    value: null,
    shown: "",
    origin: problems.map((problem) => problem.source).join(", "),
    error: problems.map((problem) => problem.message).join("; "),
  };
}

/** Where the SQLCipher key would come from: the source, never the key (pywry's order, read-only). */
async function sqliteKeyRow(context: Context, path: string): Promise<Row> {
  const status = await sqliteKeyStatus(context, path);
  if (status.problem) return { key: "sqlite_key", value: null, shown: `(unusable: ${status.problem})`, origin: "error" };
  if (status.source) return { key: "sqlite_key", value: "(set)", shown: "(set)", origin: status.source };
  const shown = `(none: ${status.format === "encrypted" ? "the store is encrypted and cannot be opened; " : ""}tried ${status.tried.join("; ")})`;
  return { key: "sqlite_key", value: null, shown, origin: "default" };
}

export function settingRows(context: Context): Row[] {
  const configPath = configFilePath(context.env);
  const previous = (context.env["PYWRY_AUTH_PREVIOUS_SECRETS"] ?? "").split(",").filter((item) => item.trim().length > 0);
  const rows: Row[] = [
    ...rowOf(context, "config_file", () => [
      { key: "config_file", value: configPath, shown: `${configPath}${existsSync(configPath) ? "" : " (none)"}`, origin: context.env["PYWRY_AUTH_CONFIG"] ? "env PYWRY_AUTH_CONFIG" : "default" },
    ]),
    ...rowOf(context, "store", () => {
      const store = storeSetting(context);
      return [{ key: "store", value: describeStore(store.value), shown: describeStore(store.value), origin: store.origin }];
    }),
  ];
  const redis = rows.some((row) => row.key === "store" && row.error === undefined && /^rediss?:/i.test(String(row.value)));
  if (redis || loadedSettings(context).problems.some((problem) => problem.setting === "redis_prefix")) {
    rows.push(
      ...rowOf(context, "redis_prefix", () => {
        const prefix = redisPrefixSetting(context);
        return [{ key: "redis_prefix", value: prefix.value, shown: prefix.value, origin: prefix.origin }];
      }),
    );
  }
  rows.push(
    ...rowOf(context, "secret", () => {
      const secret = secretSetting(context);
      // Secrets are described, never shown.
      const secretText =
        secret.value.kind === "env"
          ? `(set, from env ${secret.value.name})`
          : secret.value.kind === "file"
            ? `(set, from ${secret.value.path})`
            : `(not set: the first minting command creates ${secret.value.path})`;
      return [{ key: "secret", value: secret.value.kind === "none" ? null : secretText, shown: secretText, origin: secret.origin }];
    }),
  );
  rows.push({
    key: "previous_secrets",
    value: previous.length,
    shown: previous.length > 0 ? `(${previous.length} set)` : "(none)",
    origin: previous.length > 0 ? "env PYWRY_AUTH_PREVIOUS_SECRETS" : "default",
  });
  for (const [key, read] of [
    ["session_ttl", () => sessionTtlSetting(context)],
    ["widget_ttl", () => widgetTtlSetting(context)],
  ] as const) {
    rows.push(
      ...rowOf(context, key, () => {
        const setting = read();
        return [{ key, value: setting.value, shown: `${setting.value}s`, origin: setting.origin }];
      }),
    );
  }
  rows.push(
    ...rowOf(context, "default_roles", () => {
      const roles = defaultRolesSetting(context);
      return [{ key: "default_roles", value: roles.value, shown: roles.value.join(", "), origin: roles.origin }];
    }),
  );
  const keyFile = loadedSettings(context).problems.filter((problem) => problem.setting === "sqlite_key_file");
  if (keyFile.length > 0) rows.push(invalidRow("sqlite_key_file", keyFile));
  return rows;
}
