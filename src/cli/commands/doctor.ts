/**
 * `doctor`: checks the set-up and explains each problem with its fix. Exit 0 only when every
 * check is ok; warnings count, since each one is something an operator should act on.
 */
import { existsSync, statSync } from "node:fs";
import { isPywryAuthError } from "../../core/errors.js";
import type { HealthFinding } from "../../store/types.js";
import type { Context } from "../context.js";
import { configuredSecrets } from "../secrets.js";
import { describeStore, loadedSettings, secretSetting, storeSetting } from "../settings.js";
import { sqliteKeyStatus, withStore, type SqliteKeyStatus } from "../store-access.js";
import { type Output } from "../output.js";
import { EXIT } from "../errors.js";
import { defineCommand } from "../command.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("doctor")
      .description("check the secret, the store and the clock, and explain each problem with its fix (exit 0 only when all is well)"),
  examples: ["pywry-auth doctor", "pywry-auth --json doctor", "pywry-auth --sqlite-key-file ~/.config/pywry-auth/sqlite.key doctor"],
  fields: ["healthy", "findings"],
  action: doctor,
});

const MIN_SECRET_BYTES = 32;
// A clock before pywry-auth existed, or centuries ahead, makes every expiry check meaningless.
const SANE_CLOCK = { from: Date.UTC(2025, 0, 1) / 1000, to: Date.UTC(2100, 0, 1) / 1000 };
const PYWRY_LOCAL_SESSION = "local";

export async function doctor(context: Context, output: Output): Promise<number> {
  // Invalid settings are findings; each check below reports a setting it needs that is invalid.
  context.tolerateInvalidSettings = true;
  const findings = [...checkSettings(context), ...checkSecret(context), checkClock(context.clock.now()), ...(await checkStore(context))];
  const healthy = findings.every((finding) => finding.status === "ok");
  const marks = { ok: output.verdict(true, "ok  "), warn: output.style.yellow.bold("warn"), fail: output.verdict(false, "FAIL") };
  const lines = findings.flatMap((finding) => [
    `${marks[finding.status]}  ${finding.check}: ${finding.message}`,
    ...(finding.fix && finding.status !== "ok" ? [`      fix: ${finding.fix}`] : []),
  ]);
  const problems = findings.filter((finding) => finding.status !== "ok").length;
  lines.push("", healthy ? output.verdict(true, "no problems found") : output.verdict(false, `${problems} problem${problems === 1 ? "" : "s"} found`));
  output.result(lines, { healthy, findings });
  return healthy ? EXIT.ok : EXIT.no;
}

function checkSettings(context: Context): HealthFinding[] {
  const { problems } = loadedSettings(context);
  if (problems.length === 0) return [{ check: "settings", status: "ok", message: "every setting is valid (flags, environment, config file)" }];
  return problems.map((problem) => ({
    check: "setting",
    status: "fail",
    message: `${problem.source}: ${problem.message}`,
    fix: problem.kind === "config" ? "correct or remove it in the config file (docs/configuration.md)" : `correct or unset ${problem.kind === "flag" ? "the flag" : "the variable"} (docs/configuration.md)`,
  }));
}

function checkSecret(context: Context): HealthFinding[] {
  let source: ReturnType<typeof secretSetting>["value"];
  try {
    source = secretSetting(context).value;
  } catch (error) {
    return [{ check: "secret", status: "fail", message: `not checked: ${isPywryAuthError(error) ? error.message : String(error)}`, fix: "see the settings finding above" }];
  }
  if (source.kind === "none") {
    return [
      {
        check: "secret",
        status: "fail",
        message: "no signing secret is configured",
        fix: "run `pywry-auth init`, or set PYWRY_AUTH_SECRET / --secret-file",
      },
    ];
  }
  let secret: string;
  try {
    secret = configuredSecrets({ ...context, notice: () => undefined }).all[0] ?? "";
  } catch (error) {
    return [{ check: "secret", status: "fail", message: isPywryAuthError(error) ? error.message : String(error), fix: "point --secret-file at a readable file" }];
  }
  const where = source.kind === "env" ? `env ${source.name}` : source.path;
  const findings: HealthFinding[] = [];
  const bytes = Buffer.byteLength(secret, "utf8");
  findings.push(
    bytes >= MIN_SECRET_BYTES
      ? { check: "secret", status: "ok", message: `configured (${where}), ${bytes} bytes` }
      : {
          check: "secret",
          status: "warn",
          message: `the secret from ${where} is ${bytes} bytes; at least ${MIN_SECRET_BYTES} are needed to resist guessing`,
          fix: "pywry-auth secret generate --out <file>, then rotate (PYWRY_AUTH_PREVIOUS_SECRETS keeps old tokens valid meanwhile)",
        },
  );
  if (source.kind === "file") findings.push(privateFileFinding("secret file", source.path));
  return findings;
}

function checkClock(now: number): HealthFinding {
  return now >= SANE_CLOCK.from && now <= SANE_CLOCK.to
    ? { check: "clock", status: "ok", message: new Date(now * 1000).toISOString() }
    : {
        check: "clock",
        status: "fail",
        message: `the system clock says ${new Date(now * 1000).toISOString()}: token expiry cannot be trusted`,
        fix: "set the clock (e.g. enable NTP with timedatectl set-ntp true)",
      };
}

async function checkStore(context: Context): Promise<HealthFinding[]> {
  let location: ReturnType<typeof storeSetting>["value"];
  try {
    location = storeSetting(context).value;
  } catch (error) {
    return [{ check: "store", status: "fail", message: `not checked: ${isPywryAuthError(error) ? error.message : String(error)}`, fix: "correct the store setting (--store, PYWRY_AUTH_STORE, the config file's store, PYWRY_DEPLOY__*)" }];
  }
  const name = describeStore(location);
  if (location.kind === "sqlite" && !existsSync(location.path)) {
    return [{ check: "store", status: "fail", message: `no session store at ${name}`, fix: "run `pywry-auth init` or point --store at pywry's database" }];
  }
  const key = location.kind === "sqlite" ? await sqliteKeyStatus(context, location.path) : null;
  const keyProblem: HealthFinding[] = key?.problem ? [{ check: "sqlite key", status: "fail", message: key.problem, fix: HOW_TO_FIX_A_KEY }] : [];
  try {
    return await withStore(context, "read", async (store) => {
      const findings: HealthFinding[] = [{ check: "store", status: "ok", message: `${name} is reachable` }, ...keyProblem];
      if (location.kind === "sqlite") findings.push(privateFileFinding("database file", location.path));
      findings.push(...(await store.healthCheck()).map((finding) => (finding.check === "encryption" && key ? encryptionFinding(finding, key) : finding)));
      const sessions = await store.listSessions();
      const local = sessions.find((session) => session.sessionId === PYWRY_LOCAL_SESSION && session.roles.includes("admin"));
      if (local) {
        findings.push({
          check: "local admin session",
          status: "warn",
          message: 'pywry\'s built-in permanent admin session "local" exists: the cookie value "local" makes anyone admin',
          fix: "unless this is a single-user desktop app: pywry-auth session delete local",
        });
      }
      const forever = sessions.filter((session) => session.expiresAt === null && session !== local).length;
      if (forever > 0) {
        findings.push({
          check: "sessions without expiry",
          status: "warn",
          message: `${forever} session${forever === 1 ? " never expires" : "s never expire"}`,
          fix: "pywry-auth session list --all, then revoke or refresh them with a TTL (session refresh <handle> --ttl 24h)",
        });
      }
      if ((await store.listRoles()).size === 0) {
        findings.push({
          check: "roles",
          status: "warn",
          message: "the store defines no roles: in pywry no role grants anything",
          fix: "pywry-auth roles seed (pywry's defaults), or roles set <role> <permissions...>",
        });
      }
      return findings;
    });
  } catch (error) {
    const keyError = isPywryAuthError(error) && error.code === "ERR_STORE_KEY";
    if (keyError && keyProblem.length > 0) return keyProblem;
    return [
      {
        check: "store",
        status: "fail",
        message: isPywryAuthError(error) ? error.message : String(error),
        fix: keyError ? HOW_TO_FIX_A_KEY : "check --store and that the store is reachable",
      },
    ];
  }
}

const HOW_TO_FIX_A_KEY = "give the SQLCipher key pywry uses: set PYWRY_SQLITE_KEY, or --sqlite-key-file <file> (mode 0600)";

/**
 * The store's encryption with where its key comes from, and the mismatch pywry would trip on: a
 * key configured for a plain store means pywry (with sqlcipher) cannot open the store.
 */
function encryptionFinding(finding: HealthFinding, key: SqliteKeyStatus): HealthFinding {
  if (key.format === "encrypted") return { ...finding, message: `${finding.message}, key from ${key.source ?? "?"}` };
  if (key.source === null) return finding;
  return {
    check: "encryption",
    status: "warn",
    message: `the store is plain SQLite, but a SQLCipher key is configured (${key.source}): pywry with sqlcipher installed will use the key and fail to open it`,
    fix: "copy it into an encrypted store (pywry-auth migrate --from <plain.db> --to <new.db>) and point pywry at that, or remove the key",
  };
}

/** Files holding live credentials must be readable by their owner only. */
function privateFileFinding(what: string, path: string): HealthFinding {
  const mode = statSync(path).mode & 0o777;
  return mode & 0o077
    ? {
        check: `${what} permissions`,
        status: "fail",
        message: `${path} is readable by other users (mode ${mode.toString(8).padStart(4, "0")})${what === "database file" ? ": it holds live tokens as pywry session ids" : ""}`,
        fix: `chmod 600 ${path}`,
      }
    : { check: `${what} permissions`, status: "ok", message: `${path} is private (mode ${mode.toString(8).padStart(4, "0")})` };
}
