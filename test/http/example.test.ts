/**
 * examples/server.ts, as docs/http-middleware.md walks through it: in process, and started the way that page
 * starts it (environment, port), through the library's package name.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createAuthConfig, generateSessionToken, SqliteSessionStore } from "pywry-auth";
import { createExampleServer } from "../../examples/server.js";
import { projectRoot } from "../helpers/paths.js";

const SECRET = "example-secret";
const workDir = mkdtempSync(join(tmpdir(), "pywry-auth-example-"));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** What `pywry-auth token create --user <user> --roles <roles>` leaves in the store. */
async function cliToken(store: SqliteSessionStore, user: string, roles: string[]): Promise<string> {
  const token = generateSessionToken(user, SECRET, Date.now() / 1000 + 3600);
  await store.createSession(token, user, roles, 3600);
  return token;
}

describe("examples/server.ts", () => {
  const store = SqliteSessionStore.open(join(workDir, "in-process.db"));
  const server = createExampleServer({ store, config: createAuthConfig({ enabled: true, tokenSecret: SECRET }) });
  let origin = "";

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });

  test("/api/* need a session; /auth/login is public and sets the session cookie", async () => {
    assert.equal((await fetch(`${origin}/api/widgets`)).status, 401);
    const login = await fetch(`${origin}/auth/login`, { method: "POST", body: JSON.stringify({ user: "bob" }) });
    assert.equal(login.status, 200);
    const cookie = login.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^pywry_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=86400$/);
    const sent = { Cookie: cookie.split(";")[0]! };
    const widgets = await fetch(`${origin}/api/widgets`, { headers: sent });
    assert.equal(widgets.status, 200);
    assert.equal(((await widgets.json()) as { user: string }).user, "bob");
    assert.equal((await fetch(`${origin}/api/admin`, { headers: sent })).status, 403, "a demo login gives pywry's default role, viewer");
  });

  test("a bad login is a 400, not a session", async () => {
    for (const body of ["", "not json", JSON.stringify({ user: "" }), JSON.stringify({ user: "a:b" }), JSON.stringify({ user: "x".repeat(2000) })]) {
      assert.equal((await fetch(`${origin}/auth/login`, { method: "POST", body })).status, 400, body);
    }
  });

  test("tokens from the CLI work as Bearer tokens, with their roles", async () => {
    const viewer = await cliToken(store, "alice", ["viewer"]);
    const admin = await cliToken(store, "root", ["admin"]);
    const as = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await fetch(`${origin}/api/widgets`, as(viewer))).status, 200);
    assert.equal((await fetch(`${origin}/api/admin`, as(viewer))).status, 403);
    assert.equal((await fetch(`${origin}/api/admin`, as(admin))).status, 200);
    assert.equal((await fetch(`${origin}/api/nothing`, as(admin))).status, 404);
  });
});

describe("examples/server.ts started as docs/http-middleware.md starts it", () => {
  test("reads the secret and store from the environment and listens on PORT", { timeout: 10_000 }, async () => {
    const storePath = join(workDir, "main.db");
    const store = SqliteSessionStore.open(storePath);
    const token = await cliToken(store, "root", ["admin"]);
    await store.close();
    const child = spawn(process.execPath, [join(projectRoot, ".build-test", "examples", "server.js")], {
      env: { ...process.env, PYWRY_AUTH_SECRET: SECRET, PYWRY_DEPLOY__SQLITE_PATH: storePath, PORT: "0" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const origin = await new Promise<string>((resolve, reject) => {
        let output = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          output += chunk;
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.once("exit", (code) => reject(new Error(`the example exited (${code}) before listening: ${output}`)));
      });
      const response = await fetch(`${origin}/api/admin`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { user: "root", liveSessions: 1 });
    } finally {
      child.kill("SIGTERM");
    }
  });
});
