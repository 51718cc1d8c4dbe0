/** The middleware and guards in an Express 4 app, on both stores, called with real fetch(). */
import assert from "node:assert/strict";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import express, { type ErrorRequestHandler, type Request } from "express";
import { generateSessionToken } from "../../src/auth.js";
import { createAuthConfig } from "../../src/core/config.js";
import { requireAuth, requirePermission } from "../../src/http/guards.js";
import { createAuthMiddleware, sessionOf, type AuthMiddlewareOptions, type AuthenticatedRequest } from "../../src/http/middleware.js";
import type { AuthStore } from "../../src/store/types.js";
import { SECRET, STORE_KINDS, T0, failing, startServer, watchUnhandledRejections, type Clock, type RunningServer } from "./harness.js";

const unhandled = watchUnhandledRejections();
after(() => assert.deepEqual(unhandled, [], "no unhandled rejections"));

for (const kind of STORE_KINDS) {
  describe(`${kind.name}: an Express app`, () => {
    const clock: Clock = { now: T0 };
    const config = createAuthConfig({ enabled: true, tokenSecret: SECRET });
    let store: AuthStore;
    let server: RunningServer | null = null;

    beforeEach(() => {
      clock.now = T0;
      store = kind.open(clock);
    });
    afterEach(async () => {
      await server?.close();
      server = null;
      await store.close();
    });

    async function serveApp(overrides: Partial<AuthMiddlewareOptions> = {}): Promise<string> {
      const app = express();
      app.use(createAuthMiddleware({ store, config, publicPaths: ["/auth"], now: () => clock.now, ...overrides }));
      app.post("/auth/login", (req, res) => {
        res.json({ public: true, session: sessionOf(req) });
      });
      app.get("/api/me", requireAuth(), (req, res) => {
        res.json({ userId: (req as AuthenticatedRequest<Request>).auth.session?.userId });
      });
      app.get("/api/widgets", requirePermission("read"), (req, res) => {
        res.json({ userId: sessionOf(req)?.userId, widgets: ["chart-1"] });
      });
      app.put("/api/widgets/:id", requirePermission("write", { resource: (req) => `widget:${(req as Request).params["id"]}` }), (_req, res) => {
        res.json({ saved: true });
      });
      app.get("/api/admin", requirePermission("admin"), (_req, res) => {
        res.json({ admin: true });
      });
      const onError: ErrorRequestHandler = (error, _req, res, _next) => {
        res.status(500).json({ handledBy: "express", name: (error as Error).name });
      };
      app.use(onError);
      server = await startServer(app);
      return server.origin;
    }

    async function login(user: string, roles: string[]): Promise<string> {
      const token = generateSessionToken(user, SECRET, clock.now + 3600, { now: () => clock.now });
      await store.createSession(token, user, roles, 3600);
      return token;
    }

    test("cookie, Bearer and query credentials reach the routes", async () => {
      const origin = await serveApp();
      const token = await login("alice", ["viewer"]);
      const encoded = encodeURIComponent(token);
      for (const [path, headers] of [
        ["/api/me", { Cookie: `pywry_session=${encoded}` }],
        ["/api/me", { Authorization: `Bearer ${token}` }],
        [`/api/me?session=${encoded}`, {}],
      ] as const) {
        const response = await fetch(`${origin}${path}`, { headers });
        assert.equal(response.status, 200, path);
        assert.deepEqual(await response.json(), { userId: "alice" });
      }
    });

    test("guards answer 401 and 403 with JSON errors, and let permitted requests through", async () => {
      const origin = await serveApp();
      const viewer = await login("alice", ["viewer"]);
      const anonymous = await fetch(`${origin}/api/widgets`);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
      assert.deepEqual(((await anonymous.json()) as { error: { code: string } }).error.code, "ERR_UNAUTHENTICATED");
      const bearer = { Authorization: `Bearer ${viewer}` };
      assert.deepEqual(await (await fetch(`${origin}/api/widgets`, { headers: bearer })).json(), { userId: "alice", widgets: ["chart-1"] });
      const denied = await fetch(`${origin}/api/admin`, { headers: bearer });
      assert.equal(denied.status, 403);
      assert.equal(((await denied.json()) as { error: { code: string } }).error.code, "ERR_FORBIDDEN");
    });

    test("a per-resource grant from the route's parameters", async () => {
      const origin = await serveApp();
      const viewer = await login("alice", ["viewer"]);
      await store.grantResource(viewer, "widget:chart-1", ["write"]);
      const put = (id: string) => fetch(`${origin}/api/widgets/${id}`, { method: "PUT", headers: { Authorization: `Bearer ${viewer}` } });
      assert.equal((await put("chart-1")).status, 200);
      assert.equal((await put("chart-2")).status, 403);
    });

    test("public paths get no session", async () => {
      const origin = await serveApp();
      const token = await login("alice", ["admin"]);
      const response = await fetch(`${origin}/auth/login`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
      assert.deepEqual(await response.json(), { public: true, session: null });
    });

    test("store failures go to Express's error handler through next(err)", async () => {
      const token = await login("alice", ["viewer"]);
      const real = store;
      store = failing(real, ["getSession", "tokenRevocationStatus", "bearerLookup", "bearerLookupSync"]);
      const origin = await serveApp();
      store = real;
      const response = await fetch(`${origin}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(response.status, 500);
      assert.deepEqual(await response.json(), { handledBy: "express", name: "Error" });
    });

    test("mounted under a path, public paths are matched on the full URL (originalUrl)", async () => {
      const app = express();
      const api = express.Router();
      api.use(createAuthMiddleware({ store, config, publicPaths: ["/api/public"], now: () => clock.now }));
      api.get("/*", (req, res) => {
        res.json({ userId: sessionOf(req)?.userId ?? null });
      });
      app.use("/api", api);
      server = await startServer(app);
      const token = await login("alice", ["viewer"]);
      const userAt = async (path: string) =>
        ((await (await fetch(`${server!.origin}${path}`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { userId: string | null }).userId;
      assert.equal(await userAt("/api/public/info"), null);
      assert.equal(await userAt("/api/publicity"), "alice");
      assert.equal(await userAt("/api/other"), "alice");
    });
  });
}
