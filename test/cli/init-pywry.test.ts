/**
 * `init` prints the pywry side of every setting the two share (issue 16, item 3): the secret and
 * the session lifetime in AuthConfig, the widget-token lifetime for generate_widget_token, and
 * pywry's PYWRY_DEPLOY__* variables for the store, the session lifetime and the default roles.
 * The printed Python is run (against a stand-in for pywry.state.auth with AuthConfig's fields).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertExit, okJson, sandboxFor, type Sandbox } from "../helpers/cli.js";

/** pywry.state.auth's AuthConfig (a dataclass with these fields and defaults, NOTES.md) and generate_widget_token's signature. */
const STAND_IN = `
from dataclasses import dataclass

@dataclass
class AuthConfig:
    enabled: bool = False
    session_cookie: str = "pywry_session"
    auth_header: str = "Authorization"
    token_secret: str = ""
    session_ttl: int = 86400
    require_auth_for_widgets: bool = False

def generate_widget_token(widget_id, secret, ttl=300):
    return (widget_id, secret, ttl)
`;

/** Runs the Python lines init printed and reports what pywry would be configured with. */
function runPrintedPython(sb: Sandbox, stdout: string): { token_secret: string; session_ttl: number; widget_ttl: number } {
  const lines = stdout.split("\n");
  const start = lines.findIndex((line) => line.trim().startsWith("from pathlib import Path"));
  const end = lines.findIndex((line, index) => index > start && line.trim() === "");
  const snippet = lines
    .slice(start, end)
    .map((line) => line.replace(/^ {2}/, ""))
    .map((line) => line.replace(/^# widget tokens: (generate_widget_token\(.*\))$/, "widget = $1"))
    .map((line) => line.replace("generate_widget_token(widget_id,", 'generate_widget_token("w1",'))
    .join("\n");
  const root = sb.path("py");
  mkdirSync(join(root, "pywry", "state"), { recursive: true });
  writeFileSync(join(root, "pywry", "__init__.py"), "");
  writeFileSync(join(root, "pywry", "state", "__init__.py"), "");
  writeFileSync(join(root, "pywry", "state", "auth.py"), STAND_IN);
  const program = `from pywry.state.auth import generate_widget_token\n${snippet}\nimport json\nprint(json.dumps({"token_secret": config.token_secret, "session_ttl": config.session_ttl, "widget_ttl": widget[2]}))\n`;
  return JSON.parse(execFileSync("python3", ["-c", program], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", PYTHONPATH: root } })) as {
    token_secret: string;
    session_ttl: number;
    widget_ttl: number;
  };
}

function printedEnv(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split("\n")
      .map((line) => /^ {2}(PYWRY_DEPLOY__\w+)=(.*)$/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1] ?? "", match[2] ?? ""]),
  );
}

describe("init prints the pywry side of every shared setting", () => {
  test("the secret, session_ttl and the widget-token ttl, in Python that runs", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["init", "--yes", "--store", sb.path("pywry.db"), "--session-ttl", "8h", "--widget-ttl", "2m", "--default-roles", "viewer,editor"]);
    assertExit(result, 0);
    const pywry = runPrintedPython(sb, result.stdout);
    assert.equal(pywry.token_secret, readFileSync(sb.secretFile, "utf8").trim());
    assert.equal(pywry.session_ttl, 8 * 3600);
    assert.equal(pywry.widget_ttl, 120);
    assert.deepEqual(printedEnv(result.stdout), {
      PYWRY_DEPLOY__STATE_BACKEND: "sqlite",
      PYWRY_DEPLOY__SQLITE_PATH: sb.path("pywry.db"),
      PYWRY_DEPLOY__SESSION_TTL: "28800",
      PYWRY_DEPLOY__DEFAULT_ROLES: "viewer,editor",
    });
  });

  test("without duration flags it prints the values pywry-auth will use (the environment's, else the defaults)", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["init", "--yes", "--store", sb.path("pywry.db")], { env: { PYWRY_AUTH_WIDGET_TTL: "90s" } });
    assertExit(result, 0);
    const pywry = runPrintedPython(sb, result.stdout);
    assert.equal(pywry.session_ttl, 86400);
    assert.equal(pywry.widget_ttl, 90);
    assert.equal(printedEnv(result.stdout)["PYWRY_DEPLOY__DEFAULT_ROLES"], "viewer");
  });

  test("a session lifetime under pywry's minimum of 60 s is left out of PYWRY_DEPLOY__SESSION_TTL, saying why", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["init", "--yes", "--store", sb.path("pywry.db"), "--session-ttl", "30s"]);
    assertExit(result, 0);
    assert.equal(printedEnv(result.stdout)["PYWRY_DEPLOY__SESSION_TTL"], undefined);
    assert.match(result.stdout, /PYWRY_DEPLOY__SESSION_TTL is left out: pywry requires at least 60 seconds/);
    assert.equal(runPrintedPython(sb, result.stdout).session_ttl, 30);
  });

  test("--json has the same", async (t) => {
    const sb = sandboxFor(t);
    const body = okJson<{ pywry_auth_config: Record<string, unknown>; pywry_widget_token_ttl: number; pywry_env: Record<string, string> }>(
      await sb.run(["--json", "init", "--yes", "--store", sb.path("pywry.db"), "--session-ttl", "1h30m"]),
    );
    assert.deepEqual(body.pywry_auth_config, { enabled: true, session_ttl: 5400 });
    assert.equal(body.pywry_widget_token_ttl, 300);
    assert.equal(body.pywry_env["PYWRY_DEPLOY__SESSION_TTL"], "5400");
    assert.equal(body.pywry_env["PYWRY_DEPLOY__DEFAULT_ROLES"], "viewer");
  });
});
