/**
 * How the middleware hands requests on: on a SQLite store (whose bearerLookupSync answers), a
 * request whose only credential is a Bearer token is decided without waiting (next() runs before
 * the middleware returns), as is, on any store, a Bearer token that fails its signature; anything
 * else is resolved asynchronously. The results are the same either way (server.test.ts checks
 * them over real HTTP for both stores).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateSessionToken } from "../../src/auth.js";
import { createAuthConfig } from "../../src/core/config.js";
import { createAuthMiddleware, sessionOf } from "../../src/http/middleware.js";
import { SECRET, STORE_KINDS, T0 } from "./harness.js";

const config = createAuthConfig({ enabled: true, tokenSecret: SECRET });

function requestWith(headers: Record<string, string>, url = "/api/x"): { headers: Record<string, string>; rawHeaders: string[]; url: string } {
  return { headers, rawHeaders: Object.entries(headers).flat(), url };
}

/** Calls the middleware; reports whether next() had run by the time it returned, and the session. */
async function handOff(auth: ReturnType<typeof createAuthMiddleware>, req: object): Promise<{ synchronous: boolean; userId: string | null }> {
  let called = false;
  const done = new Promise<void>((resolve) => {
    auth(req as never, {} as never, () => {
      called = true;
      resolve();
    });
  });
  const synchronous = called;
  await done;
  return { synchronous, userId: sessionOf(req)?.userId ?? null };
}

for (const kind of STORE_KINDS) {
  const sqlite = kind.name === "SqliteSessionStore";
  describe(`${kind.name}: handing requests on`, () => {
    test(`a Bearer-only request is decided ${sqlite ? "without waiting" : "asynchronously"}, with the same session`, async () => {
      const clock = { now: T0 };
      const store = kind.open(clock);
      const token = generateSessionToken("alice", SECRET, T0 + 3600, { now: () => T0 });
      await store.createSession(token, "alice", ["viewer"], 3600);
      const auth = createAuthMiddleware({ store, config, now: () => clock.now });
      assert.deepEqual(await handOff(auth, requestWith({ authorization: `Bearer ${token}` })), { synchronous: sqlite, userId: "alice" });
      // A token whose signature fails needs no store read: refused without waiting, on every store.
      assert.deepEqual(await handOff(auth, requestWith({ authorization: `Bearer ${token}x` })), { synchronous: true, userId: null });
      await store.close();
    });

    test("a cookie, a query or a token without its own session is resolved asynchronously", async () => {
      const clock = { now: T0 };
      const store = kind.open(clock);
      const token = generateSessionToken("bob", SECRET, T0 + 3600, { now: () => T0 });
      await store.createSession("bob-session", "bob", ["viewer"], 3600);
      const auth = createAuthMiddleware({ store, config, now: () => clock.now });
      assert.deepEqual(await handOff(auth, requestWith({ cookie: "pywry_session=bob-session" })), { synchronous: false, userId: "bob" });
      assert.deepEqual(await handOff(auth, requestWith({}, "/api/x?session=bob-session")), { synchronous: false, userId: "bob" });
      assert.deepEqual(await handOff(auth, requestWith({ authorization: `Bearer ${token}` })), { synchronous: false, userId: "bob" }, "the user's newest live session");
      await store.close();
    });
  });
}
