import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  decodeToken,
  mintToken,
  mintWidgetToken,
  parsePythonInt,
  signingSecretIndex,
  validateToken,
  validateTokenFor,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LENGTH,
} from "../../src/core/token.js";
import { verifyToken } from "../../src/auth.js";
import { MemorySessionStore } from "../../src/store/memory.js";
import { InvalidInputError } from "../../src/core/errors.js";
import { fixturesDir } from "../helpers/paths.js";

interface Expectation {
  now: number;
  valid: boolean;
  user_id: string | null;
  error_kind: "format" | "parse" | "expired" | "signature" | null;
}
interface Vector {
  kind: "session" | "widget" | "malformed_or_tampered" | "wrong_secret";
  secret: string;
  token: string;
  user_id?: string;
  widget_id?: string;
  ttl?: number;
  issued_at?: number;
  expires_at?: number | null;
  expect?: Expectation;
  expect_at_issue_plus_1?: Expectation;
  expect_after_ttl?: Expectation;
}

const vectors = (JSON.parse(readFileSync(join(fixturesDir, "pywry-token-vectors.json"), "utf8")) as { vectors: Vector[] }).vectors;

const CODE_FOR_PYWRY_ERROR = {
  format: "ERR_TOKEN_MALFORMED",
  parse: "ERR_TOKEN_MALFORMED",
  expired: "ERR_TOKEN_EXPIRED",
  signature: "ERR_TOKEN_SIGNATURE",
} as const;

function expectationsOf(vector: Vector): Expectation[] {
  return [vector.expect, vector.expect_at_issue_plus_1, vector.expect_after_ttl].filter((e): e is Expectation => e !== undefined);
}

/** pywry's signing, written out from docs/pywry-compatibility.md, to check tokens against the format rather than ourselves. */
function pywrySignature(payload: string, secret: string): string {
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.from(payload, "utf8")).digest("hex");
}

describe("pywry's own token vectors", () => {
  test("the fixture holds session, widget, tampered and wrong-secret vectors", () => {
    const kinds = new Set(vectors.map((vector) => vector.kind));
    assert.deepEqual([...kinds].sort(), ["malformed_or_tampered", "session", "widget", "wrong_secret"]);
    assert.ok(vectors.length >= 70);
  });

  for (const [index, vector] of vectors.entries()) {
    for (const expectation of expectationsOf(vector)) {
      test(`vector ${index} (${vector.kind}) at ${expectation.now} is ${expectation.valid ? "valid" : expectation.error_kind}`, () => {
        const result = validateToken(vector.token, [vector.secret], expectation.now);
        assert.equal(result.valid, expectation.valid);
        assert.equal(result.userId, expectation.user_id);
        if (expectation.error_kind === null) assert.equal(result.error, null);
        else assert.equal(result.error?.code, CODE_FOR_PYWRY_ERROR[expectation.error_kind]);
      });
    }
  }

  test("minting with pywry's clock reproduces every valid-format session and widget token byte for byte", () => {
    let reproduced = 0;
    for (const vector of vectors) {
      if (vector.kind === "session" && vector.user_id && !vector.user_id.includes(":")) {
        const expiresAt = vector.expires_at ?? null;
        if (expiresAt !== null && expiresAt < (vector.issued_at ?? 0)) continue; // pywry mints already-expired tokens; we refuse
        const minted = mintToken({ subject: vector.user_id, secret: vector.secret, now: vector.issued_at ?? 0, expiresAt });
        assert.equal(minted.token, vector.token);
        reproduced += 1;
      }
      if (vector.kind === "widget" && vector.widget_id && !vector.widget_id.includes(":")) {
        const minted = mintWidgetToken({ widgetId: vector.widget_id, secret: vector.secret, ttl: vector.ttl ?? 300, now: vector.issued_at ?? 0 });
        assert.equal(minted.token, vector.token);
        reproduced += 1;
      }
    }
    assert.ok(reproduced >= 30, `only ${reproduced} vectors reproduced`);
  });
});

describe("validateToken", () => {
  const secret = "s3cret";
  const now = 1_800_000_000;

  test("accepts a fresh token and reports its claims", () => {
    const { token } = mintToken({ subject: "alice", secret, now, expiresAt: now + 60 });
    assert.deepEqual(validateToken(token, [secret], now + 1), {
      valid: true,
      userId: "alice",
      issuedAt: now,
      expiresAt: now + 60,
      secretIndex: 0,
      error: null,
    });
  });

  test("a token with expires_at 0 never expires", () => {
    const { token } = mintToken({ subject: "alice", secret, now });
    assert.ok(token.startsWith(`alice:${now}:0:`));
    assert.equal(validateToken(token, [secret], now + 10 * 365 * 86400).valid, true);
  });

  test("is still valid at the expiry second and expired one second later, as pywry's `0 < exp < now`", () => {
    const { token } = mintToken({ subject: "alice", secret, now, expiresAt: now + 10 });
    assert.equal(validateToken(token, [secret], now + 10).valid, true);
    assert.equal(validateToken(token, [secret], now + 10.5).error?.code, "ERR_TOKEN_EXPIRED");
  });

  test("reports expiry before checking the signature, as pywry does", () => {
    const forged = `alice:${now}:${now + 5}:${"0".repeat(64)}`;
    assert.equal(validateToken(forged, [secret], now + 100).error?.code, "ERR_TOKEN_EXPIRED");
    assert.equal(validateToken(forged, [secret], now).error?.code, "ERR_TOKEN_SIGNATURE");
  });

  test("uppercase hex is a signature mismatch, not a format error", () => {
    const { token } = mintToken({ subject: "alice", secret, now });
    const upper = token.replace(/:([0-9a-f]{64})$/, (_match, hex: string) => `:${hex.toUpperCase()}`);
    assert.equal(validateToken(upper, [secret], now).error?.code, "ERR_TOKEN_SIGNATURE");
  });

  test("every character of the signature is compared: changing any one of them is a signature error", () => {
    const { token } = mintToken({ subject: "alice", secret, now });
    const start = token.length - 64;
    for (let index = start; index < token.length; index += 1) {
      const changed = token.slice(0, index) + (token[index] === "0" ? "1" : "0") + token.slice(index + 1);
      assert.equal(validateToken(changed, [secret], now).error?.code, "ERR_TOKEN_SIGNATURE", `position ${index - start}`);
    }
  });

  test("a signature that is not 64 hex characters is malformed", () => {
    for (const signature of ["", "abc", "z".repeat(64), "a".repeat(63), "a".repeat(65), "é".repeat(64)]) {
      assert.equal(validateToken(`alice:${now}:0:${signature}`, [secret], now).error?.code, "ERR_TOKEN_MALFORMED", signature);
    }
  });

  test("key rotation: the current secret first, previous ones after, reporting which one signed", () => {
    const old = mintToken({ subject: "alice", secret: "old", now }).token;
    const current = mintToken({ subject: "alice", secret: "new", now }).token;
    assert.equal(validateToken(old, ["new"], now).error?.code, "ERR_TOKEN_SIGNATURE");
    assert.equal(validateToken(old, ["new", "old"], now).secretIndex, 1);
    assert.equal(validateToken(current, ["new", "old"], now).secretIndex, 0);
    assert.equal(validateToken(current, [], now).valid, false);
  });

  test("never throws, whatever it is given", () => {
    const junk: unknown[] = [undefined, null, 42, {}, [], "", ":::", "\u0000:1:0:x", "\ud800:1:0:ab", "a".repeat(MAX_TOKEN_LENGTH + 1)];
    for (const value of junk) {
      const result = validateToken(value, [secret], now);
      assert.equal(result.valid, false);
      assert.equal(result.error?.code, "ERR_TOKEN_MALFORMED");
    }
  });

  test("signs the integers as written, so Python int() spellings verify when signed that way", () => {
    const payload = `alice: +${now} :0`;
    const token = `${payload}:${pywrySignature(payload, secret)}`;
    const result = validateToken(token, [secret], now);
    assert.equal(result.valid, true);
    assert.equal(result.issuedAt, now);
  });

  test("validateTokenFor refuses a valid token for another subject with ERR_TOKEN_SUBJECT", () => {
    const { token } = mintWidgetToken({ widgetId: "w1", secret, ttl: 300, now });
    assert.equal(validateTokenFor(token, "w1", [secret], now).valid, true);
    const other = validateTokenFor(token, "w2", [secret], now);
    assert.equal(other.valid, false);
    assert.equal(other.error?.code, "ERR_TOKEN_SUBJECT");
    assert.equal(other.userId, null);
  });

  test("signingSecretIndex checks only the signature (for inspect), ignoring expiry", () => {
    const { token } = mintToken({ subject: "alice", secret, now, expiresAt: now + 1 });
    assert.equal(signingSecretIndex(token, ["x", secret]), 1);
    assert.equal(signingSecretIndex(token, ["x"]), null);
    assert.equal(signingSecretIndex("nope", [secret]), null);
  });
});

describe("mintToken refuses what pywry would mint but never validate", () => {
  const base = { secret: "s", now: 1_800_000_000 };

  for (const [subject, why] of [
    ["", "empty"],
    ["grid:main", "contains ':'"],
    ["a\nb", "control character"],
    ["tab\there", "control character"],
    ["bell\u0007", "control character"],
    ["\ud800", "lone surrogate"],
  ] as const) {
    test(`subject ${JSON.stringify(subject)} (${why})`, () => {
      assert.throws(() => mintToken({ ...base, subject }), (error: unknown) => error instanceof InvalidInputError && error.code === "ERR_INVALID_INPUT");
    });
  }

  test("an empty secret", () => {
    assert.throws(() => mintToken({ ...base, subject: "alice", secret: "" }), { code: "ERR_INVALID_INPUT" });
  });

  test("an expiry already in the past", () => {
    assert.throws(() => mintToken({ ...base, subject: "alice", expiresAt: base.now - 1 }), { code: "ERR_INVALID_INPUT" });
  });

  test("a non-finite expiry", () => {
    assert.throws(() => mintToken({ ...base, subject: "alice", expiresAt: Number.NaN }), { code: "ERR_INVALID_INPUT" });
  });

  for (const ttl of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
    test(`a widget TTL of ${ttl}`, () => {
      assert.throws(() => mintWidgetToken({ widgetId: "w1", secret: "s", ttl, now: base.now }), { code: "ERR_INVALID_INPUT" });
    });
  }

  test("a subject so long the token could not be validated", () => {
    assert.throws(() => mintToken({ ...base, subject: "x".repeat(MAX_TOKEN_LENGTH) }), { code: "ERR_INVALID_INPUT" });
  });

  test("but accepts spaces, unicode and e-mail addresses, as pywry does", () => {
    for (const subject of ["a b", "ünïcødé", "admin@example.com", "🔑"]) {
      const { token } = mintToken({ ...base, subject });
      assert.equal(validateToken(token, ["s"], base.now).userId, subject);
    }
  });

  test("truncates a fractional expiry the way Python's int() does", () => {
    const { token, expiresAt } = mintToken({ ...base, subject: "alice", expiresAt: base.now + 10.9 });
    assert.equal(expiresAt, base.now + 10);
    assert.ok(token.includes(`:${base.now + 10}:`));
  });
});

describe("decodeToken and parsePythonInt", () => {
  test("decodes claims without a secret", () => {
    const decoded = decodeToken("bob:100:200:" + "a".repeat(64));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.claims, { subject: "bob", issuedAt: 100, expiresAt: 200 });
  });

  test("reads a negative or zero expiry as never expiring, as pywry's `0 < exp` does", () => {
    for (const expiry of ["0", "-5"]) {
      const decoded = decodeToken(`bob:100:${expiry}:sig`);
      assert.ok(decoded.ok);
      assert.equal(decoded.claims.expiresAt, null);
    }
  });

  test("parsePythonInt follows Python's int() for ASCII input", () => {
    const cases: Array<[string, number | null]> = [
      ["42", 42],
      [" 42\n", 42],
      ["+42", 42],
      ["-42", -42],
      ["1_000", 1000],
      ["007", 7],
      ["1__0", null],
      ["_1", null],
      ["1_", null],
      ["", null],
      ["4.2", null],
      ["0x10", null],
      ["1e3", null],
      ["notanint", null],
      ["9".repeat(4301), null],
      ["9".repeat(400), null],
      ["9007199254740991", 9007199254740991],
      ["9007199254740992", null],
      ["-9007199254740992", null],
      ["-0", 0],
    ];
    for (const [text, expected] of cases) assert.equal(parsePythonInt(text), expected, JSON.stringify(text));
  });
});

describe("times in tokens are exact and not from the future", () => {
  const secret = "exact-times";
  const signed = (payload: string) => `${payload}:${createHmac("sha256", secret).update(payload, "utf8").digest("hex")}`;
  const now = 1_800_000_000;

  test("an issued-at or expires-at beyond 2^53 - 1 is malformed, however it is signed", () => {
    for (const payload of [`alice:${"9".repeat(400)}:0`, `alice:${now}:${2 ** 53 + 1}`, `alice:${now}:1${"0".repeat(16)}`, `alice:-${"9".repeat(20)}:0`]) {
      const result = validateToken(signed(payload), [secret], now);
      assert.equal(result.error?.code, "ERR_TOKEN_MALFORMED", payload.slice(0, 40));
      assert.match(result.error?.message ?? "", /at most 9007199254740991/);
      assert.equal(decodeToken(signed(payload)).ok, false);
    }
    assert.equal(validateToken(signed(`alice:${now}:${2 ** 53 - 1}`), [secret], now).valid, true, "2^53 - 1 itself is exact");
  });

  test("a token issued more than 60 s after now is refused with ERR_TOKEN_NOT_YET_VALID; within 60 s it is valid", () => {
    assert.equal(MAX_CLOCK_SKEW_SECONDS, 60);
    assert.equal(validateToken(signed(`alice:${now + 60}:0`), [secret], now).valid, true);
    const ahead = validateToken(signed(`alice:${now + 61}:0`), [secret], now);
    assert.equal(ahead.valid, false);
    assert.equal(ahead.error?.code, "ERR_TOKEN_NOT_YET_VALID");
    assert.equal(ahead.userId, null);
    assert.equal(validateTokenFor(signed(`w1:${now + 3600}:${now + 3900}`), "w1", [secret], now).error?.code, "ERR_TOKEN_NOT_YET_VALID");
    assert.equal(validateToken(signed(`alice:${now + 61}:0`), ["other"], now).error?.code, "ERR_TOKEN_SIGNATURE", "a forged one is a bad signature first");
  });

  test("a user-wide cut-off is not escaped by a future or an enormous issued_at", async () => {
    const store = new MemorySessionStore({ now: () => now });
    await store.revokeUser("alice", null);
    for (const payload of [`alice:${now + 3600}:0`, `alice:${"9".repeat(400)}:0`]) {
      const result = await verifyToken(signed(payload), { secrets: secret, store, now: () => now + 10 });
      assert.equal(result.valid, false, payload.slice(0, 40));
    }
    assert.equal((await verifyToken(signed(`alice:${now + 5}:0`), { secrets: secret, store, now: () => now + 10 })).valid, true, "a token issued after the cut-off is fine");
  });
});
