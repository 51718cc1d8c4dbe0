import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as library from "pywry-auth";

describe("the library, imported by its package name", () => {
  test("exports pywry's API and the stores", () => {
    for (const name of [
      "generateSessionToken",
      "validateSessionToken",
      "generateWidgetToken",
      "validateWidgetToken",
      "verifyToken",
      "getRolePermissions",
      "hasPermission",
      "isAdmin",
      "createAuthConfig",
      "SqliteSessionStore",
      "sqliteFileFormat",
      "resolveSqliteKey",
      "requireSqliteKey",
      "pywrySaltKey",
      "pythonNode",
      "MemorySessionStore",
      "PywryAuthError",
      "resolveSession",
      "resolveSessionFromRequest",
      "createAuthMiddleware",
      "requireAuth",
      "requirePermission",
      "authenticateUpgrade",
    ]) {
      assert.equal(typeof (library as Record<string, unknown>)[name], "function", name);
    }
    assert.deepEqual([...library.DEFAULT_ROLE_PERMISSIONS["viewer"]!], ["read"]);
  });

  test("exports what reads and writes pywry's metadata losslessly", () => {
    const metadata = library.parsePythonJson('{"n": NaN, "big": 9223372036854775809, "one": 1.0}') as Record<string, unknown>;
    assert.ok(metadata["big"] instanceof library.PythonNumber);
    assert.equal(library.pythonJson(metadata), '{"n": NaN, "big": 9223372036854775809, "one": 1.0}');
    assert.equal(library.MAX_CLOCK_SKEW_SECONDS, 60);
  });

  test("round-trips session and widget tokens with pywry's signatures", () => {
    const now = 1_800_000_000;
    const token = library.generateSessionToken("alice", "secret", now + 60, { now: () => now });
    assert.deepEqual(library.validateSessionToken(token, "secret", { now: () => now }), {
      valid: true,
      userId: "alice",
      issuedAt: now,
      expiresAt: now + 60,
      error: null,
    });
    const widget = library.generateWidgetToken("w1", "secret", 300, { now: () => now });
    assert.equal(library.validateWidgetToken(widget, "w1", "secret", { now: () => now + 299 }), true);
    assert.equal(library.validateWidgetToken(widget, "w2", "secret", { now: () => now }), false);
    assert.equal(library.validateWidgetToken(widget, "w1", "secret", { now: () => now + 301 }), false);
  });

  test("a widget token is also a valid session token for the widget id, exactly as in pywry", () => {
    const widget = library.generateWidgetToken("alice", "secret");
    assert.equal(library.validateSessionToken(widget, "secret").userId, "alice");
  });

  test("errors carry stable codes", () => {
    assert.throws(() => library.generateSessionToken("grid:main", "secret"), (error: unknown) => {
      assert.ok(error instanceof library.PywryAuthError);
      assert.equal(error.code, "ERR_INVALID_INPUT");
      return true;
    });
    const result = library.validateSessionToken("a:b:c", "secret");
    assert.deepEqual(result.error?.code, "ERR_TOKEN_MALFORMED");
  });

  test("verifyToken consults the store's revocations", async () => {
    const store = new library.MemorySessionStore();
    const token = library.generateSessionToken("alice", "secret");
    assert.equal((await library.verifyToken(token, { secrets: ["secret"], store })).valid, true);
    await store.revokeToken({ tokenHash: library.sha256Hex(token), subject: "alice", expiresAt: null, reason: null });
    const revoked = await library.verifyToken(token, { secrets: ["secret"], store });
    assert.equal(revoked.valid, false);
    assert.equal(revoked.error?.code, "ERR_TOKEN_REVOKED");
    assert.equal((await library.verifyToken(token, { secrets: ["secret"] })).valid, true, "without a store, no revocation check");
  });
});
