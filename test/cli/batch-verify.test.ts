/**
 * `verify --stdin`: one NDJSON result per input line, in order, with the line number; bad lines
 * get an error result (never a crash); revocations checked against the store unless --offline;
 * exit 0 only when every token is valid; a summary on stderr.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { assertCliError, assertExit, nowSeconds, pywryToken, sandboxFor, show, type CliResult } from "../helpers/cli.js";

const SECRET = "batch-secret";

interface BatchLine {
  line: number;
  valid: boolean;
  user_id: string | null;
  issued_at: number | null;
  expires_at: number | null;
  signed_with_previous_secret: boolean | null;
  error: { code: string; message: string } | null;
}

function results(result: CliResult): BatchLine[] {
  if (result.stdout === "") return [];
  assert.ok(result.stdout.endsWith("\n"), show(result));
  return result.stdout
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      try {
        return JSON.parse(line) as BatchLine;
      } catch {
        return assert.fail(`not one JSON object per line: ${line}\n${show(result)}`);
      }
    });
}

const env = { PYWRY_AUTH_SECRET: SECRET };

describe("verify --stdin", () => {
  test("answers every line in order: valid, expired, bad signature, malformed, blank, CRLF, overlong", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const alice = pywryToken("alice", now, now + 3600, SECRET);
    const lines = [
      alice,
      pywryToken("bob", now - 7200, now - 3600, SECRET),
      pywryToken("carol", now, now + 3600, "another-secret"),
      "not-a-token",
      "",
      `${pywryToken("dave", now, null, SECRET)}\r`,
      `erin:${now}:0:${"a".repeat(20_000)}`,
      pywryToken("frank", now, now + 60, SECRET),
    ];
    const result = await sb.run(["verify", "--stdin", "--offline"], { env, input: `${lines.join("\n")}\n` });
    assertExit(result, 1);
    const answers = results(result);
    assert.deepEqual(answers.map((answer) => answer.line), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(
      answers.map((answer) => answer.error?.code ?? "valid"),
      ["valid", "ERR_TOKEN_EXPIRED", "ERR_TOKEN_SIGNATURE", "ERR_TOKEN_MALFORMED", "ERR_TOKEN_MALFORMED", "valid", "ERR_TOKEN_MALFORMED", "valid"],
    );
    assert.deepEqual(answers[0], {
      line: 1,
      valid: true,
      user_id: "alice",
      issued_at: now,
      expires_at: now + 3600,
      signed_with_previous_secret: false,
      error: null,
    });
    assert.equal(answers[1]!.user_id, null, "an invalid token names no user, as pywry");
    assert.equal(answers[5]!.user_id, "dave", "CRLF line endings are not part of the token");
    assert.equal(answers[5]!.expires_at, null);
    assert.match(answers[6]!.error!.message, /longer than/);
    assert.match(result.stderr, /^verified 8 tokens: 3 valid, 5 invalid \(ERR_TOKEN_EXPIRED 1, ERR_TOKEN_MALFORMED 3, ERR_TOKEN_SIGNATURE 1\)/m);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(alice.slice(-64)), "no token is echoed back");
  });

  test("exit 0 when every token is valid, including an empty input", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const input = Array.from({ length: 5 }, (_, index) => pywryToken(`user-${index}`, now, now + 60, SECRET)).join("\n");
    const result = await sb.run(["verify", "--stdin", "--offline"], { env, input });
    assertExit(result, 0);
    assert.deepEqual(results(result).map((answer) => answer.user_id), ["user-0", "user-1", "user-2", "user-3", "user-4"]);
    const empty = await sb.run(["verify", "--stdin", "--offline"], { env, input: "" });
    assertExit(empty, 0);
    assert.equal(empty.stdout, "");
    assert.match(empty.stderr, /verified 0 tokens/);
  });

  test("streams thousands of tokens over several batches, line numbers unbroken", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const count = 5000;
    const input = Array.from({ length: count }, (_, index) =>
      index % 1000 === 999 ? "junk" : pywryToken(`u${index}`, now, now + 600, SECRET),
    ).join("\n");
    const result = await sb.run(["verify", "--stdin", "--offline"], { env, input });
    assertExit(result, 1);
    const answers = results(result);
    assert.equal(answers.length, count);
    answers.forEach((answer, index) => {
      assert.equal(answer.line, index + 1);
      assert.equal(answer.valid, index % 1000 !== 999);
    });
  });

  test("with a store: revoked tokens and user-wide revocations fail; --offline skips the store", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const mint = async (user: string): Promise<string> => {
      const created = await sb.run(["--store", store, "--create", "token", "create", "--user", user], { env });
      assertExit(created, 0);
      return created.stdout.trim();
    };
    const [alice, bob, carol] = [await mint("alice"), await mint("bob"), await mint("carol")];
    assertExit(await sb.run(["--store", store, "revoke", "--yes", "-"], { env, input: `${bob}\n` }), 0);
    assertExit(await sb.run(["--store", store, "revoke", "--user", "carol", "--yes"], { env }), 0);
    const input = `${alice}\n${bob}\n${carol}\n`;

    const checked = await sb.run(["--store", store, "verify", "--stdin"], { env, input });
    assertExit(checked, 1);
    assert.deepEqual(
      results(checked).map((answer) => [answer.valid, answer.error?.code ?? null]),
      [
        [true, null],
        [false, "ERR_TOKEN_REVOKED"],
        [false, "ERR_TOKEN_REVOKED"],
      ],
    );

    const offline = await sb.run(["--store", store, "verify", "--stdin", "--offline"], { env, input });
    assertExit(offline, 0);
  });

  test("a recorded widget token is not a session token, and a recorded session token not a widget token, as for verify", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const widget = await sb.run(["--store", store, "widget-token", "w1"], { env });
    const session = await sb.run(["--store", store, "token", "create", "--user", "w1"], { env });
    assertExit(widget, 0);
    assertExit(session, 0);
    const input = `${widget.stdout.trim()}\n${session.stdout.trim()}\n`;
    const asSessions = await sb.run(["--store", store, "verify", "--stdin"], { env, input });
    assert.deepEqual(results(asSessions).map((answer) => answer.error?.code ?? "valid"), ["ERR_TOKEN_KIND", "valid"]);
    const asWidgets = await sb.run(["--store", store, "verify", "--stdin", "--widget", "w1"], { env, input });
    assert.deepEqual(results(asWidgets).map((answer) => answer.error?.code ?? "valid"), ["valid", "ERR_TOKEN_KIND"]);
  });

  test("--user requires the subject; --at validates as of another time", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const input = `${pywryToken("alice", now, now + 60, SECRET)}\n${pywryToken("bob", now, now + 60, SECRET)}\n`;
    const subject = await sb.run(["verify", "--stdin", "--offline", "--user", "alice"], { env, input });
    assert.deepEqual(results(subject).map((answer) => answer.error?.code ?? "valid"), ["valid", "ERR_TOKEN_SUBJECT"]);
    const later = await sb.run(["verify", "--stdin", "--offline", "--at", String(now + 3600)], { env, input });
    assert.deepEqual(results(later).map((answer) => answer.error?.code ?? "valid"), ["ERR_TOKEN_EXPIRED", "ERR_TOKEN_EXPIRED"]);
  });

  test("usage errors: a token argument with --stdin, --field, no secret", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["verify", "--stdin", "-"], { env, input: "x\n" }), 2, /no token argument/);
    assertCliError(await sb.run(["--field", "valid", "verify", "--stdin"], { env, input: "x\n" }), 2, /--field/);
    assertCliError(await sb.run(["verify"], { env }), 2, /--stdin/);
    assertCliError(await sb.run(["verify", "--stdin", "--offline"], { input: "x\n" }), 3, /no signing secret/);
  });

  test("the single-token form still works", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const result = await sb.run(["verify", "--offline", "-"], { env, input: `${pywryToken("alice", now, now + 60, SECRET)}\n` });
    assertExit(result, 0);
    assert.match(result.stdout, /^valid: token for "alice"/);
  });
});

describe("verify --stdin memory", () => {
  test("keeps V8's young generation at 8 MiB however many tokens stream through (it grows to 32 MiB uncapped)", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const lines: string[] = [];
    for (let index = 0; index < 150_000; index += 1) lines.push(pywryToken(`user-${index}`, now, now + 3600, SECRET));
    const report = sb.path("heap.json");
    const hook = new URL("../helpers/heap-report.js", import.meta.url).href;
    const result = await sb.run(["verify", "--stdin", "--offline"], {
      env: { PYWRY_AUTH_SECRET: SECRET, NODE_OPTIONS: `--import ${hook}`, PYWRY_AUTH_HEAP_REPORT: report },
      input: `${lines.join("\n")}\n`,
      timeoutMs: 120_000,
    });
    assertExit(result, 0);
    const sizes = JSON.parse(readFileSync(report, "utf8")) as Record<string, number>;
    assert.ok((sizes["new_space"] ?? Infinity) <= 8 * 1024 * 1024, `new space ${sizes["new_space"]} bytes\n${show(result)}`);
  });
});

