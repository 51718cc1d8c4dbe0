/**
 * The signing secret: found where settings.ts says it is, read as pywry reads it, created on the
 * first mint when none is configured, typed at a hidden prompt when a check has none.
 */
import { asUsage } from "./errors.js";
import { statSync } from "node:fs";
import { relative } from "node:path";
import { SecretError, isPywryAuthError } from "../core/errors.js";
import { pythonStrip } from "../core/pystr.js";
import { looksLikeCredential } from "../core/redact.js";
import { modeNote, notARegularFile, readSmallPrivateFile, writePrivateFile as writeFileAtomically, type FailWith, type WrittenFile } from "../files.js";
import type { Context } from "./context.js";
import { defaultSecretPath, secretSetting } from "./settings.js";

export interface Secrets {
  /** Current secret first, then previous ones still accepted during a rotation. */
  all: string[];
  source: string;
}

export const SECRET_BYTES = 32;

export function generateSecret(): string {
  // Web Crypto's CSPRNG (the same source as node:crypto's randomBytes), reached through the
  // global so that commands which never mint a secret never load node:crypto (cold start).
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(SECRET_BYTES))).toString("hex");
}

/**
 * The configured secrets, or an ERR_NO_SECRET error saying how to configure one. Checking
 * commands call this; minting commands call `secretsForMinting`, which may create one.
 */
export function configuredSecrets(context: Context): Secrets {
  const found = findSecret(context);
  if (!found) {
    throw new SecretError(
      `no signing secret configured: pass --secret-file <path>, set PYWRY_AUTH_SECRET, or mint a token once to create ${defaultSecretPath(context.env)}`,
    );
  }
  return found;
}

/** The configured secrets, or null when none is configured (a broken configuration still throws). */
export function secretsIfConfigured(context: Context): Secrets | null {
  try {
    return configuredSecrets(context);
  } catch (error) {
    if (isPywryAuthError(error) && error.code === "ERR_NO_SECRET") return null;
    throw error;
  }
}

/**
 * For commands that check tokens: the configured secrets, or, at a terminal with none configured,
 * one typed at a hidden prompt (used for this run only, never stored or echoed).
 */
export async function checkingSecrets(context: Context): Promise<Secrets> {
  const found = findSecret(context);
  if (found || !process.stdin.isTTY || !process.stdout.isTTY) return found ?? configuredSecrets(context);
  const { password } = await import("@inquirer/prompts");
  const typed = await password({ message: "No signing secret is configured. Type it (hidden):" });
  if (pythonStrip(typed) === "") return configuredSecrets(context);
  return { all: [secretText(typed, "the secret typed"), ...splitList(context.env["PYWRY_AUTH_PREVIOUS_SECRETS"])], source: "the prompt" };
}

/** Like configuredSecrets, but on first use creates a new secret in the default location. */
export function secretsForMinting(context: Context): Secrets {
  const found = findSecret(context);
  if (found) return found;
  const path = defaultSecretPath(context.env);
  const written = writePrivateFile(path, `${generateSecret()}\n`, false);
  context.notice(
    `created a new signing secret in ${path} (${modeNote(written)}). Your pywry app must use the same value: ` +
      `AuthConfig(token_secret=open("${path}").read().strip())`,
  );
  return { all: [readSecretFile(path, context)], source: path };
}

/**
 * Writes a file only its owner can read, atomically, never through a symbolic link (see
 * files.ts); refuses to replace an existing one unless asked. Says what mode it really has.
 */
export function writePrivateFile(
  path: string,
  content: string,
  overwrite: boolean,
  fail: FailWith = (message) => new SecretError(message, "ERR_SECRET"),
): WrittenFile {
  // An existing file (without `overwrite`) is the user's to move or --force: a usage mistake.
  return asUsage(writeFileAtomically, path, content, overwrite, fail);
}

function findSecret(context: Context): Secrets | null {
  const previous = splitList(context.env["PYWRY_AUTH_PREVIOUS_SECRETS"]);
  const source = secretSetting(context).value;
  if (source.kind === "none") return null;
  if (source.kind === "env") {
    return { all: [secretText(context.env[source.name] ?? "", source.name), ...previous], source: source.name };
  }
  return { all: [readSecretFile(source.path, context), ...previous], source: source.path };
}

function readSecretFile(path: string, context: Context): string {
  let text: string;
  // `--secret-file <the secret itself>` by mistake: the error must not print it. Judged on the
  // path relative to here (the flag's value was resolved against the working directory); a
  // path outside it was typed as a path.
  const typed = relative(process.cwd(), path);
  const pathIsSecret = !typed.startsWith("..") && looksLikeCredential(typed);
  try {
    // A regular file of a sane size, owned by this user or root: never a FIFO (which would block)
    // or /dev/zero (which never ends), nor a file someone else could have written.
    text = readSmallPrivateFile(
      path,
      (message) => new SecretError(pathIsSecret ? message.split(path).join("(path not shown: it looks like a secret)") : message, "ERR_SECRET"),
      "secret file",
    );
  } catch (error) {
    if (isPywryAuthError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (pathIsSecret) {
      throw new SecretError(
        "cannot read the secret file: its path is not shown because it looks like a secret itself (--secret-file takes the path of a file holding the secret)",
        "ERR_SECRET",
      );
    }
    if (code === "EISDIR") {
      throw new SecretError(notARegularFile("secret file", path, "a directory"), "ERR_SECRET");
    }
    const reason = code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new SecretError(`cannot read secret file ${path}: ${reason}`, "ERR_SECRET");
  }
  warnIfShared(path, context);
  return secretText(text, `secret file ${path}`);
}

/**
 * The secret in `text`, read exactly as the pywry side reads it (`.strip()`: every surrounding
 * whitespace character Python knows, so "  S  \n", "S\r" and "S" sign alike). A line break
 * inside is refused: Python's text files turn "\r\n" and "\r" into "\n", so the two sides would
 * sign with different secrets.
 */
function secretText(text: string, where: string): string {
  const secret = pythonStrip(text);
  if (secret === "") throw new SecretError(`${where} is empty`, "ERR_SECRET");
  if (/[\r\n]/.test(secret)) throw new SecretError(`${where} holds more than one line: a secret is one line`, "ERR_SECRET");
  return secret;
}

function warnIfShared(path: string, context: Context): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    context.notice(`warning: secret file ${path} is readable by other users (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${path}`);
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
