/**
 * Shared pieces of the HTTP tests: real servers on 127.0.0.1 (port 0), a raw client for what
 * fetch() will not send (unnormalised paths, repeated headers, upgrades), the two stores with a
 * controllable clock, and store wrappers that count or fail calls.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type IncomingHttpHeaders, type OutgoingHttpHeaders, type RequestListener, type Server, type ServerOptions } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemorySessionStore } from "../../src/store/memory.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";
import type { AuthStore } from "../../src/store/types.js";

export const T0 = 1_800_000_000;
export const SECRET = "http-test-secret";

export interface Clock {
  now: number;
}

export interface StoreKind {
  name: string;
  open(clock: Clock): AuthStore;
}

const workDir = mkdtempSync(join(tmpdir(), "pywry-auth-http-"));
process.on("exit", () => rmSync(workDir, { recursive: true, force: true }));

export const STORE_KINDS: readonly StoreKind[] = [
  { name: "MemorySessionStore", open: (clock) => new MemorySessionStore({ now: () => clock.now }) },
  {
    name: "SqliteSessionStore",
    open: (clock) => SqliteSessionStore.open(join(workDir, `${randomBytes(6).toString("hex")}.db`), { now: () => clock.now }),
  },
];

export interface RunningServer {
  server: Server;
  /** http://127.0.0.1:<port> */
  origin: string;
  close(): Promise<void>;
}

export async function startServer(listener: RequestListener, options: ServerOptions = {}): Promise<RunningServer> {
  const server = createServer(options, listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request exactly as given: the path is not normalised and header arrays repeat the header. */
export function rawRequest(origin: string, path: string, headers: OutgoingHttpHeaders = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Options rather than a URL: the URL parser would resolve dot segments in the path.
    const req = request({ ...hostAndPort(origin), path, headers, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

export type UpgradeResult = { upgraded: true; headers: IncomingHttpHeaders } | ({ upgraded: false } & RawResponse);

/** A WebSocket opening handshake by hand (no ws package): 101 and its headers, or the refusal. */
export function upgradeRequest(origin: string, path: string, headers: OutgoingHttpHeaders = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      ...hostAndPort(origin),
      path,
      agent: false,
      timeout: 5000,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ upgraded: true, headers: res.headers });
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ upgraded: false, status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error("upgrade timed out")));
    req.on("error", reject);
    req.end();
  });
}

function hostAndPort(origin: string): { host: string; port: number } {
  const url = new URL(origin);
  return { host: url.hostname, port: Number(url.port) };
}

/** The server's half of a WebSocket opening handshake (RFC 6455 §4.2.2). */
export function webSocketAccept(key: string): string {
  return createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
}

export interface CountingStore {
  store: AuthStore;
  calls: string[];
}

/** The store, with every method call recorded by name. */
export function counting(store: AuthStore): CountingStore {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/** The store, with the named methods failing as a broken database would. */
export function failing(store: AuthStore, methods: readonly string[]): AuthStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (methods.includes(String(property))) {
        const failure = () => new Error(`SQLITE_IOERR: disk I/O error reading /secret/path/pywry.db`);
        // A synchronous method (bearerLookupSync) throws; the others reject.
        return String(property).endsWith("Sync")
          ? () => {
              throw failure();
            }
          : async () => {
              throw failure();
            };
      }
      return value.bind(target);
    },
  });
}

/** Collects unhandled rejections for the whole test file; the suites assert there were none. */
export function watchUnhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  process.on("unhandledRejection", (reason) => seen.push(reason));
  return seen;
}
