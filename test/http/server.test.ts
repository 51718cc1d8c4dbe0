/**
 * The HTTP middleware, guards and upgrade helper on a real Node http server, called with real
 * fetch(), against both stores. Each "stricter than pywry" behaviour has its own test.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import { generateSessionToken } from "../../src/auth.js";
import { createAuthConfig, type AuthConfig } from "../../src/core/config.js";
import { sha256Hex } from "../../src/core/handles.js";
import { rejectUpgrade } from "../../src/http/answers.js";
import { requireAuth, requirePermission } from "../../src/http/guards.js";
import { createAuthMiddleware, sessionOf, type AuthMiddlewareOptions, type AuthRequestHandler, type AuthenticatedRequest } from "../../src/http/middleware.js";
import { authenticateUpgrade } from "../../src/http/upgrade.js";
import type { AuthStore } from "../../src/store/types.js";
import {
  SECRET,
  STORE_KINDS,
  T0,
  counting,
  failing,
  rawRequest,
  startServer,
  upgradeRequest,
  watchUnhandledRejections,
  webSocketAccept,
  type Clock,
  type RunningServer,
} from "./harness.js";

const unhandled = watchUnhandledRejections();
after(() => assert.deepEqual(unhandled, [], "no unhandled rejections"));

const PUBLIC_PATHS = ["/auth", "/status/"];

interface Answer {
  status: number;
  headers: Headers;
  body: { userId?: string | null; sessionId?: string | null; error?: { code: string; message: string } };
  text: string;
}

for (const kind of STORE_KINDS) {
  describe(`${kind.name}: HTTP auth on a real server`, () => {
    const clock: Clock = { now: T0 };
    let store: AuthStore;
    let server: RunningServer | null = null;
    let config: AuthConfig;

    beforeEach(() => {
      clock.now = T0;
      store = kind.open(clock);
      config = createAuthConfig({ enabled: true, tokenSecret: SECRET });
    });
    afterEach(async () => {
      await server?.close();
      server = null;
      await store.close();
    });

    /** Starts the test app: the middleware in front of a few guarded routes and an echo. */
    async function serve(overrides: Partial<AuthMiddlewareOptions> = {}, serverOptions = {}): Promise<RunningServer> {
      const auth = createAuthMiddleware({ store, config, publicPaths: PUBLIC_PATHS, now: () => clock.now, ...overrides });
      server = await startServer((req, res) => auth(req, res, () => route(req, res)), serverOptions);
      return server;
    }

    async function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
      const response = await fetch(`${server!.origin}${path}`, { headers });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: JSON.parse(text), text };
    }

    function mint(user: string, options: { expiresIn?: number; secret?: string } = {}): string {
      return generateSessionToken(user, options.secret ?? SECRET, clock.now + (options.expiresIn ?? 3600), { now: () => clock.now });
    }

    /** What pywry's login does: a session whose id is the token. */
    async function login(user: string, roles: string[] = ["viewer"]): Promise<string> {
      const token = mint(user);
      await store.createSession(token, user, roles, 3600);
      return token;
    }

    describe("cookie", () => {
      test("the session cookie resolves its session", async () => {
        await serve();
        await store.createSession("sess-1", "alice", ["viewer"], 3600);
        const answer = await get("/whoami", { Cookie: "theme=dark; pywry_session=sess-1; other=x" });
        assert.deepEqual(answer.body, { userId: "alice", sessionId: "sess-1" });
      });

      test("cookie values are percent-decoded and may be quoted (stricter than pywry)", async () => {
        await serve();
        const token = await login("alice");
        assert.equal((await get("/whoami", { Cookie: `pywry_session=${encodeURIComponent(token)}` })).body.userId, "alice");
        assert.equal((await get("/whoami", { Cookie: `pywry_session="${token}"` })).body.userId, "alice");
      });

      test("a malformed cookie is no session, not a crash (stricter than pywry)", async () => {
        await serve();
        await store.createSession("sess-1", "alice", ["viewer"], 3600);
        for (const cookie of ["pywry_session=%E0%A4%A", "pywry_session=%ZZ", "pywry_session", "pywry_session=", ";;==;", "=sess-1"]) {
          const answer = await get("/whoami", { Cookie: cookie });
          assert.equal(answer.status, 200, cookie);
          assert.equal(answer.body.userId, null, cookie);
        }
        assert.equal((await get("/whoami", { Cookie: "pywry_session=sess-1" })).body.userId, "alice", "the server still answers");
      });

      test("when the cookie name repeats, the first one counts", async () => {
        await serve();
        await store.createSession("sess-a", "alice", ["viewer"], 3600);
        await store.createSession("sess-b", "bob", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Cookie: "pywry_session=sess-a; pywry_session=sess-b" })).body.userId, "alice");
      });

      test("the cookie name comes from the config", async () => {
        config = createAuthConfig({ enabled: true, tokenSecret: SECRET, sessionCookie: "sid" });
        await serve();
        await store.createSession("sess-1", "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Cookie: "pywry_session=sess-1" })).body.userId, null);
        assert.equal((await get("/whoami", { Cookie: "sid=sess-1" })).body.userId, "alice");
      });
    });

    describe("Bearer token", () => {
      test("resolves the session whose id is the token, even when the user has newer sessions", async () => {
        await serve();
        const token = await login("alice");
        clock.now = T0 + 10;
        await store.createSession("newer", "alice", ["admin"], 3600);
        assert.deepEqual((await get("/whoami", { Authorization: `Bearer ${token}` })).body, { userId: "alice", sessionId: token });
      });

      test("without its own session, resolves the user's most recent live session, not an arbitrary one", async () => {
        await serve();
        const token = mint("alice");
        await store.createSession("oldest", "alice", ["viewer"], 3600);
        clock.now = T0 + 10;
        await store.createSession("newest-live", "alice", ["viewer"], 3600);
        clock.now = T0 + 20;
        await store.createSession("expires-soon", "alice", ["viewer"], 5);
        await store.createSession("bobs", "bob", ["viewer"], 3600);
        clock.now = T0 + 30;
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.sessionId, "newest-live");
      });

      test("picks the most recent session even from a store that lists them in another order", async () => {
        const oldestFirst = new Proxy(store, {
          get(target, property, receiver) {
            if (property === "listUserSessions") return async (userId: string) => (await target.listUserSessions(userId)).reverse();
            const value = Reflect.get(target, property, receiver);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
        await serve({ store: oldestFirst });
        await store.createSession("older", "alice", ["viewer"], 3600);
        clock.now = T0 + 10;
        await store.createSession("newer", "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${mint("alice")}` })).body.sessionId, "newer");
      });

      test("a valid token for a user without a live session is no session", async () => {
        await serve();
        assert.equal((await get("/whoami", { Authorization: `Bearer ${mint("nobody")}` })).body.userId, null);
      });

      test("the Bearer scheme is matched case-insensitively (stricter than pywry)", async () => {
        await serve();
        const token = await login("alice");
        for (const value of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `bEaReR \t ${token}`]) {
          assert.equal((await get("/whoami", { Authorization: value })).body.userId, "alice", JSON.stringify(value));
        }
        for (const value of [`Basic ${token}`, `Bearer`, `Bearer `, `Bearer${token}`, token, "Bearer a:b:c"]) {
          assert.equal((await get("/whoami", { Authorization: value })).body.userId, null, JSON.stringify(value));
        }
      });

      test("a token must pass signature and expiry", async () => {
        await serve();
        await store.createSession("live", "alice", ["viewer"], 86400);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${mint("alice", { secret: "another-secret" })}` })).body.userId, null);
        const shortLived = mint("alice", { expiresIn: 60 });
        assert.equal((await get("/whoami", { Authorization: `Bearer ${shortLived}` })).body.userId, "alice");
        clock.now = T0 + 61;
        assert.equal((await get("/whoami", { Authorization: `Bearer ${shortLived}` })).body.userId, null);
      });

      test("a revoked token is refused even when the user still has other sessions (stricter than pywry)", async () => {
        await serve();
        const token = await login("alice");
        await store.createSession("other", "alice", ["viewer"], 3600);
        await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: null });
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
        assert.equal((await get("/whoami", { Cookie: "pywry_session=other" })).body.userId, "alice", "the other session still works");
      });

      test("a token accepted before is refused on the very next request once revoked (a verified signature is remembered, its revocation is not)", async () => {
        await serve();
        const token = await login("alice");
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, "alice");
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, "alice");
        await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: null });
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
      });

      test("retiring a secret by editing the secrets array in place refuses its tokens from the next request on", async () => {
        const secrets = ["new-secret", SECRET];
        await serve({ secrets });
        const token = await login("alice");
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, "alice");
        secrets.pop();
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
        secrets.push(SECRET);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, "alice");
      });

      test("a user-wide cut-off refuses the user's older tokens, even after a new login (stricter than pywry)", async () => {
        await serve();
        const old = await login("alice");
        await store.revokeUser("alice", "offboarded");
        clock.now = T0 + 5;
        const fresh = await login("alice");
        assert.equal((await get("/whoami", { Authorization: `Bearer ${old}` })).body.userId, null);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${fresh}` })).body.userId, "alice");
      });

      test("a token issued more than 60 s in the future is refused, even with a session of its own (stricter than pywry)", async () => {
        await serve();
        const ahead = generateSessionToken("alice", SECRET, T0 + 7200, { now: () => T0 + 3600 });
        await store.createSession(ahead, "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${ahead}` })).body.userId, null);
        const skewed = generateSessionToken("alice", SECRET, T0 + 7200, { now: () => T0 + 60 });
        await store.createSession(skewed, "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${skewed}` })).body.userId, "alice", "60 s of clock skew is allowed");
      });

      test("secrets lists previous secrets for rotation; an empty secret accepts no token", async () => {
        await serve({ secrets: ["new-secret", SECRET] });
        const token = await login("alice");
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, "alice");
        await server!.close();
        config = createAuthConfig({ enabled: true, tokenSecret: "" });
        await serve();
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
        assert.equal((await get("/whoami", { Cookie: `pywry_session=${encodeURIComponent(token)}` })).body.userId, "alice", "cookies need no secret");
      });

      test("repeated Authorization headers give no session (stricter than pywry)", async () => {
        await serve();
        const token = await login("alice");
        const once = await rawRequest(server!.origin, "/whoami", { Authorization: `Bearer ${token}` });
        assert.equal(JSON.parse(once.body).userId, "alice");
        const twice = await rawRequest(server!.origin, "/whoami", { Authorization: [`Bearer ${token}`, `Bearer ${token}`] });
        assert.equal(JSON.parse(twice.body).userId, null);
      });

      test("a custom auth header from the config, repeated or not", async () => {
        config = createAuthConfig({ enabled: true, tokenSecret: SECRET, authHeader: "X-Pywry-Auth" });
        await serve();
        const token = await login("alice");
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
        assert.equal((await get("/whoami", { "x-pywry-auth": `Bearer ${token}` })).body.userId, "alice");
        const twice = await rawRequest(server!.origin, "/whoami", { "X-Pywry-Auth": [`Bearer ${token}`, `Bearer ${token}`] });
        assert.equal(JSON.parse(twice.body).userId, null);
      });
    });

    describe("query parameter", () => {
      test("?session= resolves, percent-decoded", async () => {
        await serve();
        const token = await login("alice");
        assert.equal((await get(`/whoami?session=${encodeURIComponent(token)}`)).body.userId, "alice");
        await store.createSession("with space+plus", "bob", ["viewer"], 3600);
        assert.equal((await get("/whoami?x=1&session=with+space%2Bplus")).body.userId, "bob");
      });

      test("?session= given twice, or badly encoded, is no session", async () => {
        await serve();
        await store.createSession("s1", "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami?session=s1&session=s1")).body.userId, null);
        assert.equal((await get("/whoami?session=%E0%A4%A")).body.userId, null);
      });
    });

    describe("revocations hold for cookies and ?session= too (stricter than pywry)", () => {
      test("a revoked token whose session came back is no session as a cookie or a query value", async () => {
        await serve();
        const token = await login("alice");
        await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: null });
        // pywry (or a restored backup) writes the session again.
        await store.createSession(token, "alice", ["admin"], 3600);
        const encoded = encodeURIComponent(token);
        assert.equal((await get("/whoami", { Cookie: `pywry_session=${encoded}` })).body.userId, null);
        assert.equal((await get(`/whoami?session=${encoded}`)).body.userId, null);
        await store.createSession("plain", "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Cookie: "pywry_session=plain" })).body.userId, "alice", "other sessions still work");
      });

      test("after a user-wide revocation, sessions made before it that came back are no session; new ones work", async () => {
        await serve();
        const token = await login("alice");
        await store.createSession("plain-old", "alice", ["viewer"], 3600);
        clock.now = T0 + 10;
        await store.revokeUser("alice", null);
        // Brought back as they were (an import of an old export): made before the cut-off.
        clock.now = T0;
        await store.createSession(token, "alice", ["viewer"], 3600);
        await store.createSession("plain-old", "alice", ["viewer"], 3600);
        clock.now = T0 + 20;
        await store.createSession("plain-new", "alice", ["viewer"], 3600);
        assert.equal((await get("/whoami", { Cookie: `pywry_session=${encodeURIComponent(token)}` })).body.userId, null);
        assert.equal((await get(`/whoami?session=${encodeURIComponent(token)}`)).body.userId, null);
        assert.equal((await get("/whoami", { Cookie: "pywry_session=plain-old" })).body.userId, null);
        assert.equal((await get("/whoami?session=plain-old")).body.userId, null);
        assert.equal((await get("/whoami", { Cookie: "pywry_session=plain-new" })).body.userId, "alice");
      });
    });

    test("the order is cookie, then Bearer header, then query; a credential that fails gives way to the next", async () => {
      await serve();
      await store.createSession("cookie-sess", "carol", ["viewer"], 3600);
      const token = await login("alice");
      await store.createSession("query-sess", "quinn", ["viewer"], 3600);
      const all = { Cookie: "pywry_session=cookie-sess", Authorization: `Bearer ${token}` };
      assert.equal((await get("/whoami?session=query-sess", all)).body.userId, "carol");
      assert.equal((await get("/whoami?session=query-sess", { ...all, Cookie: "pywry_session=stale" })).body.userId, "alice");
      assert.equal((await get("/whoami?session=query-sess", { Cookie: "pywry_session=stale", Authorization: "Bearer junk" })).body.userId, "quinn");
    });

    test("expired sessions are never returned, whichever way they are named", async () => {
      await serve();
      const token = generateSessionToken("alice", SECRET, null, { now: () => clock.now });
      await store.createSession(token, "alice", ["viewer"], 60);
      clock.now = T0 + 61;
      const encoded = encodeURIComponent(token);
      assert.equal((await get("/whoami", { Cookie: `pywry_session=${encoded}` })).body.userId, null);
      assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
      assert.equal((await get(`/whoami?session=${encoded}`)).body.userId, null);
    });

    test("a store that returns expired sessions still yields none (stricter than pywry)", async () => {
      await store.createSession("stale", "alice", ["viewer"], 60);
      const token = mint("alice", { expiresIn: 86400 });
      const lax = new Proxy(store, {
        get(target, property, receiver) {
          // Answers as if the clock had not moved, like a store whose expiry lags.
          if (property === "getSession" || property === "listUserSessions") {
            return async (arg: string) => {
              const now = clock.now;
              clock.now = T0;
              try {
                return await (target[property] as (value: string) => Promise<unknown>).call(target, arg);
              } finally {
                clock.now = now;
              }
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      await serve({ store: lax });
      clock.now = T0 + 61;
      assert.equal((await get("/whoami", { Cookie: "pywry_session=stale" })).body.userId, null);
      assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
    });

    test("oversized headers are ignored without touching the store (stricter than pywry)", async () => {
      const counted = counting(store);
      // Node refuses headers over 16 KiB by default; raise that so the middleware sees them.
      await serve({ store: counted.store }, { maxHeaderSize: 512 * 1024 });
      await store.createSession("sess-1", "alice", ["viewer"], 3600);
      const huge = "a".repeat(100 * 1024);
      const started = Date.now();
      assert.equal((await get("/whoami", { Cookie: `pywry_session=${huge}` })).body.userId, null);
      assert.equal((await get("/whoami", { Cookie: `pywry_session=sess-1; filler=${huge}` })).body.userId, null);
      assert.equal((await get("/whoami", { Authorization: `Bearer ${huge}` })).body.userId, null);
      assert.equal((await get(`/whoami?session=${huge}`)).body.userId, null);
      assert.ok(Date.now() - started < 2000);
      assert.deepEqual(counted.calls, []);
    });

    describe("public paths", () => {
      test("match whole segments after normalising the path (stricter than pywry)", async () => {
        await serve();
        await store.createSession("sess-1", "alice", ["admin"], 3600);
        const cookie = { Cookie: "pywry_session=sess-1" };
        const userAt = async (path: string) => JSON.parse((await rawRequest(server!.origin, path, cookie)).body).userId as string | null;
        for (const path of ["/auth", "/auth/", "/auth/login", "/auth/login?next=/x", "//auth//login", "/status", "/status/health", "/x/../auth/login"]) {
          assert.equal(await userAt(path), null, `${path} is public: no session is resolved`);
        }
        for (const path of ["/authx", "/auth-login", "/statusx", "/auth/../whoami", "/auth/%2e%2e/whoami", "/auth/.%2E/whoami", "/auth%2flogin", "/Auth/login", "/auth\\..\\whoami", "/"]) {
          assert.equal(await userAt(path), "alice", `${path} is not public`);
        }
      });

      test("a guarded route under a public-looking path still refuses", async () => {
        await serve();
        await store.createSession("sess-1", "alice", ["admin"], 3600);
        const answer = await rawRequest(server!.origin, "/auth/../api/admin", { Cookie: "pywry_session=sess-1" });
        assert.equal(answer.status, 200, "resolved as /api/admin, not skipped as public");
      });

      test("entries must be paths", () => {
        for (const publicPaths of [["auth"], [""], ["/auth/.."], [42]]) {
          assert.throws(() => createAuthMiddleware({ store, config, publicPaths: publicPaths as string[] }), { code: "ERR_INVALID_INPUT" });
        }
      });
    });

    describe("guards", () => {
      test("requireAuth answers 401 with WWW-Authenticate: Bearer and a JSON error that echoes nothing", async () => {
        await serve();
        const token = mint("ghost");
        const answer = await get("/private", { Authorization: `Bearer ${token}`, Cookie: "pywry_session=unknown-cookie" });
        assert.equal(answer.status, 401);
        assert.equal(answer.headers.get("www-authenticate"), "Bearer");
        assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
        assert.equal(answer.body.error?.code, "ERR_UNAUTHENTICATED");
        assert.equal(typeof answer.body.error?.message, "string");
        assert.ok(!answer.text.includes(token) && !answer.text.includes("unknown-cookie"));
      });

      test("requireAuth lets a session through", async () => {
        await serve();
        const token = await login("alice");
        const answer = await get("/private", { Authorization: `Bearer ${token}` });
        assert.equal(answer.status, 200);
        assert.equal(answer.body.userId, "alice");
      });

      test("requirePermission: 401 without a session, 403 without the permission, 200 with it", async () => {
        await serve();
        const viewer = await login("alice", ["viewer"]);
        const admin = await login("root", ["admin"]);
        assert.equal((await get("/api/widgets")).status, 401);
        assert.equal((await get("/api/widgets", { Authorization: `Bearer ${viewer}` })).status, 200);
        const denied = await get("/api/admin", { Authorization: `Bearer ${viewer}` });
        assert.equal(denied.status, 403);
        assert.equal(denied.body.error?.code, "ERR_FORBIDDEN");
        assert.equal(denied.headers.get("www-authenticate"), null);
        assert.equal((await get("/api/admin", { Authorization: `Bearer ${admin}` })).status, 200);
      });

      test("requirePermission reads the store's role table, as pywry's check_permission does", async () => {
        await serve();
        const viewer = await login("alice", ["viewer"]);
        await store.setRolePermissions("viewer", ["read", "admin"]);
        assert.equal((await get("/api/admin", { Authorization: `Bearer ${viewer}` })).status, 200);
        await store.setRolePermissions("viewer", []);
        assert.equal((await get("/api/widgets", { Authorization: `Bearer ${viewer}` })).status, 403);
      });

      test("a per-resource grant allows that resource only", async () => {
        await serve();
        const viewer = await login("alice", ["viewer"]);
        const bearer = { Authorization: `Bearer ${viewer}` };
        assert.equal((await get("/api/widget-edit?id=chart-1", bearer)).status, 403);
        await store.grantResource(viewer, "widget:chart-1", ["write"]);
        assert.equal((await get("/api/widget-edit?id=chart-1", bearer)).status, 200);
        assert.equal((await get("/api/widget-edit?id=chart-2", bearer)).status, 403);
        assert.equal((await get("/api/widget-edit", bearer)).status, 403, "no resource: roles only");
      });

      test("with auth disabled there is no session and guarded routes answer 401", async () => {
        config = createAuthConfig({ enabled: false, tokenSecret: SECRET });
        const counted = counting(store);
        await serve({ store: counted.store });
        const token = await login("alice", ["admin"]);
        assert.equal((await get("/whoami", { Authorization: `Bearer ${token}` })).body.userId, null);
        assert.equal((await get("/private", { Authorization: `Bearer ${token}` })).status, 401);
        assert.deepEqual(counted.calls, []);
      });
    });

    describe("store failures", () => {
      test("answer 503 ERR_STORE on plain http, without the store's message or an unhandled rejection", async () => {
        await serve({ store: failing(store, ["getSession", "tokenRevocationStatus", "bearerLookup", "bearerLookupSync"]) });
        const answer = await get("/whoami", { Cookie: "pywry_session=s1" });
        assert.equal(answer.status, 503);
        assert.equal(answer.body.error?.code, "ERR_STORE");
        assert.ok(!answer.text.includes("/secret/path"));
        assert.equal((await get("/whoami", { Authorization: `Bearer ${mint("alice")}` })).status, 503);
        assert.equal((await get("/whoami")).status, 200, "no credential: the store is not asked");
      });

      test("a guard whose role lookup fails answers 503", async () => {
        const token = await login("alice");
        await serve({ store: failing(store, ["listRoles"]) });
        assert.equal((await get("/api/widgets", { Authorization: `Bearer ${token}` })).status, 503);
      });

      test("storeErrors: 'next' hands the error to next instead", async () => {
        const auth = createAuthMiddleware({ store: failing(store, ["getSession"]), config, storeErrors: "next" });
        const seen: unknown[] = [];
        server = await startServer((req, res) =>
          auth(req, res, (error?: unknown) => {
            seen.push(error);
            res.writeHead(599).end();
          }),
        );
        const response = await fetch(`${server.origin}/x`, { headers: { Cookie: "pywry_session=s1" } });
        assert.equal(response.status, 599);
        assert.equal(seen.length, 1);
        assert.ok(seen[0] instanceof Error);
      });
    });

    describe("WebSocket upgrade", () => {
      async function serveUpgrades(): Promise<RunningServer> {
        server = await startServer((_req, res) => res.writeHead(426).end());
        server.server.on("upgrade", async (req: IncomingMessage, socket, _head) => {
          const auth = await authenticateUpgrade(req, { store, config, now: () => clock.now });
          if (!auth.session) return rejectUpgrade(socket, auth.failure);
          const accept = webSocketAccept(String(req.headers["sec-websocket-key"]));
          socket.end(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-User: ${auth.session.userId}\r\n\r\n`,
          );
        });
        return server;
      }

      test("?session= upgrades with the session; without one the socket gets a 401", async () => {
        await serveUpgrades();
        const token = await login("alice");
        const accepted = await upgradeRequest(server!.origin, `/ws?session=${encodeURIComponent(token)}`);
        assert.equal(accepted.upgraded, true);
        assert.equal(accepted.headers["x-user"], "alice");
        const refused = await upgradeRequest(server!.origin, "/ws?session=unknown");
        assert.equal(refused.upgraded, false);
        if (!refused.upgraded) {
          assert.equal(refused.status, 401);
          assert.equal(refused.headers["www-authenticate"], "Bearer");
          assert.equal(JSON.parse(refused.body).error.code, "ERR_UNAUTHENTICATED");
        }
      });

      test("cookies and Bearer headers work on upgrades too; expired sessions do not", async () => {
        await serveUpgrades();
        const token = await login("alice");
        assert.equal((await upgradeRequest(server!.origin, "/ws", { Authorization: `Bearer ${token}` })).upgraded, true);
        assert.equal((await upgradeRequest(server!.origin, "/ws", { Cookie: `pywry_session=${token}` })).upgraded, true);
        clock.now = T0 + 3601;
        assert.equal((await upgradeRequest(server!.origin, `/ws?session=${encodeURIComponent(token)}`)).upgraded, false);
      });

      test("a revoked token whose session came back does not upgrade (stricter than pywry)", async () => {
        await serveUpgrades();
        const token = await login("alice");
        await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: null });
        await store.createSession(token, "alice", ["viewer"], 3600);
        assert.equal((await upgradeRequest(server!.origin, `/ws?session=${encodeURIComponent(token)}`)).upgraded, false);
        assert.equal((await upgradeRequest(server!.origin, "/ws", { Cookie: `pywry_session=${token}` })).upgraded, false);
      });

      test("a failing store refuses the upgrade with 503; auth disabled refuses with 401", async () => {
        const token = await login("alice");
        const real = store;
        store = failing(real, ["getSession"]);
        await serveUpgrades();
        const broken = await upgradeRequest(server!.origin, `/ws?session=${encodeURIComponent(token)}`);
        assert.equal(!broken.upgraded && broken.status, 503);
        store = real;
        config = createAuthConfig({ enabled: false, tokenSecret: SECRET });
        const disabled = await upgradeRequest(server!.origin, `/ws?session=${encodeURIComponent(token)}`);
        assert.equal(!disabled.upgraded && disabled.status, 401);
      });
    });
  });
}

/** The test app's routes, behind the middleware: guarded routes, and an echo of the session for the rest. */
function route(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const guards: Record<string, AuthRequestHandler[]> = {
    "/private": [requireAuth()],
    "/api/widgets": [requirePermission("read")],
    "/api/admin": [requirePermission("admin")],
    "/api/widget-edit": [requirePermission("write", { resource: () => (url.searchParams.has("id") ? `widget:${url.searchParams.get("id")}` : null) })],
  };
  chain(guards[url.pathname] ?? [], req, res, () => echo(req, res));
}

function chain(handlers: AuthRequestHandler[], req: IncomingMessage, res: ServerResponse, done: () => void): void {
  const step = (index: number): void => {
    const handler = handlers[index];
    if (handler) handler(req, res, () => step(index + 1));
    else done();
  };
  step(0);
}

function echo(req: IncomingMessage, res: ServerResponse): void {
  const session = sessionOf(req);
  assert.equal((req as AuthenticatedRequest).auth.session, session, "req.auth carries the same session");
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ userId: session?.userId ?? null, sessionId: session?.sessionId ?? null }));
}
