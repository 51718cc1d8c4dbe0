import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseInstant, parseTtl } from "../../src/core/duration.js";
import { createAuthConfig } from "../../src/core/config.js";
import { pythonJson } from "../../src/core/pyjson.js";

describe("parseTtl", () => {
  test("reads bare numbers as seconds and units the way people write them", () => {
    assert.equal(parseTtl("3600"), 3600);
    assert.equal(parseTtl("1.5"), 1.5);
    assert.equal(parseTtl("15m"), 900);
    assert.equal(parseTtl("24h"), 86400);
    assert.equal(parseTtl("7d"), 7 * 86400);
    assert.equal(parseTtl("90s"), 90);
  });

  test("refuses zero, negatives and nonsense as usage errors", () => {
    for (const text of ["0", "-5m", "", "soon", "5 parsecs", "0s"]) {
      assert.throws(() => parseTtl(text), { code: "ERR_USAGE" }, text);
    }
  });
});

describe("parseInstant", () => {
  test("reads Unix seconds and ISO 8601", () => {
    assert.equal(parseInstant("1764000000"), 1764000000);
    assert.equal(parseInstant("2026-01-31T12:00:00Z"), Date.UTC(2026, 0, 31, 12) / 1000);
  });

  test("refuses loose date strings rather than guessing", () => {
    for (const text of ["tomorrow", "Jan 5", "12/01/2026", ""]) assert.throws(() => parseInstant(text), { code: "ERR_USAGE" }, text);
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
