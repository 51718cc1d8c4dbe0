/**
 * A small Node server guarded by pywry-auth, sharing the CLI's secret and store (and so a pywry
 * app's, when they point at the same ones):
 *
 *   POST /auth/login   public; a demo login that mints a session as pywry's OAuth callback does
 *   GET  /api/widgets  needs the `read` permission
 *   GET  /api/admin    needs the `admin` permission
 *
 * Run it with the command in the README, section "HTTP middleware".
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  DEFAULT_ROLES,
  SqliteSessionStore,
  createAuthConfig,
  createAuthMiddleware,
  generateSessionToken,
  isPywryAuthError,
  requirePermission,
  sessionOf,
  type AuthConfig,
  type AuthRequestHandler,
  type AuthStore,
} from "pywry-auth";

export interface ExampleOptions {
  store: AuthStore;
  config: AuthConfig;
  /** Secrets Bearer tokens may be signed with, current first (default: config.tokenSecret). */
  secrets?: string[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const WIDGETS = [
  { id: "chart-1", title: "Revenue" },
  { id: "grid-1", title: "Orders" },
];

export function createExampleServer({ store, config, secrets }: ExampleOptions): Server {
  const auth = createAuthMiddleware({ store, config, publicPaths: ["/auth"], ...(secrets ? { secrets } : {}) });
  const routes: Record<string, Handler> = {
    "POST /auth/login": (req, res) => void login(req, res, store, config).catch((error: unknown) => failed(res, error)),
    "GET /api/widgets": guarded(requirePermission("read"), (req, res) => send(res, 200, { user: sessionOf(req)?.userId, widgets: WIDGETS })),
    "GET /api/admin": guarded(requirePermission("admin"), (req, res) => {
      store.listSessions().then(
        (sessions) => send(res, 200, { user: sessionOf(req)?.userId, liveSessions: sessions.length }),
        (error: unknown) => failed(res, error),
      );
    }),
  };
  return createServer((req, res) => {
    // With plain http, `next` takes no argument: a store failure is answered 503 by the middleware.
    auth(req, res, () => {
      const route = routes[`${req.method} ${(req.url ?? "/").split("?")[0]}`];
      if (route) route(req, res);
      else send(res, 404, { error: { code: "ERR_NOT_FOUND", message: "no such route" } });
    });
  });
}

/**
 * A demo login: it trusts whoever asks, so put your identity provider here. What it does after
 * that is what pywry's OAuth callback does: a token for the user, and a session whose id is the
 * token, with pywry's default roles (viewer).
 */
async function login(req: IncomingMessage, res: ServerResponse, store: AuthStore, config: AuthConfig): Promise<void> {
  const body = await readJson(req, 1024);
  const user = body && typeof body === "object" && "user" in body && typeof body.user === "string" ? body.user : "";
  const expiresAt = Math.trunc(Date.now() / 1000) + config.sessionTtl;
  let token: string;
  try {
    token = generateSessionToken(user, config.tokenSecret, expiresAt);
  } catch (error) {
    if (!isPywryAuthError(error)) throw error;
    return send(res, 400, { error: { code: error.code, message: `send {"user": "<id>"}: ${error.message}` } });
  }
  const session = await store.createSession(token, user, [...DEFAULT_ROLES], config.sessionTtl);
  // Add `Secure` when the server is reached over HTTPS.
  res.setHeader("Set-Cookie", `${config.sessionCookie}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${config.sessionTtl}`);
  send(res, 200, { user, roles: session.roles, expiresAt });
}

function guarded(guard: AuthRequestHandler, handler: Handler): Handler {
  return (req, res) => guard(req, res, () => handler(req, res));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function failed(res: ServerResponse, error: unknown): void {
  console.error(error);
  if (!res.headersSent) send(res, 500, { error: { code: "ERR_INTERNAL", message: "internal error" } });
}

/** The request body as JSON; null when it is not JSON or is longer than `limit` bytes. */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolveBody(size <= limit ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : null);
      } catch {
        resolveBody(null);
      }
    });
    req.on("error", reject);
  });
}

/** The CLI's secret: PYWRY_AUTH_SECRET, else its default file; previous ones from PYWRY_AUTH_PREVIOUS_SECRETS. */
function secretsFromEnvironment(env: NodeJS.ProcessEnv): string[] {
  const configDir = env["XDG_CONFIG_HOME"] || join(homedir(), ".config");
  let current = env["PYWRY_AUTH_SECRET"];
  if (current === undefined) {
    const path = join(configDir, "pywry-auth", "secret");
    try {
      current = readFileSync(path, "utf8").replace(/[\r\n]+$/, "");
    } catch {
      throw new Error(`no secret: set PYWRY_AUTH_SECRET, or create ${path} with: npx pywry-auth secret generate --out ${path}`);
    }
  }
  const previous = (env["PYWRY_AUTH_PREVIOUS_SECRETS"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return [current, ...previous];
}

function main(): void {
  const env = process.env;
  const secrets = secretsFromEnvironment(env);
  const storePath = env["PYWRY_DEPLOY__SQLITE_PATH"] || join(homedir(), ".config", "pywry", "pywry.db");
  const store = SqliteSessionStore.open(storePath);
  const config = createAuthConfig({ enabled: true, tokenSecret: secrets[0] });
  const server = createExampleServer({ store, config, secrets });
  server.listen(Number(env["PORT"] ?? 8080), "127.0.0.1", () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : env["PORT"];
    console.log(`listening on http://127.0.0.1:${port} (store ${storePath})`);
  });
  const stop = () => server.close(() => void store.close());
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
