/**
 * Secret text is read exactly as the pywry snippet pywry-auth prints reads it (issue 16, item 4):
 * `Path(p).read_text().strip()` and `open(p).read().strip()` for files, `.strip()` of the
 * variable for PYWRY_AUTH_SECRET. Each test runs Python's reading on the very bytes pywry-auth read.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { pythonStrip } from "../../src/core/pystr.js";
import { assertCliError, assertExit, okJson, sandboxFor } from "../helpers/cli.js";

const S = "pywry-shared-secret-0123456789abcdef";

/**
 * Python reads the secret as pywry's snippet does and checks the token's HMAC with it: from the
 * file both ways (they must agree), or from the environment variable.
 */
function pythonAccepts(token: string, source: { file: string } | { env: string }): boolean {
  const script = `
import hashlib, hmac, json, os, sys
from pathlib import Path
request = json.load(sys.stdin)
if "file" in request:
    secret = Path(request["file"]).read_text().strip()
    assert secret == open(request["file"]).read().strip()
else:
    secret = os.environ["PYWRY_AUTH_SECRET"].strip()
payload, _, signature = request["token"].rpartition(":")
expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
print(json.dumps(hmac.compare_digest(expected, signature)))
`;
  const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...("env" in source ? { PYWRY_AUTH_SECRET: source.env } : {}) };
  const output = execFileSync("python3", ["-c", script], { input: JSON.stringify({ token, ...("file" in source ? { file: source.file } : {}) }), encoding: "utf8", env });
  return JSON.parse(output) as boolean;
}

const FILE_CONTENTS: Array<[string, string]> = [
  ["surrounded by spaces", `  ${S}  \n`],
  ["bare", S],
  ["CRLF", `${S}\r\n`],
  ["tabs and blank lines", `\t${S}\r\n\r\n`],
  ["no-break and ideographic spaces", `\u00a0${S}\u3000\n`],
  ["NEL and information separators (Python strips them; JavaScript's trim does not)", `\u001c${S}\u0085\n`],
  ["a byte-order mark (Python keeps it; JavaScript's trim does not)", `\ufeff${S}\n`],
  ["a zero-width space (whitespace to neither)", `${S}\u200b\n`],
];

describe("secret files are read as pywry's snippet reads them", () => {
  for (const [name, content] of FILE_CONTENTS) {
    test(`a file holding the secret ${name}: a token minted with it validates in Python`, async (t) => {
      const sb = sandboxFor(t);
      const file = sb.path("secret");
      writeFileSync(file, content, { mode: 0o600 });
      const minted = okJson<{ token: string }>(await sb.run(["--json", "--secret-file", file, "token", "create", "--user", "alice", "--no-session"]));
      assert.equal(pythonAccepts(minted.token, { file }), true, JSON.stringify(content));
    });
  }

  test('"  S  \\n" and "S" sign the same', async (t) => {
    const sb = sandboxFor(t);
    writeFileSync(sb.path("padded"), `  ${S}  \n`, { mode: 0o600 });
    writeFileSync(sb.path("bare"), S, { mode: 0o600 });
    const minted = okJson<{ token: string }>(await sb.run(["--json", "--secret-file", sb.path("padded"), "token", "create", "--user", "alice", "--no-session"]));
    assertExit(await sb.run(["--secret-file", sb.path("bare"), "verify", "--offline", "-"], { input: `${minted.token}\n` }), 0);
  });

  test("a secret file of several lines is refused (Python would turn its CR into LF)", async (t) => {
    const sb = sandboxFor(t);
    writeFileSync(sb.path("two-lines"), `${S}\r${S}\n`, { mode: 0o600 });
    assertCliError(await sb.run(["--secret-file", sb.path("two-lines"), "token", "create", "--user", "alice", "--no-session"]), 3, /more than one line/);
  });

  test("a file holding only whitespace is empty", async (t) => {
    const sb = sandboxFor(t);
    writeFileSync(sb.path("blank"), " \u0085\n\t", { mode: 0o600 });
    assertCliError(await sb.run(["--secret-file", sb.path("blank"), "token", "create", "--user", "alice", "--no-session"]), 3, /is empty/);
  });
});

describe("PYWRY_AUTH_SECRET is read as .strip() reads it", () => {
  for (const value of [`${S}\r`, ` ${S}\n`, `${S}\u0085`]) {
    test(`${JSON.stringify(value)} signs as ${JSON.stringify(S)} does, in Python too`, async (t) => {
      const sb = sandboxFor(t);
      const minted = okJson<{ token: string }>(await sb.run(["--json", "token", "create", "--user", "alice", "--no-session"], { env: { PYWRY_AUTH_SECRET: value } }));
      assert.equal(pythonAccepts(minted.token, { env: value }), true);
      assertExit(await sb.run(["verify", "--offline", "-"], { input: `${minted.token}\n`, env: { PYWRY_AUTH_SECRET: S } }), 0);
    });
  }
});

describe("pythonStrip", () => {
  test("strips exactly what Python's str.strip() strips, for every character up to U+3100 and a few beyond", () => {
    const characters = [...Array.from({ length: 0x3100 }, (_, code) => code), 0xfeff, 0x200b, 0xffff].map((code) => String.fromCharCode(code));
    const samples = characters.map((character) => `${character}x${character}`);
    const expected = JSON.parse(
      execFileSync("python3", ["-c", "import json, sys; print(json.dumps([s.strip() for s in json.load(sys.stdin)]))"], { input: JSON.stringify(samples), encoding: "utf8" }),
    ) as string[];
    const differing = samples.filter((sample, index) => pythonStrip(sample) !== expected[index]).map((sample) => (sample.codePointAt(0) ?? 0).toString(16));
    assert.deepEqual(differing, []);
  });
});
