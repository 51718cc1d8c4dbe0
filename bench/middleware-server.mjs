// The server for the middleware benchmark: `node middleware-server.mjs plain|auth STORE SECRET`.
// Listens on 127.0.0.1 (a free port, printed as JSON on stdout) and answers every request with
// a small JSON body; "auth" puts createAuthMiddleware (Bearer tokens, SQLite store) in front and
// answers 401 when no session was resolved, so a broken auth path cannot pass for a fast one.
import { createServer } from "node:http";

const [mode, storePath, secret] = process.argv.slice(2);
const { SqliteSessionStore, createAuthConfig, createAuthMiddleware, sessionOf } = await import(new URL("../dist/index.js", import.meta.url).href);

const body = (user) => JSON.stringify({ ok: true, user });

let server;
if (mode === "plain") {
  server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body(null));
  });
} else {
  // An encrypted store's key comes in the environment (as PYWRY_SQLITE_KEY would), never argv.
  const key = process.env.BENCH_SQLITE_KEY;
  const store = SqliteSessionStore.open(storePath, key ? { mode: "read", key } : { mode: "read" });
  const auth = createAuthMiddleware({ store, config: createAuthConfig({ enabled: true, tokenSecret: secret }) });
  server = createServer((req, res) => {
    auth(req, res, () => {
      const session = sessionOf(req);
      res.writeHead(session ? 200 : 401, { "content-type": "application/json" });
      res.end(body(session ? session.userId : null));
    });
  });
}
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
// On SIGTERM: how much CPU the server used, per request served (for the benchmark's notes).
let served = 0;
server.on("request", () => (served += 1));
process.on("SIGTERM", () => {
  const { user, system } = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ requests: served, cpuMicroseconds: user + system })}\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
