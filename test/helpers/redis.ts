/**
 * A real redis-server for tests: started on a free 127.0.0.1 port with no persistence, in a
 * temporary directory, and stopped at the end. No fakes: pywry's deployments run real Redis.
 * `.ci/run` installs the Debian package redis-server when it is missing.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

const START_TIMEOUT_MS = 10_000;

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:<port>/<db> */
  url(db?: number): string;
  /** A raw client for writing and reading keys the way pywry (or an operator) would. */
  raw(db?: number): Redis;
  /** Pauses the server process (SIGSTOP): it accepts connections but answers nothing. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export function redisServerPath(): string {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error("redis-server is not installed; the Redis tests need it (Debian: apt-get install redis-server; .ci/run does this)");
  }
  return path;
}

/** Starts redis-server and resolves once it answers PING. Extra `args` go to redis-server. */
export async function startRedis(args: readonly string[] = []): Promise<RedisServer> {
  const binary = redisServerPath();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pywry-auth-redis-"));
  const child = spawn(
    binary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning", ...args],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const clients: Redis[] = [];
  try {
    await waitForPing(port, child, () => stderr);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let stopped: Promise<void> | null = null;
  return {
    port,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    raw(db = 0) {
      const client = new Redis({ host: "127.0.0.1", port, db, lazyConnect: false, maxRetriesPerRequest: 1 });
      client.on("error", () => undefined);
      clients.push(client);
      return client;
    },
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    stop() {
      stopped ??= (async () => {
        for (const client of clients) client.disconnect();
        child.kill("SIGCONT");
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPing(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr()}`);
    if (await pings(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms: ${stderr()}`);
}

/** One raw PING over TCP, so a server that is not up yet costs no client reconnect loop. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    // A server with a password answers -NOAUTH: it is up all the same.
    socket.once("data", (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** A session as pywry's RedisSessionStore.create_session writes it, command for command. */
export interface PywrySessionWrite {
  prefix: string;
  id: string;
  user: string;
  roles: string[];
  ttl: number;
  metadata?: object;
  /** Unix seconds, a float as pywry's time.time() gives (defaults to the clock). */
  now?: number;
}

/**
 * Writes a session the way pywry does: its hash (json.dumps spacing, str(float) times), the TTL
 * and the user's session set, in one MULTI.
 */
export async function writePywrySession(raw: Redis, session: PywrySessionWrite): Promise<void> {
  const { prefix, id, user, roles, ttl } = session;
  const now = session.now ?? Date.now() / 1000;
  const key = `${prefix}:session:${id}`;
  await raw
    .multi()
    .hset(key, {
      user_id: user,
      roles: JSON.stringify(roles).replace(/","/g, '", "'),
      created_at: String(now),
      expires_at: String(now + ttl),
      ttl: String(ttl),
      metadata: JSON.stringify(session.metadata ?? {}).replace(/":/g, '": ').replace(/,"/g, ', "'),
    })
    .expire(key, ttl)
    .sadd(`${prefix}:user:${user}:sessions`, id)
    .exec();
}

