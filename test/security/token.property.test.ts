/**
 * Property tests of the token core (fast-check): the parser never throws and rejects junk cheaply,
 * minted tokens validate, every small change to a valid token fails, a token never passes for
 * another subject or another secret, and everything is deterministic.
 *
 * Default: a few hundred runs per property (well under a second each). PYWRY_AUTH_HEAVY=1 runs 20
 * times as many; PYWRY_AUTH_SEED=<n> replays a failure (fast-check also prints its own path).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";
import fc from "fast-check";
import { generateSessionToken, validateSessionToken, validateWidgetToken, verifyToken } from "../../src/auth.js";
import {
  MAX_EXPIRY,
  MAX_TOKEN_LENGTH,
  decodeToken,
  mintToken,
  parsePythonInt,
  signingSecretIndex,
  validateToken,
  validateTokenFor,
} from "../../src/core/token.js";
import { MemorySessionStore } from "../../src/store/memory.js";
import { sandboxFor, STACK_FRAME } from "../helpers/cli.js";
import { fcParams, replayHint } from "./common.js";

/** Any UTF-16 code unit: NUL, control characters, lone surrogates, the lot. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
/** Characters that matter to the parser, to reach its branches more often than chance would. */
const parserChar = fc.constantFrom(":", "0", "1", "9", "-", "+", "_", " ", "\t", "\u00a0", "\u3000", "a", "f", "F", "\u0000", "\ud800", "\udfff", "é");
const hostileString = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 200 }),
  fc.string({ unit: parserChar, maxLength: 120 }),
  fc.string({ unit: "binary", maxLength: 200 }),
);
const intText = fc.oneof(
  fc.integer({ min: -1e12, max: 1e13 }).map(String),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.string({ unit: parserChar, maxLength: 20 }),
);
const signatureText = fc.oneof(
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 }),
  fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), minLength: 60, maxLength: 68 }),
  hostileString,
);
/** Strings shaped like tokens, so the deeper checks (integers, expiry, HMAC) are reached. */
const tokenShaped = fc
  .tuple(hostileString, intText, intText, signatureText, fc.array(hostileString, { maxLength: 2 }))
  .map(([subject, issued, expires, signature, extra]) => [subject, issued, expires, signature, ...extra].join(":"));
const anyInput = fc.oneof(hostileString, tokenShaped);

/** Subjects pywry-auth mints for: non-empty, no ':', no control characters, well-formed. */
const subject = fc
  .string({ unit: fc.oneof(fc.constantFrom("a", "b", "@", ".", " ", "-", "é", "🔑", "中"), fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 40 })
  .filter((text) => text.length > 0 && !text.includes(":") && !/\p{Cc}/u.test(text) && text.isWellFormed());
const secret = fc.string({ unit: "binary", minLength: 1, maxLength: 64 });
const now = fc.integer({ min: 1, max: 4_000_000_000 });
/** A token minted by the code under test, with what it was minted from. */
const minted = fc
  .record({ subject, secret, now, lifetime: fc.option(fc.integer({ min: 0, max: 10 ** 9 }), { nil: null }) })
  .map((spec) => {
    const expiresAt = spec.lifetime === null ? null : Math.min(spec.now + spec.lifetime, MAX_EXPIRY);
    return { ...spec, expiresAt, token: mintToken({ subject: spec.subject, secret: spec.secret, now: spec.now, expiresAt }).token };
  });

function pywrySign(payload: string, key: string): string {
  return createHmac("sha256", Buffer.from(key, "utf8")).update(Buffer.from(payload, "utf8")).digest("hex");
}

/** The fastest of a few timings: robust against the scheduler on a busy machine. */
function fastestMs(work: () => void, attempts = 5): number {
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const start = performance.now();
    work();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

describe("token parser under hostile input (property)", () => {
  test("never throws and never accepts junk: decode, validate, validate-for-subject, signing index", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(anyInput, secret, now, (input, key, at) => {
        const decoded = decodeToken(input);
        assert.equal(typeof decoded.ok, "boolean");
        const result = validateToken(input, [key], at);
        assert.equal(result.valid, false, "a forged token validated");
        assert.equal(result.userId, null);
        assert.ok(result.error && result.error.code.startsWith("ERR_TOKEN_"));
        assert.equal(validateTokenFor(input, "alice", [key], at).valid, false);
        assert.equal(signingSecretIndex(input, [key]), null);
        assert.equal(validateSessionToken(input, key, { now: () => at }).valid, false);
        assert.equal(validateWidgetToken(input, "w", key, { now: () => at }), false);
      }),
      fcParams(400),
    );
  });

  test("anything at all (not only strings) is refused as malformed, never thrown on", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(fc.anything(), (value) => {
        if (typeof value === "string") return;
        assert.equal(decodeToken(value).ok, false);
        assert.equal(validateToken(value, ["s"], 0).error?.code, "ERR_TOKEN_MALFORMED");
      }),
      fcParams(200),
    );
  });

  test("parsePythonInt never throws and reads only what Python's int() reads", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(fc.oneof(intText, hostileString), (text) => {
        const value = parsePythonInt(text);
        if (value === null) return;
        assert.ok(Number.isFinite(value) || /\d{300,}/.test(text.replaceAll("_", "")), `${JSON.stringify(text)} -> ${value}`);
        assert.match(text, /\d/);
      }),
      fcParams(400),
    );
  });

  test("a 1 MB input (NUL bytes, lone surrogates, separators) is refused before any parsing, in microseconds", () => {
    const chunk = "alice:1700000000:0:\u0000\ud800\udfff".padEnd(1024, "\u0000:\ud83d");
    const huge = chunk.repeat(1024);
    assert.ok(huge.length >= 1024 * 1024);
    const result = validateToken(huge, ["secret"], 0);
    assert.equal(result.error?.code, "ERR_TOKEN_MALFORMED");
    assert.match(result.error?.message ?? "", /longer than/);
    // Refusing it costs no more than refusing a tiny input: the length is checked first.
    const ms = fastestMs(() => validateToken(huge, ["secret"], 0));
    assert.ok(ms < 2, `refusing 1 MB took ${ms.toFixed(3)} ms`);
    assert.equal(decodeToken(huge).ok, false);
    assert.equal(signingSecretIndex(huge, ["secret"]), null);
  });

  test("through the CLI: 1 MB on stdin is refused at once (exit 2), never echoed, never a stack", async (t) => {
    const sb = sandboxFor(t);
    const env = { PYWRY_AUTH_SECRET: "cli-property-secret-0123456789" };
    const huge = `alice:1:0:${"\u0000\ud800x".repeat(350_000)}`;
    const single = await sb.run(["verify", "-"], { env, input: `${huge}\n` });
    assert.equal(single.code, 2);
    assert.match(single.stderr, /^error: stdin is too large to hold a token\n$/);
    const stream = await sb.run(["--json", "verify", "--stdin"], { env, input: `${huge}\nalice:1:0:${"f".repeat(64)}\n` });
    assert.equal(stream.code, 1);
    const lines = stream.stdout.trim().split("\n").map((line) => JSON.parse(line) as { line: number; error: { code: string } });
    assert.deepEqual(lines.map((line) => [line.line, line.error.code]), [[1, "ERR_TOKEN_MALFORMED"], [2, "ERR_TOKEN_SIGNATURE"]]);
    for (const output of [single.stdout, single.stderr, stream.stdout, stream.stderr]) {
      assert.ok(output.length < 2000, "the input is not echoed");
      assert.doesNotMatch(output, STACK_FRAME);
    }
  });

  test("the worst inputs just under the length limit are still cheap", () => {
    const limit = MAX_TOKEN_LENGTH;
    const worst = [
      ":".repeat(limit),
      `a:${" ".repeat(limit / 2 - 4)}1:0:${"f".repeat(64)}`.slice(0, limit),
      `a:${"1".repeat(limit / 2)}${" ".repeat(limit / 2 - 80)}x:0:${"f".repeat(64)}`.slice(0, limit),
      `a:${"1_".repeat(limit / 2 - 40)}:0:${"f".repeat(64)}`.slice(0, limit),
      `a:1:${"\u3000".repeat(limit - 80)}1:${"f".repeat(64)}`.slice(0, limit),
      `${"x".repeat(limit - 80)}:1:0:${"f".repeat(64)}`,
    ];
    for (const input of worst) {
      assert.ok(input.length <= limit);
      const ms = fastestMs(() => validateToken(input, ["secret", "previous"], 0));
      assert.ok(ms < 20, `validating a ${input.length}-character input took ${ms.toFixed(2)} ms`);
    }
  });
});

describe("minted tokens (property)", () => {
  test("every minted token validates, for its subject, with pywry's bytes", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(minted, ({ subject: who, secret: key, now: at, expiresAt, token }) => {
        const payload = `${who}:${at}:${expiresAt ?? 0}`;
        assert.equal(token, `${payload}:${pywrySign(payload, key)}`, "not pywry's wire format");
        const result = validateToken(token, [key], at);
        assert.deepEqual(result, { valid: true, userId: who, issuedAt: at, expiresAt, secretIndex: 0, error: null });
        assert.equal(validateTokenFor(token, who, [key], at).valid, true);
        // Still valid at its expiry second; with a previous secret listed first, found as index 1.
        assert.equal(validateToken(token, ["another-secret", key], expiresAt ?? at).secretIndex, key === "another-secret" ? 0 : 1);
      }),
      fcParams(300),
    );
  });

  test("every single-character change, truncation or extension fails", (t) => {
    t.diagnostic(replayHint());
    const edit = fc.record({
      kind: fc.constantFrom("replace", "truncate", "extend", "prepend", "insert", "delete"),
      position: fc.nat(),
      text: fc.string({ unit: codeUnit, minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(minted, edit, ({ token, secret: key, now: at }, { kind, position, text }) => {
        const index = position % token.length;
        let changed: string;
        switch (kind) {
          case "replace": {
            const replacement = text[0] === token[index] ? String.fromCharCode(((text.charCodeAt(0) + 1) % 0xffff) || 1) : text[0];
            changed = token.slice(0, index) + replacement + token.slice(index + 1);
            break;
          }
          case "truncate":
            changed = token.slice(0, index);
            break;
          case "extend":
            changed = token + text;
            break;
          case "prepend":
            changed = text + token;
            break;
          case "insert":
            changed = token.slice(0, index) + text + token.slice(index);
            break;
          default:
            changed = token.slice(0, index) + token.slice(index + 1);
        }
        assert.notEqual(changed, token);
        const result = validateToken(changed, [key], at);
        assert.equal(result.valid, false, `${kind} at ${index} with ${JSON.stringify(text)} still validated`);
        assert.equal(result.userId, null);
      }),
      fcParams(600),
    );
  });

  test("a hex digit in another case is a different signature (pywry compares text)", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(minted, fc.nat(), ({ token, secret: key, now: at }, position) => {
        const signatureStart = token.length - 64;
        const letters = [...token.slice(signatureStart)].map((char, index) => [char, index] as const).filter(([char]) => /[a-f]/.test(char));
        fc.pre(letters.length > 0);
        const [, offset] = letters[position % letters.length]!;
        const index = signatureStart + offset;
        const upper = token.slice(0, index) + token[index]!.toUpperCase() + token.slice(index + 1);
        assert.equal(validateToken(upper, [key], at).error?.code, "ERR_TOKEN_SIGNATURE");
      }),
      fcParams(200),
    );
  });

  test("a token never validates for another subject, nor under another secret", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(minted, subject, secret, ({ token, subject: who, secret: key, now: at }, other, otherKey) => {
        fc.pre(other !== who);
        const forOther = validateTokenFor(token, other, [key], at);
        assert.equal(forOther.valid, false);
        assert.equal(forOther.error?.code, "ERR_TOKEN_SUBJECT");
        assert.equal(validateWidgetToken(token, other, key, { now: () => at }), false);
        if (otherKey !== key) assert.equal(validateToken(token, [otherKey], at).valid, false);
        // Re-signing another subject's payload with the same signature is a signature failure.
        const swapped = `${other}${token.slice(who.length)}`;
        assert.equal(validateToken(swapped, [key], at).valid, false);
      }),
      fcParams(300),
    );
  });

  test("results are deterministic: the same input gives the same token and the same verdict", async (t) => {
    t.diagnostic(replayHint());
    const store = new MemorySessionStore();
    await fc.assert(
      fc.asyncProperty(fc.oneof(minted.map((m) => ({ token: m.token, key: m.secret, at: m.now, who: m.subject })), anyInput.map((token) => ({ token, key: "k", at: 0, who: "w" }))), async ({ token, key, at, who }) => {
        assert.deepEqual(validateToken(token, [key], at), validateToken(token, [key], at));
        assert.deepEqual(decodeToken(token), decodeToken(token));
        const verified = await verifyToken(token, { secrets: [key], store, now: () => at });
        assert.deepEqual(verified, await verifyToken(token, { secrets: [key], store, now: () => at }));
        assert.deepEqual(verified, validateToken(token, [key], at));
        if (verified.valid) assert.equal(generateSessionToken(who, key, verified.expiresAt, { now: () => at }), token);
      }),
      fcParams(200),
    );
  });
});
