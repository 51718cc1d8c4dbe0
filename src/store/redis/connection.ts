/**
 * Connecting to Redis and failing well: the driver configured for a command-line tool (no
 * reconnecting, no offline queue, fail within the timeouts) or a server, the database checked,
 * and the driver's errors turned into readable one-liners that never carry the password.
 */
import { Redis, type RedisOptions } from "ioredis";
import { StoreError } from "../../core/errors.js";
import { parseRedisUrl, type RedisTarget } from "./url.js";

export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export interface ConnectOptions {
  /** Give up connecting after this long (default 2000 ms). */
  connectTimeoutMs?: number;
  /** Give up on a command after this long (default 10000 ms). */
  commandTimeoutMs?: number;
  /**
   * Reconnect and retry after a lost connection (for servers). Off by default: a command-line
   * tool should fail at once with a clear error, not wait for a server that is gone.
   */
  reconnect?: boolean;
}

/**
 * A connected client on the URL's database, failing with ERR_STORE within the connect timeout
 * when the server cannot be reached; and the URL as it may be shown (password redacted).
 */
export async function openClient(url: string, options: ConnectOptions): Promise<{ client: Redis; shown: string }> {
  const target = parseRedisUrl(url);
  const connectTimeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    connectTimeout,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: options.reconnect ? 20 : 0,
    retryStrategy: options.reconnect ? (attempt) => Math.min(attempt * 200, 2000) : () => null,
    enableOfflineQueue: Boolean(options.reconnect),
    connectionName: "pywry-auth",
    // On disconnect the driver waits this long for a half-closed socket before destroying it
    // (default 2 s), which would keep a failed command-line run alive for nothing.
    ...({ disconnectTimeout: 100 } as Partial<RedisOptions>),
  };
  const client = new Redis(target.url, redisOptions);
  const seen: { error: Error | null } = { error: null };
  // Without a listener, the driver prints every connection error itself.
  client.on("error", (error: Error) => (seen.error = error));
  try {
    // One deadline for the whole handshake: a server that accepts the connection but answers
    // nothing (stopped, overloaded) must not hold a command for the command timeout.
    await withDeadline(
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      connectTimeout + 1000,
      "timed out",
    );
  } catch (error) {
    hardDisconnect(client);
    const reason = describeRedisError(seen.error ?? (error as Error));
    throw new StoreError(`cannot connect to Redis at ${target.shown}: ${reason}`, { cause: sanitise(error) });
  }
  await selectDatabase(client, target, connectTimeout + 1000);
  return { client, shown: target.shown };
}

/**
 * Selects the URL's database, failing when the server has no such database: the driver's own
 * SELECT on connect only reports an error event and leaves the connection on database 0, where a
 * store would silently read and write another application's keys.
 */
async function selectDatabase(client: Redis, target: RedisTarget, deadlineMs: number): Promise<void> {
  try {
    await withDeadline(client.select(target.db), deadlineMs, "timed out");
  } catch (error) {
    const reason = describeRedisError(error as Error);
    if (!/DB index is out of range|invalid DB index/i.test(reason)) {
      hardDisconnect(client);
      throw new StoreError(`cannot select database ${target.db} on Redis at ${target.shown}: ${reason}`, { cause: sanitise(error) });
    }
    const count = await databaseCount(client);
    hardDisconnect(client);
    const has = count === null ? "" : ` (it has ${count}: 0 to ${count - 1})`;
    throw new StoreError(`Redis at ${target.shown} has no database ${target.db}${has}: check the number after the port in the URL`, {
      cause: sanitise(error),
    });
  }
}

/** The server's `databases` setting, or null when CONFIG is not allowed (managed services). */
async function databaseCount(client: Redis): Promise<number | null> {
  try {
    const reply = (await withDeadline(client.config("GET", "databases"), 1000, "timed out")) as unknown;
    const value = Array.isArray(reply) ? Number(reply[1]) : Number.NaN;
    return Number.isInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

/** The driver's message, made readable; it never includes the password (the URL is not in it). */
export function describeRedisError(error: Error | null | undefined): string {
  const message = error?.message ?? String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ECONNREFUSED") return "connection refused (is redis-server running there?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "unknown host";
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(message)) return "timed out";
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) return "authentication failed (check the user and password in the URL)";
  if (/Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(message)) return "the connection was lost (is the server still running?)";
  return message.replace(/\s+/g, " ").trim();
}

/** Errors kept as a cause must not drag the driver's options (and so the password) along. */
export function sanitise(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  return copy;
}

export function describeClient(client: Redis): string {
  const options = client.options;
  return `redis://${options.host ?? "localhost"}:${options.port ?? 6379}/${options.db ?? 0}`;
}

/** Disconnects unless the connection already ended (which would only arm the driver's timer). */
export function hardDisconnect(client: Redis): void {
  if (client.status !== "end") client.disconnect();
}

export function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** INFO's reply as fields. */
export function parseInfo(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) values[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return values;
}
