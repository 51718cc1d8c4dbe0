/**
 * End-to-end helpers for the CLI tests: each test gets a sandbox (a fresh temporary HOME) and runs
 * the real `bin/pywry-auth` as a child process with an environment built from scratch, so nothing
 * from the developer's machine (PYWRY_*, XDG_*, a real ~/.config) leaks into a test.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import Database from "better-sqlite3-multiple-ciphers";
import { binPath, fixturesDir } from "./paths.js";

export interface CliResult {
  /** The exit code; null only when the child was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** The child's HOME (and default working directory). */
  home: string;
  /** Variables added to the minimal environment { PATH, HOME }. */
  env?: Record<string, string>;
  /** Written to the child's stdin, which is then closed (it is closed at once when absent). */
  input?: string;
  cwd?: string;
  /** Kill the child after this long (a hung CLI must fail the test, not stall the suite). */
  timeoutMs?: number;
}

/** Matches a line of a JavaScript stack trace ("    at fn (file:1:2)"). */
export const STACK_FRAME = /^\s+at /m;
/** Any ANSI escape sequence (colour codes). */
export const ANSI = /\u001b\[/;

/** Runs `pywry-auth ...args` and collects its exit code and output. Never rejects on a non-zero exit. */
export function runCli(args: readonly string[], options: RunOptions): Promise<CliResult> {
  const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: options.home, ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd ?? options.home,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    // The CLI may exit before reading stdin; that is not the test's failure.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr };
      recordRun(args, options, env, result);
      resolve(result);
    });
  });
}

/**
 * With PYWRY_AUTH_TRANSCRIPT=<file> set for the test run, every run is appended to that file as
 * one JSON line (arguments, added environment, stdin, outputs, exit code, and the secret and key
 * files the run could read), for test/security/scan-transcript.js to search for leaked credentials.
 */
function recordRun(args: readonly string[], options: RunOptions, env: Record<string, string>, result: CliResult): void {
  const transcript = process.env["PYWRY_AUTH_TRANSCRIPT"];
  if (!transcript) return;
  const cwd = options.cwd ?? options.home;
  const candidates = [
    join(env["XDG_CONFIG_HOME"] || join(options.home, ".config"), "pywry-auth", "secret"),
    env["PYWRY_AUTH_SECRET_FILE"],
    ...fileArguments(args, "--secret-file"),
    // An SQLite key file holds a credential too.
    ...fileArguments(args, "--sqlite-key-file"),
  ];
  const secretFiles: string[] = [];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      secretFiles.push(readFileSync(isAbsolute(candidate) ? candidate : join(cwd, candidate), "utf8"));
    } catch {
      // absent or unreadable: nothing the run could have leaked
    }
  }
  const { PATH: _path, HOME: _home, ...added } = env;
  const entry = { args, env: added, input: options.input ?? "", stdout: result.stdout, stderr: result.stderr, code: result.code, secretFiles };
  appendFileSync(transcript, `${JSON.stringify(entry)}\n`);
}

/** The paths given to `flag`, as "--flag path" or "--flag=path". */
function fileArguments(args: readonly string[], flag: string): Array<string | undefined> {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1]] : arg.startsWith(`${flag}=`) ? [arg.slice(flag.length + 1)] : []));
}

/** A temporary HOME for one test (or one describe block), removed by `cleanup()`. */
export class Sandbox {
  readonly home: string;

  constructor() {
    this.home = mkdtempSync(join(tmpdir(), "pywry-auth-cli-"));
  }

  /** A path inside the sandbox. */
  path(...parts: string[]): string {
    return join(this.home, ...parts);
  }

  /** Where minting commands create the secret when none is configured. */
  get secretFile(): string {
    return this.path(".config", "pywry-auth", "secret");
  }

  /** pywry's default SQLite store for this HOME. */
  get defaultStore(): string {
    return this.path(".config", "pywry", "pywry.db");
  }

  /** Copies test/fixtures/pywry-sessions.db (made by pywry itself) into the sandbox; returns its path. */
  copyPywryFixture(name = "pywry.db"): string {
    const target = this.path(name);
    copyFileSync(join(fixturesDir, "pywry-sessions.db"), target);
    return target;
  }

  run(args: readonly string[], options: Omit<RunOptions, "home"> = {}): Promise<CliResult> {
    return runCli(args, { ...options, home: this.home });
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** A sandbox removed when the test `t` ends. */
export function sandboxFor(t: { after: (fn: () => void) => void }): Sandbox {
  const sandbox = new Sandbox();
  t.after(() => sandbox.cleanup());
  return sandbox;
}

/** Describes a result for assertion messages. */
export function show(result: CliResult): string {
  return `exit ${result.code}${result.signal ? ` (signal ${result.signal})` : ""}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
}

/** Asserts the exit code, with the output in the failure message. */
export function assertExit(result: CliResult, code: number): void {
  assert.equal(result.code, code, `expected exit ${code}\n${show(result)}`);
}

/** Asserts success and parses stdout as JSON. */
export function okJson<T = Record<string, unknown>>(result: CliResult): T {
  assertExit(result, 0);
  return parseStdout<T>(result);
}

export function parseStdout<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    assert.fail(`stdout is not JSON\n${show(result)}`);
  }
}

/**
 * A human-mode failure: the exit code, one line on stderr starting with "error:" (which mentions
 * `mentions` when given), nothing on stdout, no stack trace.
 */
export function assertCliError(result: CliResult, exitCode: number, mentions?: RegExp): void {
  assertExit(result, exitCode);
  assert.equal(result.stdout, "", `stdout should be empty on error\n${show(result)}`);
  assert.match(result.stderr, /^error: \S/, show(result));
  assert.equal(result.stderr.trimEnd().split("\n").length, 1, `error should be one line\n${show(result)}`);
  assert.doesNotMatch(result.stderr, STACK_FRAME, show(result));
  if (mentions) assert.match(result.stderr, mentions, show(result));
}

/** A --json failure: the exit code and exactly `{"error":{"code","message"}}` on stdout. */
export function assertJsonError(result: CliResult, exitCode: number, errorCode: string): { code: string; message: string } {
  assertExit(result, exitCode);
  assert.doesNotMatch(result.stderr, STACK_FRAME, show(result));
  const body = parseStdout<{ error: { code: string; message: string } }>(result);
  assert.deepEqual(Object.keys(body), ["error"], show(result));
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"], show(result));
  assert.equal(body.error.code, errorCode, show(result));
  assert.ok(body.error.message.length > 0, show(result));
  return body.error;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The handle / accessor pywry-auth shows for a session id or token: the first 16 hex of its SHA-256. */
export function handleOf(secretId: string): string {
  return sha256Hex(secretId).slice(0, 16);
}

/** A token built independently of the code under test, from pywry's wire format (docs/pywry-compatibility.md, Tokens). */
export function pywryToken(subject: string, issuedAt: number, expiresAt: number | null, secret: string): string {
  const payload = `${subject}:${issuedAt}:${expiresAt ?? 0}`;
  return `${payload}:${createHmac("sha256", secret).update(payload, "utf8").digest("hex")}`;
}

/** The current time in whole Unix seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Opens a SQLite file read-only, runs `work`, and closes it. */
export function withDb<T>(path: string, work: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return work(db);
  } finally {
    db.close();
  }
}

export interface SessionRow {
  session_id: string;
  user_id: string;
  roles: string;
  created_at: number;
  expires_at: number | null;
  metadata: string | null;
}

/** pywry's sessions table, by session id. */
export function sessionRows(path: string): Map<string, SessionRow> {
  return withDb(path, (db) => {
    const rows = db.prepare("SELECT * FROM sessions").all() as SessionRow[];
    return new Map(rows.map((row) => [row.session_id, row]));
  });
}

/** The fixture's session ids (docs/pywry-compatibility.md, Reference fixtures). */
export const FIXTURE_SESSIONS = ["local", "sess-editor", "sess-viewer", "sess-multi", "sess-old"] as const;
