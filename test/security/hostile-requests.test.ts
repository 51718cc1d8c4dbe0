/**
 * Hostile requests against the HTTP middleware: fuzzed header shapes and values, path tricks
 * against public paths, mixed-case and look-alike schemes, duplicate headers sent byte for byte,
 * and tokens in the wrong place. The middleware must never throw, never treat a protected path as
 * public, and never resolve a session from anything but a live session id (cookie, ?session=) or
 * a verified session token (Bearer).
 *
 * test/http/ covers the documented behaviour case by case; this suite attacks it.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import express from "express";
import fc from "fast-check";
import { generateSessionToken, generateWidgetToken } from "../../src/auth.js";
import { createAuthConfig } from "../../src/core/config.js";
import { mintToken } from "../../src/core/token.js";
import { sha256Hex } from "../../src/core/handles.js";
import { credentialsOfFetchRequest, credentialsOfNodeRequest, splitTarget } from "../../src/http/credentials.js";
import { requireAuth, requirePermission } from "../../src/http/guards.js";
import { createAuthMiddleware, sessionOf } from "../../src/http/middleware.js";
import { normalisedSegments, publicPathMatcher } from "../../src/http/paths.js";
import { resolveSession } from "../../src/http/resolve.js";
import { MemorySessionStore } from "../../src/store/memory.js";
import type { AuthStore } from "../../src/store/types.js";
import { SECRET, STORE_KINDS, T0, counting, rawRequest, startServer, watchUnhandledRejections, type Clock, type RunningServer } from "../http/harness.js";
import { fcParams, replayHint } from "./common.js";

const unhandled = watchUnhandledRejections();
after(() => assert.deepEqual(unhandled, [], "no unhandled rejections"));

const config = createAuthConfig({ enabled: true, tokenSecret: SECRET });
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
const headerish = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(";", "=", "%", "2", "e", "f", "\"", " ", "\t", ",", "B", "e", "a", "r", "pywry_session", "session"), maxLength: 60 }),
);
const headerValue = fc.oneof(headerish, fc.array(headerish, { maxLength: 3 }), fc.constant(undefined), fc.anything());
const headerName = fc.constantFrom("cookie", "Cookie", "COOKIE", "authorization", "Authorization", "AUTHORIZATION", "x-other", "");

describe("parsers never throw, whatever the request holds (property)", () => {
  test("Node-shaped requests: any header names, values, arrays, rawHeaders and targets", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(
        fc.dictionary(headerName, headerValue),
        fc.option(fc.array(fc.oneof(headerName, headerish), { maxLength: 8 })),
        fc.oneof(headerish, fc.constant(undefined)),
        fc.oneof(headerish, fc.constant(undefined)),
        (headers, rawHeaders, url, originalUrl) => {
          const req = { headers, rawHeaders: rawHeaders ?? undefined, url, originalUrl } as never;
          const credentials = credentialsOfNodeRequest(req, config);
          for (const value of Object.values(credentials)) assert.ok(value === null || (typeof value === "string" && value.length > 0));
          publicPathMatcher(["/auth", "/status"])(typeof url === "string" ? url : "");
        },
      ),
      fcParams(500),
    );
  });

  test("Fetch-shaped requests, and the path functions", (t) => {
    t.diagnostic(replayHint());
    fc.assert(
      fc.property(headerish, headerish, headerish, (cookie, authorization, url) => {
        const request = { url, headers: { get: (name: string) => (name.toLowerCase() === "cookie" ? cookie : authorization) } };
        credentialsOfFetchRequest(request, config);
        splitTarget(url);
        normalisedSegments(url);
        normalisedSegments(`/${url}`);
      }),
      fcParams(500),
    );
  });

  test("resolveSession never rejects and finds no session in junk", async (t) => {
    t.diagnostic(replayHint());
    const store = new MemorySessionStore({ now: () => T0 });
    await store.createSession("live-session-id", "alice", ["admin"], 3600);
    await fc.assert(
      fc.asyncProperty(fc.dictionary(headerName, headerValue), fc.oneof(headerish, fc.constant(undefined)), async (headers, url) => {
        const session = await resolveSession({ headers, url } as never, { store, config, now: () => T0 });
        assert.equal(session, null);
      }),
      fcParams(300),
    );
  });
});

/**
 * How a request path may be read by whatever routes it after the middleware: Node's raw target
 * (http, Connect and Express route on it, Express case-insensitively), the WHATWG URL parser
 * (Fetch-based frameworks: dot segments resolved, `\` read as `/`), and servers that decode the
 * whole path before normalising it.
 */
function interpretations(target: string): string[][] {
  const path = splitTarget(target).path ?? "";
  const readings: string[][] = [path.split("/").filter(Boolean)];
  const viaUrl = (text: string): string[] | null => {
    try {
      return new URL(text, "http://h").pathname.split("/").filter(Boolean).map((segment) => {
        try {
          return decodeURIComponent(segment);
        } catch {
          return segment;
        }
      });
    } catch {
      return null;
    }
  };
  for (const text of [path, path.replaceAll("\\", "/")]) {
    const reading = viaUrl(text);
    if (reading) readings.push(reading);
  }
  try {
    const decoded = viaUrl(decodeURIComponent(path));
    if (decoded) readings.push(decoded);
  } catch {
    // A server that decodes first would refuse this path.
  }
  return readings;
}

const segment = fc.constantFrom(
  "auth", "AUTH", "Auth", "authx", "login", "admin", "api", "API", "..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2e", "%2f", "%2F", "%5c",
  "\\", "..\\admin", "%2e%2e%2fadmin", "..%2fadmin", "auth%2f..%2fadmin", "%61dmin", "%41PI", "%", "%zz", "%00", ";", "..;", "auth;x", "",
);
const fuzzedPath = fc
  .tuple(
    fc.array(segment, { minLength: 1, maxLength: 6 }),
    fc.constantFrom("/", "//"),
    fc.constantFrom("", "?next=/admin", "?session=x", "#frag", "?a=1#b"),
    fc.constantFrom("", "http://example.com", "HTTP://h:80"),
  )
  .map(([segments, separator, tail, origin]) => `${origin}/${segments.join(separator)}${tail}`);

describe("path tricks against public paths (property)", () => {
  test("public means 'no session', so a path that is public but routes to a protected handler fails closed", (t) => {
    t.diagnostic(replayHint());
    const isPublic = publicPathMatcher(["/auth", "/status/"]);
    let confusable = 0;
    fc.assert(
      fc.property(fuzzedPath, (path) => {
        if (!isPublic(path)) return;
        // The middleware's own reading: whole segments of the normalised path start with a prefix.
        const segments = normalisedSegments(splitTarget(path).path ?? "");
        assert.ok(segments && (segments[0] === "auth" || segments[0] === "status"), `${JSON.stringify(path)} is public but normalises to ${JSON.stringify(segments)}`);
        // Other readings may differ ("/api/../auth" routes to /api in Express): such a request
        // gets no session, and the guards refuse it (the Express property below checks that).
        if (interpretations(path).some((reading) => ["admin", "api"].includes((reading[0] ?? "").toLowerCase()))) confusable += 1;
      }),
      fcParams(3000),
    );
    t.diagnostic(`${confusable} public paths that another reading routes to a protected prefix (all fail closed)`);
  });
});

/** Sends one request exactly as written (no normalisation of the path). */
function rawGet(origin: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return rawRequest(origin, path, headers).then((answer) => ({ status: answer.status, body: answer.body }));
}

describe("an Express app under fuzzed paths (property)", () => {
  const clock: Clock = { now: T0 };
  let store: AuthStore;
  let server: RunningServer;
  let viewer: string;

  beforeEach(async () => {
    store = new MemorySessionStore({ now: () => clock.now });
    viewer = generateSessionToken("vera", SECRET, T0 + 3600, { now: () => T0 });
    await store.createSession(viewer, "vera", ["viewer"], 3600);
    const app = express();
    app.use(createAuthMiddleware({ store, config, publicPaths: ["/auth"], now: () => clock.now }));
    app.use("/auth", (_req, res) => void res.json({ handler: "public" }));
    const api = express.Router();
    api.get("/admin", requirePermission("admin"), (_req, res) => void res.json({ handler: "admin" }));
    api.use(requireAuth(), (_req, res) => void res.json({ handler: "api" }));
    app.use("/api", api);
    app.use(/^\/admin/i, requirePermission("admin"), (_req, res) => void res.json({ handler: "admin" }));
    app.use((_req, res) => void res.status(404).json({ handler: "none" }));
    server = await startServer(app);
  });
  afterEach(async () => {
    await server.close();
    await store.close();
  });

  test("without credentials, only the public handler ever answers; a viewer never reaches the admin handler", async (t) => {
    t.diagnostic(replayHint());
    await fc.assert(
      fc.asyncProperty(fuzzedPath.filter((path) => path.startsWith("/")), async (path) => {
        const anonymous = await rawGet(server.origin, path, {});
        if (anonymous.status === 200) assert.match(anonymous.body, /"public"/, `${JSON.stringify(path)} reached a guarded handler without credentials`);
        const asViewer = await rawGet(server.origin, path, { Cookie: `pywry_session=${encodeURIComponent(viewer)}` });
        if (asViewer.status === 200) assert.doesNotMatch(asViewer.body, /"admin"/, `${JSON.stringify(path)} let a viewer into the admin handler`);
      }),
      fcParams(150),
    );
  });
});

/** Sends raw bytes and returns the raw answer (for what no HTTP client will send). */
function rawExchange(origin: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = "";
    socket.setEncoding("utf8");
    socket.setTimeout(5000, () => socket.destroy(new Error("raw request timed out")));
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    socket.write(bytes);
  });
}

function bodyOf(answer: string): { userId: string | null } {
  const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  return JSON.parse(body) as { userId: string | null };
}

for (const kind of STORE_KINDS) {
  describe(`${kind.name}: hostile requests on a real server`, () => {
    const clock: Clock = { now: T0 };
    let store: AuthStore;
    let server: RunningServer;

    beforeEach(async () => {
      clock.now = T0;
      store = kind.open(clock);
      const auth = createAuthMiddleware({ store, config, publicPaths: ["/auth"], now: () => clock.now });
      server = await startServer(
        (req: IncomingMessage, res: ServerResponse) =>
          auth(req, res, () => {
            const body = JSON.stringify({ userId: sessionOf(req)?.userId ?? null });
            res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), Connection: "close" });
            res.end(body);
          }),
        { maxHeaderSize: 256 * 1024 },
      );
    });
    afterEach(async () => {
      await server.close();
      await store.close();
    });

    const mint = (user: string) => generateSessionToken(user, SECRET, clock.now + 3600, { now: () => clock.now });
    const whoami = async (path: string, headers: Record<string, string | string[]> = {}) =>
      (JSON.parse((await rawRequest(server.origin, path, headers)).body) as { userId: string | null }).userId;

    test("tokens and session ids in the wrong place give no session", async () => {
      const token = mint("alice");
      await store.createSession(token, "alice", ["admin"], 3600);
      await store.createSession("plain-session-id", "alice", ["admin"], 3600);
      // The right places, as controls.
      assert.equal(await whoami("/", { Authorization: `Bearer ${token}` }), "alice");
      assert.equal(await whoami("/", { Cookie: `pywry_session=${token}` }), "alice");
      assert.equal(await whoami(`/?session=${encodeURIComponent(token)}`), "alice");
      // The wrong ones.
      for (const [path, headers] of [
        [`/?token=${encodeURIComponent(token)}`, {}],
        [`/?access_token=${encodeURIComponent(token)}`, {}],
        [`/${encodeURIComponent(token)}`, {}],
        ["/", { "X-Auth-Token": token }],
        ["/", { "X-Pywry-Session": token }],
        ["/", { Authorization: token }],
        ["/", { Authorization: `Basic ${Buffer.from(`alice:${token}`).toString("base64")}` }],
        ["/", { Authorization: `Token ${token}` }],
        ["/", { Cookie: `session=${token}` }],
        ["/", { Cookie: `PYWRY_SESSION=${token}` }],
        ["/", { Cookie: `pywry_session =${token}x` }],
        ["/", { Authorization: "Bearer plain-session-id" }],
        ["/", { "Proxy-Authorization": `Bearer ${token}` }],
      ] as Array<[string, Record<string, string>]>) {
        assert.equal(await whoami(path, headers), null, `${path} ${JSON.stringify(Object.keys(headers))}`);
      }
    });

    test("a valid token as a cookie counts only when it is itself a session id, never via the user's other sessions", async () => {
      await store.createSession("alice-other-session", "alice", ["admin"], 3600);
      const token = mint("alice");
      assert.equal(await whoami("/", { Cookie: `pywry_session=${token}` }), null);
      assert.equal(await whoami(`/?session=${encodeURIComponent(token)}`), null);
      assert.equal(await whoami("/", { Authorization: `Bearer ${token}` }), "alice", "as a Bearer token it does resolve");
    });

    test("a recorded widget token is not a Bearer token, even for a user with the widget's id (stricter than pywry)", async () => {
      await store.createSession("alice-session", "alice", ["admin"], 3600);
      const widget = generateWidgetToken("alice", SECRET, 300, { now: () => clock.now });
      // Before it is recorded, nothing can tell it from a session token for "alice" (pywry's format).
      assert.equal(await whoami("/", { Authorization: `Bearer ${widget}` }), "alice");
      await store.recordIssuedToken({
        accessor: sha256Hex(widget).slice(0, 16),
        tokenHash: sha256Hex(widget),
        kind: "widget",
        subject: "alice",
        issuedAt: clock.now,
        expiresAt: clock.now + 300,
        label: null,
        roles: null,
        createdAt: clock.now,
        revokedAt: null,
      });
      assert.equal(await whoami("/", { Authorization: `Bearer ${widget}` }), null);
      // A session token recorded as such still works.
      const session = mintToken({ subject: "alice", secret: SECRET, now: clock.now - 1, expiresAt: clock.now + 600 }).token;
      await store.recordIssuedToken({
        accessor: sha256Hex(session).slice(0, 16),
        tokenHash: sha256Hex(session),
        kind: "session",
        subject: "alice",
        issuedAt: clock.now - 1,
        expiresAt: clock.now + 600,
        label: null,
        roles: ["admin"],
        createdAt: clock.now,
        revokedAt: null,
      });
      assert.equal(await whoami("/", { Authorization: `Bearer ${session}` }), "alice");
    });

    test("mixed-case, look-alike and malformed schemes", async () => {
      const token = mint("bob");
      await store.createSession(token, "bob", ["viewer"], 3600);
      for (const value of [`bEaReR ${token}`, `BEARER ${token}`, `Bearer\t${token}`, `  Bearer   ${token}  `]) {
        assert.equal(await whoami("/", { Authorization: value }), "bob", JSON.stringify(value));
      }
      // Cyrillic look-alikes, as UTF-8 bytes (Node reads header bytes as Latin-1).
      const lookAlike = await rawExchange(server.origin, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: \u0412\u0435\u0430rer ${token}\r\n\r\n`);
      assert.equal(bodyOf(lookAlike).userId, null);
      for (const value of [
        `Bearer:${token}`,
        `Bearer,${token}`,
        `Bearer${token}`,
        `Bearer ${token} extra`,
        `Bearer "${token}"`,
        `Bearer ${token.toUpperCase()}`,
        `Bearer ${encodeURIComponent(token)}`,
        `Bearer ${token}, Bearer ${token}`,
        "Bearer",
        "Bearer ",
      ]) {
        assert.equal(await whoami("/", { Authorization: value }), null, JSON.stringify(value));
      }
    });

    test("duplicate and case-varied headers, byte for byte: ambiguous auth headers give no session", async () => {
      const bob = mint("bob");
      await store.createSession(bob, "bob", ["viewer"], 3600);
      await store.createSession("cookie-sess", "carol", ["viewer"], 3600);
      const request = (headers: string[]) => rawExchange(server.origin, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers.join("\r\n")}\r\n\r\n`);
      assert.equal(bodyOf(await request([`Authorization: Bearer ${bob}`])).userId, "bob", "control");
      assert.equal(bodyOf(await request([`Authorization: Bearer ${bob}`, `authorization: Bearer ${bob}`])).userId, null);
      assert.equal(bodyOf(await request([`AUTHORIZATION: Bearer ${bob}`, "Authorization: Bearer junk"])).userId, null);
      assert.equal(bodyOf(await request(["authorization: Bearer junk", `Authorization: Bearer ${bob}`])).userId, null);
      // Repeated Cookie headers are joined (Node does); the first occurrence of the name wins.
      assert.equal(bodyOf(await request(["Cookie: pywry_session=cookie-sess", "cookie: pywry_session=other"])).userId, "carol");
      assert.equal(bodyOf(await request(["Cookie: a=1", "Cookie: pywry_session=cookie-sess"])).userId, "carol");
    });

    test("malformed requests are refused by Node or give no session; the server keeps answering", async () => {
      const token = mint("dave");
      await store.createSession(token, "dave", ["viewer"], 3600);
      const send = (bytes: string) => rawExchange(server.origin, bytes);
      const hostile = [
        `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n ${token}\r\nConnection: close\r\n\r\n`, // obs-fold
        `GET / HTTP/1.1\r\nHost: x\r\nCookie: pywry_session=a\u0000b\r\nConnection: close\r\n\r\n`,
        `GET /auth/../ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        `GET http://evil.example/auth/../x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        `GET /%E0%A4%A HTTP/1.1\r\nHost: x\r\nCookie: pywry_session=%E0%A4%A\r\nConnection: close\r\n\r\n`,
        `GET /?session=%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        `GET / HTTP/1.1\r\nHost: x\r\nCookie: ${"a=b; ".repeat(1500)}pywry_session=nope\r\nConnection: close\r\n\r\n`,
        `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${"A".repeat(200 * 1024)}\r\nConnection: close\r\n\r\n`,
      ];
      const started = Date.now();
      for (const bytes of hostile) {
        const answer = await send(bytes);
        const status = Number(answer.slice(9, 12));
        assert.ok(status === 400 || status === 431 || (status === 200 && bodyOf(answer).userId !== "nobody"), `answer ${answer.slice(0, 80)}`);
        if (status === 200 && !bytes.includes("/auth/../ ") && !bytes.includes("evil.example")) assert.equal(bodyOf(answer).userId, null, bytes.slice(0, 60));
      }
      // The dot segments resolve to "/", which is not public: the token counts there.
      assert.equal(bodyOf(await send(hostile[2]!)).userId, "dave");
      assert.ok(Date.now() - started < 5000);
      assert.equal(await whoami("/", { Authorization: `Bearer ${token}` }), "dave", "the server still answers");
    });

    test("a cookie made of thousands of pairs, or thousands of query parameters, is cheap and asks the store little", async () => {
      const counted = counting(store);
      const auth = createAuthMiddleware({ store: counted.store, config, now: () => clock.now });
      const cookie = `${Array.from({ length: 1000 }, (_, i) => `c${i}=v`).join("; ")}; pywry_session=missing`.slice(0, 8000);
      const query = Array.from({ length: 800 }, (_, i) => `p${i}=v`).join("&");
      const started = process.hrtime.bigint();
      for (let i = 0; i < 50; i += 1) {
        await new Promise<void>((resolve) => auth({ headers: { cookie }, url: `/?${query}` } as never, {} as never, () => resolve()));
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(ms < 1000, `50 requests took ${ms.toFixed(0)} ms`);
      assert.ok(counted.calls.length <= 50, `the store was asked ${counted.calls.length} times`);
    });
  });
}
