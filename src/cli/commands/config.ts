/** `config show`: every effective setting and where it came from (like `git config --show-origin`). */
import { existsSync } from "node:fs";
import {
  defaultRolesSetting,
  redisPrefixSetting,
  secretSetting,
  sessionTtlSetting,
  sqliteKeyStatus,
  storeSetting,
  widgetTtlSetting,
  type Context,
  describeStore,
} from "../context.js";
import type { Output } from "../output.js";
import { configFilePath } from "../settings.js";

interface Row {
  key: string;
  value: string | number | string[] | null;
  shown: string;
  origin: string;
}

export async function configShow(context: Context, output: Output): Promise<void> {
  const rows = settingRows(context);
  const store = storeSetting(context).value;
  if (store.kind === "sqlite") rows.splice(2, 0, await sqliteKeyRow(context, store.path));
  const table = await output.table(
    [{ header: "SETTING" }, { header: "VALUE" }, { header: "ORIGIN" }],
    rows.map((row) => [row.key, row.shown, output.style.dim(row.origin)]),
    "setting",
  );
  output.result(table, Object.fromEntries(rows.map((row) => [row.key, { value: row.value, origin: row.origin }])));
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
  const store = storeSetting(context);
  const secret = secretSetting(context);
  const previous = (context.env["PYWRY_AUTH_PREVIOUS_SECRETS"] ?? "").split(",").filter((item) => item.trim().length > 0);
  const rows: Row[] = [
    { key: "config_file", value: configPath, shown: `${configPath}${existsSync(configPath) ? "" : " (none)"}`, origin: context.env["PYWRY_AUTH_CONFIG"] ? "env PYWRY_AUTH_CONFIG" : "default" },
    { key: "store", value: describeStore(store.value), shown: describeStore(store.value), origin: store.origin },
  ];
  if (store.value.kind === "redis") {
    const prefix = redisPrefixSetting(context);
    rows.push({ key: "redis_prefix", value: prefix.value, shown: prefix.value, origin: prefix.origin });
  }
  // Secrets are described, never shown.
  const secretText =
    secret.value.kind === "env"
      ? `(set, from env ${secret.value.name})`
      : secret.value.kind === "file"
        ? `(set, from ${secret.value.path})`
        : `(not set: the first minting command creates ${secret.value.path})`;
  rows.push({ key: "secret", value: secret.value.kind === "none" ? null : secretText, shown: secretText, origin: secret.origin });
  rows.push({
    key: "previous_secrets",
    value: previous.length,
    shown: previous.length > 0 ? `(${previous.length} set)` : "(none)",
    origin: previous.length > 0 ? "env PYWRY_AUTH_PREVIOUS_SECRETS" : "default",
  });
  for (const [key, setting] of [
    ["session_ttl", sessionTtlSetting(context)],
    ["widget_ttl", widgetTtlSetting(context)],
  ] as const) {
    rows.push({ key, value: setting.value, shown: `${setting.value}s`, origin: setting.origin });
  }
  const roles = defaultRolesSetting(context);
  rows.push({ key: "default_roles", value: roles.value, shown: roles.value.join(", "), origin: roles.origin });
  return rows;
}
