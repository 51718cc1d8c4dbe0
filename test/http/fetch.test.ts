/** resolveSessionFromRequest: the same resolution for Fetch API Requests (Hono, Next.js, Bun, Deno). */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { generateSessionToken } from "../../src/auth.js";
import { createAuthConfig } from "../../src/core/config.js";
import { sha256Hex } from "../../src/core/handles.js";
import { resolveSessionFromRequest } from "../../src/http/resolve.js";
import type { AuthStore } from "../../src/store/types.js";
import { SECRET, STORE_KINDS, T0, counting, type Clock } from "./harness.js";

for (const kind of STORE_KINDS) {
  describe(`${kind.name}: resolveSessionFromRequest`, () => {
    const clock: Clock = { now: T0 };
    const config = createAuthConfig({ enabled: true, tokenSecret: SECRET });
    let store: AuthStore;
    let token: string;

    beforeEach(async () => {
      clock.now = T0;
      store = kind.open(clock);
      token = generateSessionToken("alice", SECRET, T0 + 3600, { now: () => T0 });
      await store.createSession(token, "alice", ["viewer"], 3600);
    });
    afterEach(() => store.close());

    const userOf = async (url: string, headers: Record<string, string> = {}, options: { store?: AuthStore } = {}) =>
      (await resolveSessionFromRequest(new Request(url, { headers }), { store: options.store ?? store, config, now: () => clock.now }))?.userId ?? null;

    test("reads the cookie, the Bearer header and ?session=", async () => {
      const encoded = encodeURIComponent(token);
      assert.equal(await userOf("https://app.example/x", { Cookie: `a=1; pywry_session=${encoded}` }), "alice");
      assert.equal(await userOf("https://app.example/x", { Authorization: `bearer ${token}` }), "alice");
      assert.equal(await userOf(`https://app.example/ws?session=${encoded}`), "alice");
      assert.equal(await userOf("https://app.example/x"), null);
    });

    test("refuses what the Node variant refuses: revoked, expired, malformed, oversized", async () => {
      assert.equal(await userOf("https://app.example/x", { Cookie: "pywry_session=%E0%A4%A" }), null);
      assert.equal(await userOf("https://app.example/x?session=a&session=b"), null);
      const counted = counting(store);
      assert.equal(await userOf("https://app.example/x", { Cookie: `pywry_session=${"a".repeat(100 * 1024)}` }, { store: counted.store }), null);
      assert.equal(await userOf(`https://app.example/x?session=${"a".repeat(100 * 1024)}`, {}, { store: counted.store }), null);
      assert.deepEqual(counted.calls, []);
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: null });
      await store.createSession("other", "alice", ["viewer"], 3600);
      assert.equal(await userOf("https://app.example/x", { Authorization: `Bearer ${token}` }), null);
      clock.now = T0 + 3601;
      assert.equal(await userOf("https://app.example/x?session=other"), null);
    });
  });
}
