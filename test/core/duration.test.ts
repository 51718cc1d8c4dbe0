import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseDuration, parseInstant, parseTtl, readDurationSeconds } from "../../src/core/duration.js";
import { createAuthConfig } from "../../src/core/config.js";
import { pythonJson } from "../../src/core/pyjson.js";

describe("the duration grammar (parseDuration, parseTtl)", () => {
  test("reads bare whole numbers as seconds", () => {
    assert.equal(parseDuration("3600"), 3600);
    assert.equal(parseTtl("90"), 90);
    assert.equal(parseDuration(" 60 "), 60);
  });

  test("reads Go/Vault-style units and compound durations", () => {
    assert.equal(parseDuration("90s"), 90);
    assert.equal(parseDuration("15m"), 900);
    assert.equal(parseDuration("24h"), 86400);
    assert.equal(parseDuration("36h"), 36 * 3600);
    assert.equal(parseDuration("1h30m"), 5400);
    assert.equal(parseDuration("1h30m15s"), 5415);
    assert.equal(parseDuration("7d"), 7 * 86400);
    assert.equal(parseDuration("2w"), 14 * 86400);
    assert.equal(parseDuration("1d12h"), 36 * 3600);
    assert.equal(parseDuration("2000ms"), 2);
  });

  test("reads fractions that land on whole seconds", () => {
    assert.equal(parseDuration("1.5h"), 5400);
    assert.equal(parseDuration("0.1h"), 360);
    assert.equal(parseDuration("1.5s1500ms"), 3);
  });

  test("refuses ambiguous upper-case units, saying why", () => {
    for (const text of ["15M", "1H", "7D", "10S"]) {
      assert.throws(() => parseDuration(text), { code: "ERR_INVALID_INPUT", message: /lower-case.*ambiguous/ }, text);
    }
  });

  test("refuses months and years, which have no fixed length", () => {
    for (const text of ["1y", "6mo", "2months"]) {
      assert.throws(() => parseDuration(text), { code: "ERR_INVALID_INPUT", message: /months and years/ }, text);
    }
  });

  test("refuses anything under a second with a message that says so", () => {
    for (const text of ["500ms", "999ms", "0.5s"]) {
      assert.throws(() => parseDuration(text), { code: "ERR_INVALID_INPUT", message: /under a second/ }, text);
    }
  });

  test("refuses fractions that do not come to whole seconds", () => {
    for (const text of ["1.5", "1500ms", "1.0001m", "0.5"]) {
      assert.throws(() => parseDuration(text), { code: "ERR_INVALID_INPUT", message: /whole seconds/ }, text);
    }
  });

  test("refuses zero, negatives, nonsense and absurd lengths", () => {
    for (const [text, reason] of [
      ["0", /longer than zero/],
      ["0s", /longer than zero/],
      ["0h0m", /longer than zero/],
      ["-5", /negative/],
      ["-5m", /negative/],
      ["", /empty/],
      ["soon", /90s, 15m, 1h30m/],
      ["5 parsecs", /90s, 15m, 1h30m/],
      ["1h 30m", /90s, 15m, 1h30m/],
      ["15min", /unknown unit "min"/],
      ["h", /90s, 15m, 1h30m/],
      ["36600d", /100 years/],
    ] as const) {
      assert.throws(() => parseDuration(text), { code: "ERR_INVALID_INPUT", message: reason }, text);
    }
  });

  test("numbers (a config file's) are whole seconds too", () => {
    assert.equal(readDurationSeconds(3600), 3600);
    assert.match(String(readDurationSeconds(0)), /longer than zero/);
    assert.match(String(readDurationSeconds(-5)), /negative/);
    assert.match(String(readDurationSeconds(1.5)), /whole/);
    assert.match(String(readDurationSeconds(0.5)), /under a second/);
  });
});

describe("parseInstant", () => {
  test("reads Unix seconds and ISO 8601", () => {
    assert.equal(parseInstant("1764000000"), 1764000000);
    assert.equal(parseInstant("2026-01-31T12:00:00Z"), Date.UTC(2026, 0, 31, 12) / 1000);
  });

  test("refuses loose date strings rather than guessing", () => {
    for (const text of ["tomorrow", "Jan 5", "12/01/2026", ""]) assert.throws(() => parseInstant(text), { code: "ERR_INVALID_INPUT" }, text);
  });
});

describe("createAuthConfig", () => {
  test("has pywry's AuthConfig defaults", () => {
    assert.deepEqual(createAuthConfig(), {
      enabled: false,
      sessionCookie: "pywry_session",
      authHeader: "Authorization",
      tokenSecret: "",
      sessionTtl: 86400,
      requireAuthForWidgets: false,
    });
  });

  test("overrides only what is given", () => {
    const config = createAuthConfig({ enabled: true, sessionTtl: 60, authHeader: undefined });
    assert.equal(config.enabled, true);
    assert.equal(config.sessionTtl, 60);
    assert.equal(config.authHeader, "Authorization");
  });
});

describe("pythonJson", () => {
  test("writes what Python's json.dumps writes", () => {
    assert.equal(pythonJson(["read", "write"]), '["read", "write"]');
    assert.equal(pythonJson([]), "[]");
    assert.equal(pythonJson({}), "{}");
    assert.equal(pythonJson({ permissions: { "widget:w1": ["read"] } }), '{"permissions": {"widget:w1": ["read"]}}');
    assert.equal(pythonJson(["ünï", "🔑"]), '["\\u00fcn\\u00ef", "\\ud83d\\udd11"]');
    assert.equal(pythonJson({ a: 1, b: null, c: true }), '{"a": 1, "b": null, "c": true}');
  });
});
