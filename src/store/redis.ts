/**
 * RedisSessionStore: pywry's Redis key layout, so a multi-worker pywry deployment and pywry-auth
 * share one Redis. Loaded only when a redis:// store is used (it is the only module that imports
 * the Redis driver): import it from "pywry-auth/redis".
 *
 * pywry's keys ({prefix} is "pywry" unless configured), written exactly as pywry writes them:
 *   {prefix}:session:{session_id}      hash of strings: user_id, roles (JSON), created_at and
 *                                      expires_at (Python float text), ttl (int text), metadata
 *                                      (JSON); EXPIRE = ttl
 *   {prefix}:user:{user_id}:sessions   set of session ids
 *   {prefix}:role_permissions          hash role -> JSON list (pywry never seeds it)
 * pywry-auth's own keys, all under {prefix}:auth:
 *   token:{accessor}                   registry entry (hash), never the token itself
 *   tokens                             sorted set of accessors by creation time
 *   user:{subject}:tokens              set of the subject's accessors (for revoke --user)
 *   revoked:{token_hash}               revocation (hash), EXPIRE at the token's expiry + grace
 *   cutoff:{user_id}                   user-wide revocation cut-off (hash)
 *   audit                              the audit log, a stream (XADD MAXLEN ~)
 *   audit:seq                          the audit entries' numbers
 *   meta                               schema_version
 *
 * Time: every expiry decision uses the store's clock (`now`), as the other stores do; EXPIRE is
 * only the safety net that makes Redis drop what has expired, set relative to that clock (the
 * seconds still to live), so an injected clock and Redis's clock never have to agree.
 *
 * Atomicity: each change reads under WATCH and writes in one MULTI/EXEC together with its audit
 * entry (a small Lua script inside the same MULTI numbers it and appends it), and is retried when
 * another client changed a watched key in between. A session and its user-set entry are written
 * together or not at all.
 */
import { userInfo } from "node:os";
import { Redis, type ChainableCommander, type RedisOptions } from "ioredis";
import { PywryAuthError, StoreError } from "../core/errors.js";
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../core/handles.js";
import { pythonJson, readMetadata } from "../core/pyjson.js";
import { DEFAULT_ROLES } from "../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../core/session.js";
import { AuthStoreBase, sessionIdTaken, type MetadataChange } from "./base.js";
import { invalidCursor, pageSizeOf, parseTimeHandleCursor, timeHandleCursor } from "./paging.js";
import { endsWithin, scanPosition } from "./redis-scan.js";
import { parseRedisUrl, type RedisTarget } from "./redis-url.js";
import { changedAnything, emptyExisting, importAuditDetail, planImport, sessionBars } from "./transfer.js";
import {
  AuditEntry,
  AuditFilter,
  HealthFinding,
  ImportOptions,
  ListPage,
  NewSession,
  PageOptions,
  Revocation,
  RevocationCause,
  RevokeResult,
  RoleEdit,
  RoleUpdate,
  SessionFilter,
  StoreTransfer,
  TokenFilter,
  TokenRecord,
  TransferCounts,
  UserCutoff,
  UserRevocation,
  matchesTokenFilter,
} from "./types.js";

export { redactUrl, parseRedisUrl, isRedisUrl } from "./redis-url.js";

export interface RedisStoreOptions {
  /** Key prefix, pywry's `PYWRY_DEPLOY__REDIS_PREFIX` (default "pywry"). */
  prefix?: string;
  /** "read" never writes anything; "write" (default) may. */
  mode?: "read" | "write";
  /** The clock, in Unix seconds. */
  now?: () => number;
  /** Who the audit log says made the changes (default: the OS user). */
  actor?: string;
  /** Give up connecting after this long (default 2000 ms). */
  connectTimeoutMs?: number;
  /** Give up on a command after this long (default 10000 ms). */
  commandTimeoutMs?: number;
  /**
   * Reconnect and retry after a lost connection (for servers). Off by default: a command-line
   * tool should fail at once with a clear error, not wait for a server that is gone.
   */
  reconnect?: boolean;
  /** The audit stream keeps about this many entries (XADD MAXLEN ~; default 100000). */
  auditMaxLength?: number;
}

/** The pywry-auth key layout version, kept in {prefix}:auth:meta. */
export const REDIS_SCHEMA_VERSION = 1;
const DEFAULT_PREFIX = "pywry";
const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const DEFAULT_AUDIT_MAX_LENGTH = 100_000;
/**
 * A revocation outlives its token by this much, so a worker whose clock is a little behind still
 * sees it while it could still accept the token.
 */
export const REVOCATION_GRACE_SECONDS = 3600;
const MAX_ATTEMPTS = 50;
const SCAN_COUNT = 500;

/** Numbers the entry and appends it to the stream; runs inside the change's MULTI. */
const AUDIT_SCRIPT = `
local id = redis.call('INCR', KEYS[1])
local args = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'id', tostring(id)}
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
return redis.call(unpack(args))
`;

/** HGETALL of every key given; a key that is not a hash gives an empty list. Reads only. */
const HGETALL_MANY_SCRIPT = `#!lua flags=no-writes
local out = {}
for i, key in ipairs(KEYS) do
  local reply = redis.pcall('HGETALL', key)
  if type(reply) == 'table' and reply.err == nil then out[i] = reply else out[i] = {} end
end
return out
`;

type Hash = Record<string, string>;

interface AuditSpec {
  action: string;
  subject: string | null;
  target: string | null;
  detail: Record<string, unknown>;
}

/** One attempt at a change: reads under WATCH, then queued writes and audit entries. */
class Change {
  readonly writes: Array<(multi: ChainableCommander) => void> = [];
  readonly audits: AuditSpec[] = [];
  constructor(private readonly client: Redis) {}

  /** Watch keys before reading them: if anyone changes one before EXEC, the change starts over. */
  async watch(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.client.watch(...keys);
  }

  write(step: (multi: ChainableCommander) => void): void {
    this.writes.push(step);
  }

  audit(action: string, subject: string | null, target: string | null, detail: Record<string, unknown>): void {
    this.audits.push({ action, subject, target, detail });
  }
}

export class RedisSessionStore extends AuthStoreBase {
  readonly prefix: string;
  /** The server, with any password redacted: the only form used in messages. */
  readonly location: string;
  private readonly client: Redis;
  private readonly now: () => number;
  private readonly writable: boolean;
  private readonly actor: string | null;
  private readonly auditMaxLength: number;
  /** Changes from this process run one at a time: WATCH belongs to the connection. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Whether the server refused a read-only script once (see hgetallInOneScript). */
  private scriptsRefused = false;
  /**
   * Whether a timed-out command ends the connection (stores made by connect() without
   * `reconnect`, as the CLI's are). A server that stopped answering would otherwise make every
   * later command (UNWATCH after a failed change, the next lookup, QUIT) wait the whole command
   * timeout again, turning one failure into half a minute.
   */
  private failFast = false;

  private constructor(client: Redis, location: string, options: RedisStoreOptions) {
    super();
    this.client = client;
    this.location = location;
    this.prefix = options.prefix || DEFAULT_PREFIX;
    this.now = options.now ?? (() => Date.now() / 1000);
    this.writable = options.mode !== "read";
    this.actor = options.actor ?? osUser();
    this.auditMaxLength = Math.max(1, Math.trunc(options.auditMaxLength ?? DEFAULT_AUDIT_MAX_LENGTH));
  }

  /**
   * Connects to `url` (redis://[user:pass@]host:port/db or rediss://), failing with ERR_STORE
   * within the connect timeout when the server cannot be reached. The password never appears in
   * an error.
   */
  static async connect(url: string, options: RedisStoreOptions = {}): Promise<RedisSessionStore> {
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
    const store = new RedisSessionStore(client, target.shown, options);
    store.failFast = !options.reconnect;
    await store.checkSchema();
    return store;
  }

  /**
   * Wraps a client the caller made and owns the configuration of (a server with its own retry
   * policy, say). `close()` still closes it.
   */
  static async fromClient(client: Redis, options: RedisStoreOptions = {}): Promise<RedisSessionStore> {
    const store = new RedisSessionStore(client, describeClient(client), options);
    await store.checkSchema();
    return store;
  }

  // ---- pywry's SessionStore --------------------------------------------------------------

  async createSession(
    sessionId: string,
    userId: string,
    roles?: string[] | null,
    ttl?: number | null,
    metadata?: Record<string, unknown> | null,
  ): Promise<UserSession> {
    return this.change(async (change) => {
      const session = await this.planSession(change, { sessionId, userId, roles: roles ?? undefined, ttl, metadata: metadata ?? undefined });
      change.audit("session.create", session.userId, handleFor(sessionId), { roles: session.roles, expires_at: session.expiresAt });
      return session;
    });
  }

  async getSession(sessionId: string): Promise<UserSession | null> {
    return this.read(async () => {
      const session = await this.readSession(sessionId);
      return session && isSessionLive(session, this.now()) ? session : null;
    });
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    return this.change(async (change) => {
      await change.watch(this.sessionKey(sessionId));
      const session = await this.readSession(sessionId);
      if (!session) return false;
      change.write((multi) => multi.del(this.sessionKey(sessionId)).srem(this.userSessionsKey(session.userId), sessionId));
      change.audit("session.delete", session.userId, handleFor(sessionId), {});
      return true;
    });
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    return this.change(async (change) => {
      const key = this.sessionKey(sessionId);
      await change.watch(key);
      const hash = await this.client.hgetall(key);
      const session = toSession(sessionId, hash);
      if (!session || !isSessionLive(session, this.now())) return false;
      if (extendTtl) {
        const expiresAt = this.now() + extendTtl;
        change.write((multi) => {
          // pywry's refresh_session: new expires_at and EXPIRE, the stored ttl left as it was.
          multi.hset(key, "expires_at", pythonFloat(expiresAt));
          const ttl = ttlField(extendTtl);
          if (hash["ttl"] === undefined && ttl !== null) multi.hset(key, "ttl", ttl);
          queueExpire(multi, key, extendTtl);
        });
        change.audit("session.refresh", session.userId, handleFor(sessionId), { expires_at: expiresAt });
      }
      return true;
    });
  }

  async getRolePermissions(role: string): Promise<string[] | null> {
    return this.read(async () => {
      const text = await this.client.hget(this.rolesKey(), role);
      return text === null ? null : parseStringList(text);
    });
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    return this.change(async (change) => {
      await change.watch(this.rolesKey());
      const text = await this.client.hget(this.rolesKey(), role);
      const before = text === null ? null : parseStringList(text);
      const after = [...new Set(permissions)];
      change.write((multi) => multi.hset(this.rolesKey(), role, pythonJson(after)));
      change.audit("role.set", role, null, { before, after });
    });
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.read(async () => {
      const hash = await this.client.hgetall(this.rolesKey());
      return new Map(
        Object.keys(hash)
          .sort()
          .map((role) => [role, parseStringList(hash[role] ?? "[]")]),
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.queue.catch(() => undefined);
      if (this.client.status === "ready") await withDeadline(this.client.quit(), 1000, "timed out");
    } catch {
      // Closing a connection that is already gone is not a failure worth reporting.
    } finally {
      hardDisconnect(this.client);
    }
  }

  // ---- pywry-auth's additions ------------------------------------------------------------

  async listSessions(filter: SessionFilter = {}): Promise<UserSession[]> {
    return this.read(async () => {
      const ids = filter.userId === undefined ? await this.allSessionIds() : await this.client.smembers(this.userSessionsKey(filter.userId));
      const now = this.now();
      return (await this.readSessions(ids))
        .filter((session) => filter.userId === undefined || session.userId === filter.userId)
        .filter((session) => filter.includeExpired || isSessionLive(session, now))
        .sort(newestFirst);
    });
  }

  /**
   * All sessions: walked with SCAN (never KEYS), one SCAN batch per page, read with one pipelined
   * HGETALL per batch; the order is SCAN's. Within a batch rows are sorted by handle, so a cursor
   * ("<SCAN cursor of the batch>:<SCAN cursor after it>:<handle>") can point inside one. A walk
   * resumed from a cursor first lists what is left of that batch's region of the key table (see
   * unlistedOfBatch), then goes on from where the batch ended: every session there for the whole
   * walk is listed exactly once, unless Redis shrinks its key table meanwhile (after most keys of
   * the database are deleted), when one may repeat. One user's sessions come from the user's set
   * (the default).
   */
  override async *sessionPages(filter: SessionFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<UserSession>> {
    if (filter.userId !== undefined) {
      yield* super.sessionPages(filter, page);
      return;
    }
    const size = pageSizeOf(page);
    let scan = "0";
    if (page.after !== undefined) {
      const resume = parseScanCursor(page.after);
      const rest = await this.unlistedOfBatch(resume, size);
      yield* this.batchPages({ from: resume.scan, next: resume.next, keys: rest.keys }, filter, size);
      if (rest.continueFrom === "0") return;
      scan = rest.continueFrom;
    }
    do {
      const from = scan;
      const [next, keys] = await this.read(() => this.client.scan(from, "MATCH", this.sessionPattern(), "COUNT", size));
      yield* this.batchPages({ from, next, keys }, filter, size);
      scan = next;
    } while (scan !== "0");
  }

  /**
   * The keys of a cursor's batch region (from its batch's start up to where that batch ended) not
   * listed before the cursor: those with a handle after it. Keys come and go between commands, so
   * SCAN from the same start may now stop elsewhere; the region is walked again in SCAN calls that
   * stay inside it, down to one bucket at a time near its end. A bucket that spans the region's end
   * (the table shrank to coarser buckets) is listed whole and the walk goes on after it.
   */
  private async unlistedOfBatch(resume: ScanCursor, size: number): Promise<{ keys: string[]; continueFrom: string }> {
    const keys: string[] = [];
    const start = `${this.prefix}:session:`.length;
    const unlisted = (key: string) => handleFor(key.slice(start)) > resume.handle;
    const end = scanPosition(resume.next);
    let cursor = resume.scan;
    // The cursor 0 ends a walk, but also starts one.
    let position = cursor === "0" ? 0n : scanPosition(cursor);
    let count = size;
    while (position < end) {
      const from = cursor;
      const [next, found] = await this.read(() => this.client.scan(from, "MATCH", this.sessionPattern(), "COUNT", count));
      if (endsWithin(next, resume.next)) keys.push(...found.filter(unlisted));
      else if (count > 1) {
        count = 1;
        continue;
      } else keys.push(...found);
      cursor = next;
      position = scanPosition(next);
    }
    return { keys, continueFrom: cursor };
  }

  /** One SCAN batch's sessions, sorted by handle, a page of `size` at a time. */
  private async *batchPages(
    batch: { from: string; next: string; keys: readonly string[] },
    filter: SessionFilter,
    size: number,
  ): AsyncGenerator<ListPage<UserSession>> {
    const start = `${this.prefix}:session:`.length;
    const entries = batch.keys
      .map((key) => ({ key, id: key.slice(start), handle: handleFor(key.slice(start)) }))
      .sort((a, b) => (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0));
    // SCAN may return more keys than COUNT asks for: a page is a slice of the batch.
    for (let offset = 0; offset < entries.length; offset += size) {
      const slice = entries.slice(offset, offset + size);
      const hashes = await this.read(() => this.hgetallInOneScript(slice.map((entry) => entry.key)));
      const now = this.now();
      const out: ListPage<UserSession> = { rows: [], cursors: [] };
      slice.forEach((entry, index) => {
        const session = toSession(entry.id, hashes[index] ?? {});
        if (session === null || (!filter.includeExpired && !isSessionLive(session, now))) return;
        out.rows.push(session);
        out.cursors.push(`${batch.from}:${batch.next}:${entry.handle}`);
      });
      if (out.rows.length > 0) yield out;
    }
  }

  private sessionPattern(): string {
    return `${globEscape(this.prefix)}:session:*`;
  }

  /**
   * The registry's sorted set (by creation time), newest first, a page per ZREVRANGEBYSCORE;
   * cursors "<created_at>_<accessor>". One subject's tokens come from its set (the default).
   */
  override async *tokenPages(filter: TokenFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<TokenRecord>> {
    if (filter.subject !== undefined) {
      yield* super.tokenPages(filter, page);
      return;
    }
    const size = pageSizeOf(page);
    let after = page.after === undefined ? null : parseTimeHandleCursor(page.after);
    // Members tied on the cursor's score and at or above its accessor were listed: skip them.
    let skip = 0;
    for (;;) {
      const top = after === null ? "+inf" : String(after.at);
      const flat = await this.read(() => this.client.zrevrangebyscore(this.tokensKey(), top, "-inf", "WITHSCORES", "LIMIT", skip, size));
      if (flat.length === 0) return;
      const members: Array<{ accessor: string; score: number }> = [];
      for (let index = 0; index + 1 < flat.length; index += 2) members.push({ accessor: flat[index]!, score: Number(flat[index + 1]) });
      const fresh = members.filter((member) => after === null || member.score < after.at || member.accessor < after.handle);
      if (fresh.length === 0) {
        skip += members.length;
        continue;
      }
      const records = await this.read(() => this.readTokenHashes(fresh.map((member) => member.accessor)));
      const now = this.now();
      const out: ListPage<TokenRecord> = { rows: [], cursors: [] };
      fresh.forEach((member, index) => {
        const record = records[index];
        if (!record || !matchesTokenFilter(record, filter, now)) return;
        out.rows.push(record);
        out.cursors.push(timeHandleCursor(member.score, member.accessor));
      });
      if (out.rows.length > 0) yield out;
      if (members.length < size) return;
      const last = fresh[fresh.length - 1]!;
      after = { at: last.score, handle: last.accessor };
      skip = 0;
    }
  }

  async findSession(idOrHandle: string): Promise<UserSession | null> {
    return this.read(async () => {
      const exact = await this.readSession(idOrHandle);
      if (exact || !looksLikeHandle(idOrHandle)) return exact;
      // Handles are hashes, so finding one means hashing every id; admin-sized stores make this cheap.
      const match = (await this.allSessionIds()).find((id) => handleFor(id) === idOrHandle);
      return match === undefined ? null : this.readSession(match);
    });
  }

  async updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate> {
    return this.change(async (change) => {
      await change.watch(this.rolesKey());
      const text = await this.client.hget(this.rolesKey(), role);
      const before = text === null ? null : parseStringList(text);
      const after = AuthStoreBase.plannedRole(before, edit);
      if (after === null) return { before, after: before, changed: false };
      change.write((multi) => multi.hset(this.rolesKey(), role, pythonJson(after)));
      change.audit("role.set", role, null, { before, after });
      return { before, after, changed: true };
    });
  }

  async deleteRole(role: string): Promise<boolean> {
    return this.change(async (change) => {
      await change.watch(this.rolesKey());
      const text = await this.client.hget(this.rolesKey(), role);
      if (text === null) return false;
      change.write((multi) => multi.hdel(this.rolesKey(), role));
      change.audit("role.delete", role, null, { before: parseStringList(text) });
      return true;
    });
  }

  async purgeExpired(options: { dryRun?: boolean } = {}): Promise<UserSession[]> {
    const expired = async () => {
      const now = this.now();
      return (await this.readSessions(await this.allSessionIds()))
        .filter((session) => !isSessionLive(session, now))
        .sort((a, b) => (a.expiresAt ?? 0) - (b.expiresAt ?? 0));
    };
    if (options.dryRun) return this.read(expired);
    return this.change(async (change) => {
      const candidates = await expired();
      await change.watch(...candidates.map((session) => this.sessionKey(session.sessionId)));
      // Read again under WATCH: another process may have refreshed one in the meantime.
      const now = this.now();
      const sessions = (await this.readSessions(candidates.map((session) => session.sessionId))).filter((s) => !isSessionLive(s, now));
      // Redis drops expired session keys by itself but not their user-set entries (pywry removes
      // those lazily when it lists a user's sessions): remove the ones left behind too.
      const stale = await this.staleUserSetEntries(change, new Set(sessions.map((s) => s.sessionId)));
      if (sessions.length === 0 && stale.length === 0) return [];
      change.write((multi) => {
        for (const session of sessions) multi.del(this.sessionKey(session.sessionId)).srem(this.userSessionsKey(session.userId), session.sessionId);
        for (const [key, ids] of stale) multi.srem(key, ...ids);
      });
      const detail: Record<string, unknown> = { count: sessions.length, users: new Set(sessions.map((s) => s.userId)).size };
      if (stale.length > 0) detail["stale_user_set_entries"] = stale.reduce((total, [, ids]) => total + ids.length, 0);
      change.audit("session.purge", null, null, detail);
      return sessions.sort((a, b) => (a.expiresAt ?? 0) - (b.expiresAt ?? 0));
    });
  }

  /**
   * User-set entries whose session key no longer exists, by set key. Only those sessions' keys
   * are watched (then checked again), so busy sets do not make the purge start over.
   */
  private async staleUserSetEntries(change: Change, purging: ReadonlySet<string>): Promise<Array<[string, string[]]>> {
    const missing = async (ids: readonly string[]): Promise<string[]> => {
      const pipeline = this.client.pipeline();
      for (const id of ids) pipeline.exists(this.sessionKey(id));
      const replies = (await pipeline.exec()) ?? [];
      return ids.filter((_, index) => replies[index]?.[1] === 0);
    };
    const stale: Array<[string, string[]]> = [];
    for (const key of await this.scanKeys(`${globEscape(this.prefix)}:user:*:sessions`)) {
      const candidates = await missing((await this.client.smembers(key)).filter((id) => !purging.has(id)));
      if (candidates.length === 0) continue;
      await change.watch(...candidates.map((id) => this.sessionKey(id)));
      const confirmed = await missing(candidates);
      if (confirmed.length > 0) stale.push([key, confirmed]);
    }
    return stale;
  }

  async recordIssuedToken(record: TokenRecord, session?: NewSession): Promise<UserSession | null> {
    return this.change((change) => this.planRecordToken(change, record, session ?? null));
  }

  async findToken(query: { accessor: string } | { tokenHash: string }): Promise<TokenRecord | null> {
    return this.read(async () => {
      const accessor = "accessor" in query ? query.accessor : handleForHash(query.tokenHash);
      const record = toTokenRecord(await this.client.hgetall(this.tokenKey(accessor)));
      if (!record) return null;
      return "tokenHash" in query && record.tokenHash !== query.tokenHash ? null : record;
    });
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    return this.read(async () => {
      const accessors =
        filter.subject === undefined
          ? await this.client.zrevrange(this.tokensKey(), 0, -1)
          : await this.client.smembers(this.userTokensKey(filter.subject));
      const now = this.now();
      return (await this.readTokens(accessors))
        .filter((record) => matchesTokenFilter(record, filter, now))
        .sort((a, b) => b.createdAt - a.createdAt);
    });
  }

  async revokeToken(request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    return this.change((change) => this.planRevoke(change, request));
  }

  async renewToken(
    old: Omit<Revocation, "revokedAt" | "accessor">,
    record: TokenRecord,
    session: NewSession | null,
  ): Promise<UserSession | null> {
    return this.change(async (change) => {
      await this.planRevoke(change, old);
      const created = await this.planRecordToken(change, record, session);
      change.audit("token.renew", record.subject, record.accessor, { replaced: handleForHash(old.tokenHash), expires_at: record.expiresAt });
      return created;
    });
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    return this.read(async () => toRevocation(tokenHash, await this.client.hgetall(this.revocationKey(tokenHash))));
  }

  async tokenRevocationStatus(token: { tokenHash: string; subject: string; issuedAt: number }): Promise<RevocationCause | null> {
    return this.read(async () => {
      const [revoked, cutoff] = await Promise.all([
        this.client.exists(this.revocationKey(token.tokenHash)),
        this.client.hget(this.cutoffKey(token.subject), "cutoff_at"),
      ]);
      if (revoked > 0) return "token";
      const cutoffAt = parseNumber(cutoff);
      return cutoffAt !== null && token.issuedAt <= cutoffAt ? "user" : null;
    });
  }

  async revokeUser(userId: string, reason: string | null): Promise<UserRevocation> {
    return this.change(async (change) => {
      const sessionsKey = this.userSessionsKey(userId);
      await change.watch(this.cutoffKey(userId), sessionsKey, this.userTokensKey(userId));
      const now = this.now();
      const cutoffAt = Math.max(now, parseNumber(await this.client.hget(this.cutoffKey(userId), "cutoff_at")) ?? now);
      // The user set, and every other session of the user: a set that was deleted or evicted
      // must not let a session survive a user-wide revocation.
      const ids = new Set([...(await this.client.smembers(sessionsKey)), ...(await this.sessionIdsOfUser(userId))]);
      await change.watch(...[...ids].map((id) => this.sessionKey(id)));
      const sessions = (await this.readSessions([...ids])).filter((session) => session.userId === userId);
      const accessors = await this.client.smembers(this.userTokensKey(userId));
      await change.watch(...accessors.map((accessor) => this.tokenKey(accessor)));
      const revoked = (await this.readTokens(accessors)).filter(
        (record) => record.subject === userId && record.revokedAt === null && record.issuedAt <= cutoffAt,
      );
      change.write((multi) => {
        multi.hset(this.cutoffKey(userId), cutoffHash(cutoffAt, reason));
        for (const session of sessions) multi.del(this.sessionKey(session.sessionId));
        multi.del(sessionsKey);
        for (const record of revoked) multi.hset(this.tokenKey(record.accessor), "revoked_at", String(now));
      });
      change.audit("user.revoke", userId, null, {
        cutoff_at: cutoffAt,
        sessions_deleted: sessions.length,
        tokens_revoked: revoked.length,
        reason,
      });
      return { userId, cutoffAt, sessionsDeleted: sessions.length };
    });
  }

  async findUserCutoff(userId: string): Promise<number | null> {
    return this.read(async () => parseNumber(await this.client.hget(this.cutoffKey(userId), "cutoff_at")));
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.read(async () => {
      const filtered = filter.since !== undefined || filter.action !== undefined || filter.subject !== undefined;
      const limit = filter.limit === undefined ? undefined : Math.max(0, Math.trunc(filter.limit));
      if (limit === 0) return [];
      if (!filtered && limit !== undefined) {
        // The newest entries straight from the end of the stream, listed oldest first.
        const newest = await this.client.xrevrange(this.auditKey(), "+", "-", "COUNT", limit);
        return newest.reverse().map(toAuditEntry);
      }
      const matching = (await this.client.xrange(this.auditKey(), "-", "+"))
        .map(toAuditEntry)
        .filter((entry) => filter.since === undefined || entry.at >= filter.since)
        .filter((entry) => filter.action === undefined || entry.action === filter.action || entry.action.startsWith(`${filter.action}.`))
        .filter((entry) => filter.subject === undefined || entry.subject === filter.subject);
      return limit === undefined ? matching : matching.slice(Math.max(0, matching.length - limit));
    });
  }

  async listRevocations(): Promise<Revocation[]> {
    return this.read(async () => {
      const keys = await this.scanKeys(`${globEscape(this.prefix)}:auth:revoked:*`);
      const start = `${this.prefix}:auth:revoked:`.length;
      const hashes = await this.hgetallMany(keys);
      return keys
        .map((key, index) => toRevocation(key.slice(start), hashes[index] ?? {}))
        .filter((revocation): revocation is Revocation => revocation !== null)
        .sort((a, b) => a.revokedAt - b.revokedAt);
    });
  }

  async listUserCutoffs(): Promise<UserCutoff[]> {
    return this.read(async () => {
      const keys = await this.scanKeys(`${globEscape(this.prefix)}:auth:cutoff:*`);
      const start = `${this.prefix}:auth:cutoff:`.length;
      const hashes = await this.hgetallMany(keys);
      const cutoffs: UserCutoff[] = [];
      keys.forEach((key, index) => {
        const hash = hashes[index] ?? {};
        const cutoffAt = parseNumber(hash["cutoff_at"]);
        if (cutoffAt !== null) cutoffs.push({ userId: key.slice(start), cutoffAt, reason: hash["reason"] ?? null });
      });
      return cutoffs.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    });
  }

  async importRecords(data: StoreTransfer, options: ImportOptions = {}): Promise<TransferCounts> {
    const bars = sessionBars(data.sessions);
    const plan = async (change: Change | null) => {
      const keys = [
        ...bars.tokenHashes.map((tokenHash) => this.revocationKey(tokenHash)),
        ...bars.userIds.map((userId) => this.cutoffKey(userId)),
        this.rolesKey(),
        ...data.sessions.map((s) => this.sessionKey(s.sessionId)),
        ...data.tokens.map((r) => this.tokenKey(r.accessor)),
        ...data.revocations.map((r) => this.revocationKey(r.tokenHash)),
        ...data.cutoffs.map((c) => this.cutoffKey(c.userId)),
      ];
      await change?.watch(...keys);
      const existing = emptyExisting();
      const roles = await this.client.hgetall(this.rolesKey());
      for (const role of data.roles.keys()) if (roles[role] !== undefined) existing.roles.set(role, parseStringList(roles[role]!));
      for (const session of await this.readSessions(data.sessions.map((s) => s.sessionId))) existing.sessions.set(session.sessionId, session);
      for (const record of await this.readTokens(data.tokens.map((r) => r.accessor))) existing.tokens.set(record.tokenHash, record);
      const revocations = await this.hgetallMany(data.revocations.map((r) => this.revocationKey(r.tokenHash)));
      data.revocations.forEach((r, index) => {
        const held = toRevocation(r.tokenHash, revocations[index] ?? {});
        if (held) existing.revocations.set(r.tokenHash, held);
      });
      const cutoffs = await this.hgetallMany(data.cutoffs.map((c) => this.cutoffKey(c.userId)));
      data.cutoffs.forEach((c, index) => {
        const held = parseNumber(cutoffs[index]?.["cutoff_at"]);
        if (held !== null) existing.cutoffs.set(c.userId, held);
      });
      const barringRevocations = await this.hgetallMany(bars.tokenHashes.map((tokenHash) => this.revocationKey(tokenHash)));
      bars.tokenHashes.forEach((tokenHash, index) => {
        if (toRevocation(tokenHash, barringRevocations[index] ?? {})) existing.barringRevocations.add(tokenHash);
      });
      const barringCutoffs = await this.hgetallMany(bars.userIds.map((userId) => this.cutoffKey(userId)));
      bars.userIds.forEach((userId, index) => {
        const held = parseNumber(barringCutoffs[index]?.["cutoff_at"]);
        if (held !== null) existing.barringCutoffs.set(userId, held);
      });
      return planImport(data, existing);
    };
    if (options.dryRun) return this.read(async () => (await plan(null)).counts);
    return this.change(async (change) => {
      const { counts, roles, sessions, tokens, revocations, cutoffs } = await plan(change);
      if (!changedAnything(counts)) return counts;
      const now = this.now();
      const previousOwners = new Map((await this.readSessions(sessions.map((s) => s.sessionId))).map((s) => [s.sessionId, s.userId]));
      change.write((multi) => {
        for (const [role, permissions] of roles) multi.hset(this.rolesKey(), role, pythonJson(permissions));
        for (const session of sessions) {
          const owner = previousOwners.get(session.sessionId);
          if (owner !== undefined && owner !== session.userId) multi.srem(this.userSessionsKey(owner), session.sessionId);
          const lifetime = session.expiresAt === null ? null : session.expiresAt - session.createdAt;
          this.queueSession(multi, session, lifetime, session.expiresAt === null ? null : session.expiresAt - now);
        }
        for (const record of tokens) this.queueToken(multi, record);
        for (const revocation of revocations) this.queueRevocation(multi, revocation, now);
        for (const cutoff of cutoffs) multi.hset(this.cutoffKey(cutoff.userId), cutoffHash(cutoff.cutoffAt, cutoff.reason));
      });
      change.audit("store.import", null, null, importAuditDetail(counts, options.source));
      return counts;
    });
  }

  async healthCheck(): Promise<HealthFinding[]> {
    return this.read(async () => {
      const findings: HealthFinding[] = [];
      const info = parseInfo(await this.client.info("server"));
      findings.push({ check: "redis", status: "ok", message: `Redis ${info["redis_version"] ?? "(unknown version)"} at ${this.location}, prefix ${JSON.stringify(this.prefix)}` });
      const version = Number((await this.client.hget(this.metaKey(), "schema_version")) ?? 0);
      findings.push(
        version === REDIS_SCHEMA_VERSION
          ? { check: "schema", status: "ok", message: `pywry-auth key layout version ${version} (current)` }
          : {
              check: "schema",
              status: "warn",
              message: "no pywry-auth data under this prefix yet (pywry's own keys only)",
              fix: "check --redis-prefix matches pywry's PYWRY_DEPLOY__REDIS_PREFIX; the first pywry-auth change sets it up",
            },
      );
      const config = await this.configValues(["maxmemory", "maxmemory-policy", "save", "appendonly"]);
      if (config) {
        const policy = config["maxmemory-policy"] ?? "noeviction";
        if (Number(config["maxmemory"] ?? 0) > 0 && policy !== "noeviction") {
          findings.push({
            check: "eviction",
            status: "warn",
            message: `maxmemory-policy is ${policy}: under memory pressure Redis may evict revocations, and a revoked token would work again`,
            fix: "CONFIG SET maxmemory-policy noeviction (and persist it in redis.conf), or a Redis of its own for sessions",
          });
        } else {
          findings.push({ check: "eviction", status: "ok", message: `maxmemory-policy ${policy}${Number(config["maxmemory"] ?? 0) > 0 ? "" : " (no maxmemory)"}` });
        }
        if (!config["save"] && config["appendonly"] !== "yes") {
          findings.push({
            check: "persistence",
            status: "warn",
            message: "Redis persists nothing (no RDB snapshots, no AOF): a restart forgets every session, revocation and audit entry",
            fix: "enable appendonly yes (or RDB save points) in redis.conf",
          });
        } else {
          findings.push({ check: "persistence", status: "ok", message: config["appendonly"] === "yes" ? "AOF on" : `RDB save ${config["save"]}` });
        }
      }
      return findings;
    });
  }

  // ---- changes ---------------------------------------------------------------------------

  protected override updateMetadata(
    sessionId: string,
    action: string,
    detail: Record<string, unknown>,
    change: MetadataChange,
  ): Promise<UserSession | null> {
    return this.change(async (tx) => {
      const key = this.sessionKey(sessionId);
      await tx.watch(key);
      const session = await this.readSession(sessionId);
      if (!session) return null;
      const metadata = change(session.metadata);
      if (pythonJson(metadata) === pythonJson(session.metadata)) return session;
      tx.write((multi) => multi.hset(key, "metadata", pythonJson(metadata)));
      tx.audit(action, session.userId, handleFor(sessionId), detail);
      return { ...session, metadata };
    });
  }

  /** Creates (or replaces, as pywry's create_session does) a session. */
  private async planSession(change: Change, spec: NewSession): Promise<UserSession> {
    const key = this.sessionKey(spec.sessionId);
    await change.watch(key);
    const previousOwner = await this.client.hget(key, "user_id");
    const session = buildSession(spec, this.now(), DEFAULT_ROLES);
    change.write((multi) => {
      if (previousOwner !== null && previousOwner !== session.userId) multi.srem(this.userSessionsKey(previousOwner), session.sessionId);
      this.queueSession(multi, session, spec.ttl || null, spec.ttl || null);
    });
    return session;
  }

  /**
   * Writes a whole session hash in pywry's format with its user-set entry. `ttl`: the session's
   * lifetime (pywry's ttl field); `expireIn`: seconds it still has to live (null: never expires). A session that never expires has expires_at "0" (pywry reads
   * `float(expires_at)` and treats 0 as "never"), no ttl field (so pywry's refresh_session falls
   * back to its default TTL instead of EXPIRE 0, which would delete it) and no EXPIRE.
   */
  private queueSession(multi: ChainableCommander, session: UserSession, ttl: number | null, expireIn: number | null): void {
    const key = this.sessionKey(session.sessionId);
    const hash: Hash = {
      user_id: session.userId,
      roles: pythonJson(session.roles),
      created_at: pythonFloat(session.createdAt),
      expires_at: session.expiresAt === null ? "0" : pythonFloat(session.expiresAt),
      metadata: pythonJson(session.metadata),
    };
    const ttlText = ttl === null ? null : ttlField(ttl);
    if (ttlText !== null) hash["ttl"] = ttlText;
    multi.del(key).hset(key, hash);
    if (expireIn !== null) queueExpire(multi, key, expireIn);
    multi.sadd(this.userSessionsKey(session.userId), session.sessionId);
  }

  private async planRecordToken(change: Change, record: TokenRecord, session: NewSession | null): Promise<UserSession | null> {
    const key = this.tokenKey(record.accessor);
    await change.watch(key);
    if ((await this.client.exists(key)) > 0) {
      throw new StoreError(`the registry already holds a token with accessor ${record.accessor}`);
    }
    if (session) {
      await change.watch(this.sessionKey(session.sessionId));
      if ((await this.client.exists(this.sessionKey(session.sessionId))) > 0) throw sessionIdTaken();
    }
    change.write((multi) => this.queueToken(multi, record));
    const created = session ? await this.planSession(change, session) : null;
    change.audit("token.mint", record.subject, record.accessor, {
      kind: record.kind,
      expires_at: record.expiresAt,
      roles: created?.roles ?? null,
      label: record.label,
    });
    return created;
  }

  private queueToken(multi: ChainableCommander, record: TokenRecord): void {
    const hash: Hash = {
      token_hash: record.tokenHash,
      accessor: record.accessor,
      kind: record.kind,
      subject: record.subject,
      issued_at: String(record.issuedAt),
      created_at: String(record.createdAt),
    };
    if (record.expiresAt !== null) hash["expires_at"] = String(record.expiresAt);
    if (record.label !== null) hash["label"] = record.label;
    if (record.roles !== null) hash["roles"] = pythonJson(record.roles);
    if (record.revokedAt !== null) hash["revoked_at"] = String(record.revokedAt);
    const key = this.tokenKey(record.accessor);
    multi.del(key).hset(key, hash).zadd(this.tokensKey(), record.createdAt, record.accessor).sadd(this.userTokensKey(record.subject), record.accessor);
  }

  /** The revocation lives until the token would have expired (plus a grace for clock skew). */
  private queueRevocation(multi: ChainableCommander, revocation: Revocation, now: number): void {
    const key = this.revocationKey(revocation.tokenHash);
    const hash: Hash = { accessor: revocation.accessor, revoked_at: String(revocation.revokedAt) };
    if (revocation.subject !== null) hash["subject"] = revocation.subject;
    if (revocation.expiresAt !== null) hash["expires_at"] = String(revocation.expiresAt);
    if (revocation.reason !== null) hash["reason"] = revocation.reason;
    multi.del(key).hset(key, hash);
    if (revocation.expiresAt !== null) {
      queueExpire(multi, key, Math.max(0, revocation.expiresAt - now) + REVOCATION_GRACE_SECONDS);
    }
  }

  private async planRevoke(change: Change, request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    const accessor = handleForHash(request.tokenHash);
    const revocationKey = this.revocationKey(request.tokenHash);
    const tokenKey = this.tokenKey(accessor);
    await change.watch(revocationKey, tokenKey);
    if (request.subject !== null) await change.watch(this.userSessionsKey(request.subject));
    const existing = toRevocation(request.tokenHash, await this.client.hgetall(revocationKey));
    const revocation: Revocation = existing ?? { ...request, accessor, revokedAt: this.now() };
    const record = toTokenRecord(await this.client.hgetall(tokenKey));
    // pywry's login makes the token the session id: delete the sessions whose id is this token.
    // Every session key is hashed, not only the user set's members: a set that was deleted or
    // evicted must not leave pywry accepting the revoked token as a cookie. (The user set is
    // watched: a session created meanwhile goes through it.)
    const matching = (await this.allSessionIds()).filter((id) => sha256Hex(id) === request.tokenHash);
    await change.watch(...matching.map((id) => this.sessionKey(id)));
    const sessions = (await this.readSessions(matching)).filter((s) => request.subject === null || s.userId === request.subject);
    const now = this.now();
    change.write((multi) => {
      if (!existing) this.queueRevocation(multi, revocation, now);
      if (record && record.tokenHash === request.tokenHash && record.revokedAt === null) {
        multi.hset(tokenKey, "revoked_at", String(revocation.revokedAt));
      }
      for (const session of sessions) multi.del(this.sessionKey(session.sessionId)).srem(this.userSessionsKey(session.userId), session.sessionId);
    });
    if (!existing || sessions.length > 0) {
      change.audit("token.revoke", request.subject, revocation.accessor, { sessions_deleted: sessions.length, reason: request.reason });
    }
    return { alreadyRevoked: existing !== null, sessionsDeleted: sessions.length, revocation: { ...revocation } };
  }

  /**
   * Runs one change: `plan` reads (watching what it reads) and queues writes and audit entries;
   * they are then applied in one MULTI/EXEC. Starts over when a watched key changed meanwhile.
   */
  private change<T>(plan: (change: Change) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.requireWritable();
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
        const change = new Change(this.client);
        let result: T;
        try {
          result = await plan(change);
        } catch (error) {
          this.dropIfTimedOut(error);
          await this.client.unwatch().catch(() => undefined);
          throw error;
        }
        if (change.writes.length === 0 && change.audits.length === 0) {
          await this.client.unwatch();
          return result;
        }
        const multi = this.client.multi();
        multi.hset(this.metaKey(), "schema_version", String(REDIS_SCHEMA_VERSION));
        for (const write of change.writes) write(multi);
        for (const entry of change.audits) this.queueAudit(multi, entry);
        const replies = await multi.exec();
        if (replies === null) {
          // Someone else changed what this change read: read again and redo it.
          await delay(Math.min(5 * attempt, 50) * Math.random());
          continue;
        }
        const failed = replies.find(([error]) => error);
        if (failed?.[0]) throw failed[0];
        return result;
      }
      throw new StoreError(`Redis at ${this.location}: gave up after ${MAX_ATTEMPTS} attempts, other clients kept changing the same keys`);
    };
    const queued = this.queue.then(run, run);
    this.queue = queued.catch(() => undefined);
    return queued.catch((error: unknown) => Promise.reject(this.toStoreError(error)));
  }

  private queueAudit(multi: ChainableCommander, entry: AuditSpec): void {
    const fields = ["at", String(this.now()), "action", entry.action];
    if (entry.subject !== null) fields.push("subject", entry.subject);
    if (entry.target !== null) fields.push("target", entry.target);
    if (this.actor !== null) fields.push("actor", this.actor);
    fields.push("detail", JSON.stringify(entry.detail));
    multi.eval(AUDIT_SCRIPT, 2, this.auditSeqKey(), this.auditKey(), String(this.auditMaxLength), ...fields);
  }

  private async read<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.toStoreError(error);
    }
  }

  private requireWritable(): void {
    if (!this.writable) throw new StoreError(`the Redis store at ${this.location} was opened read-only`);
  }

  private async checkSchema(): Promise<void> {
    const version = await this.read(async () => Number((await this.client.hget(this.metaKey(), "schema_version")) ?? 0));
    if (version > REDIS_SCHEMA_VERSION) {
      await this.close();
      throw new StoreError(
        `the pywry-auth data under ${JSON.stringify(this.prefix)} at ${this.location} was written by a newer pywry-auth (key layout ${version}, this one knows ${REDIS_SCHEMA_VERSION}); upgrade pywry-auth`,
        { code: "ERR_STORE_VERSION" },
      );
    }
  }

  // ---- reading ---------------------------------------------------------------------------

  private async readSession(sessionId: string): Promise<UserSession | null> {
    return toSession(sessionId, await this.client.hgetall(this.sessionKey(sessionId)));
  }

  private async readSessions(ids: readonly string[]): Promise<UserSession[]> {
    const hashes = await this.hgetallMany(ids.map((id) => this.sessionKey(id)));
    return ids.map((id, index) => toSession(id, hashes[index] ?? {})).filter((s): s is UserSession => s !== null);
  }

  /** Registry entries for these accessors, in their order (null where one is gone). */
  private async readTokenHashes(accessors: readonly string[]): Promise<Array<TokenRecord | null>> {
    const hashes = await this.hgetallMany(accessors.map((accessor) => this.tokenKey(accessor)));
    return hashes.map(toTokenRecord);
  }

  private async readTokens(accessors: readonly string[]): Promise<TokenRecord[]> {
    const hashes = await this.hgetallMany(accessors.map((accessor) => this.tokenKey(accessor)));
    return hashes.map(toTokenRecord).filter((record): record is TokenRecord => record !== null);
  }

  /** HGETALL for many keys in one round trip; a key of another type reads as missing. */
  private async hgetallMany(keys: readonly string[]): Promise<Hash[]> {
    if (keys.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error && !/WRONGTYPE/.test(error.message)) throw error;
      return error ? {} : ((value as Hash | null) ?? {});
    });
  }

  /**
   * HGETALL for many keys as one script call: a page of a thousand sessions is one command for
   * the client to encode and decode, not a thousand (a third of a list's time on a pipeline).
   * A key of another type reads as missing.
   */
  private async hgetallInOneScript(keys: readonly string[]): Promise<Hash[]> {
    if (keys.length === 0) return [];
    if (this.scriptsRefused) return this.hgetallMany(keys);
    let replies: string[][];
    try {
      replies = (await this.client.eval(HGETALL_MANY_SCRIPT, keys.length, ...keys)) as string[][];
    } catch (error) {
      // A server that runs no scripts for us (an ACL without EVAL, a read-only replica before
      // Redis 7's no-writes flag, a managed service): the pipeline reads the same, more slowly.
      if (!(error instanceof Error) || !/ERR|NOPERM|NOSCRIPT|READONLY|unknown command/i.test(error.message)) throw error;
      this.scriptsRefused = true;
      return this.hgetallMany(keys);
    }
    return replies.map((flat) => {
      const hash: Hash = {};
      for (let index = 0; index + 1 < flat.length; index += 2) hash[flat[index]!] = flat[index + 1]!;
      return hash;
    });
  }

  /** Every session id whose hash names this user, by scanning (not trusting the user set). */
  private async sessionIdsOfUser(userId: string): Promise<string[]> {
    const ids = await this.allSessionIds();
    if (ids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.hget(this.sessionKey(id), "user_id");
    const replies = (await pipeline.exec()) ?? [];
    return ids.filter((_, index) => replies[index]?.[1] === userId);
  }

  private async allSessionIds(): Promise<string[]> {
    const start = `${this.prefix}:session:`.length;
    return (await this.scanKeys(`${globEscape(this.prefix)}:session:*`)).map((key) => key.slice(start));
  }

  private async scanKeys(pattern: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const [next, batch] = await this.client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");
    return [...keys].sort();
  }

  /** CONFIG GET, or null where the server forbids it (managed Redis often does). */
  private async configValues(names: readonly string[]): Promise<Record<string, string> | null> {
    try {
      const values: Record<string, string> = {};
      for (const name of names) {
        const reply = (await this.client.config("GET", name)) as string[];
        for (let i = 0; i + 1 < reply.length; i += 2) values[reply[i]!] = reply[i + 1]!;
      }
      return values;
    } catch {
      return null;
    }
  }

  private toStoreError(error: unknown): PywryAuthError {
    if (error instanceof PywryAuthError) return error;
    this.dropIfTimedOut(error);
    return new StoreError(`Redis at ${this.location}: ${describeRedisError(error as Error)}`, { cause: sanitise(error) });
  }

  /** Ends the connection after a command timed out, when this store fails fast (see failFast). */
  private dropIfTimedOut(error: unknown): void {
    if (this.failFast && describeRedisError(error as Error) === "timed out") hardDisconnect(this.client);
  }

  // ---- keys ------------------------------------------------------------------------------

  private sessionKey(sessionId: string): string {
    return `${this.prefix}:session:${sessionId}`;
  }
  private userSessionsKey(userId: string): string {
    return `${this.prefix}:user:${userId}:sessions`;
  }
  private rolesKey(): string {
    return `${this.prefix}:role_permissions`;
  }
  private tokenKey(accessor: string): string {
    return `${this.prefix}:auth:token:${accessor}`;
  }
  private tokensKey(): string {
    return `${this.prefix}:auth:tokens`;
  }
  private userTokensKey(subject: string): string {
    return `${this.prefix}:auth:user:${subject}:tokens`;
  }
  private revocationKey(tokenHash: string): string {
    return `${this.prefix}:auth:revoked:${tokenHash}`;
  }
  private cutoffKey(userId: string): string {
    return `${this.prefix}:auth:cutoff:${userId}`;
  }
  private auditKey(): string {
    return `${this.prefix}:auth:audit`;
  }
  private auditSeqKey(): string {
    return `${this.prefix}:auth:audit:seq`;
  }
  private metaKey(): string {
    return `${this.prefix}:auth:meta`;
  }
}

// ---- encodings -----------------------------------------------------------------------------

/**
 * A number as Python's `str(float)` writes it ("1795789328.0072298", "1800000000.0", "1e+16"),
 * which is what pywry stores for created_at and expires_at.
 */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (Object.is(value, -0)) return "-0.0";
  const sign = value < 0 ? "-" : "";
  // toExponential() without a precision gives the shortest digits that read back as the same
  // number, as Python's repr does.
  const [mantissa = "", exponentText = "0"] = Math.abs(value).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${head}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  return `${sign}${whole}.${digits.slice(exponent + 1) || "0"}`;
}

/** Redis EXPIRE takes whole seconds; never 0 or less, which would delete the key at once. */
function expireSeconds(seconds: number): number {
  return Math.max(1, Math.ceil(seconds));
}

/**
 * The longest EXPIRE queued: about 31 million years. Redis refuses an EXPIRE whose time in
 * milliseconds overflows (from about 9.2e15 s), and inside MULTI a refused command does not undo
 * the others: the revocation and its audit entry would be written without their EXPIRE, and the
 * command reported as failed. So a lifetime beyond this is kept without EXPIRE (expires_at still
 * says when, and pywry reads that), decided before the transaction.
 */
const MAX_EXPIRE_SECONDS = 1e15;

/** EXPIRE `seconds` on `key`, unless the lifetime is too long to be worth one (see MAX_EXPIRE_SECONDS). */
function queueExpire(multi: ChainableCommander, key: string, seconds: number): void {
  const whole = expireSeconds(seconds);
  if (Number.isFinite(whole) && whole <= MAX_EXPIRE_SECONDS) multi.expire(key, whole);
}

/** pywry's ttl field for a lifetime, or null when it is too long for pywry's own EXPIRE. */
function ttlField(seconds: number): string | null {
  const whole = expireSeconds(seconds);
  return Number.isFinite(whole) && whole <= MAX_EXPIRE_SECONDS ? String(whole) : null;
}

/** A session hash as pywry's get_session reads it; null when there is no such key. */
function toSession(sessionId: string, hash: Hash): UserSession | null {
  if (!hash || Object.keys(hash).length === 0) return null;
  const expires = parseNumber(hash["expires_at"]);
  return {
    sessionId,
    userId: hash["user_id"] ?? "",
    roles: parseStringList(hash["roles"] ?? "[]"),
    createdAt: parseNumber(hash["created_at"]) ?? 0,
    // pywry: `float(data.get("expires_at", 0))`, and 0 never expires.
    expiresAt: expires ? expires : null,
    metadata: readMetadata(hash["metadata"], () => `session ${handleFor(sessionId)}`),
  };
}

function toTokenRecord(hash: Hash): TokenRecord | null {
  if (!hash || hash["token_hash"] === undefined || hash["accessor"] === undefined) return null;
  return {
    accessor: hash["accessor"],
    tokenHash: hash["token_hash"],
    kind: hash["kind"] === "widget" ? "widget" : "session",
    subject: hash["subject"] ?? "",
    issuedAt: parseNumber(hash["issued_at"]) ?? 0,
    expiresAt: parseNumber(hash["expires_at"]),
    label: hash["label"] ?? null,
    roles: hash["roles"] === undefined ? null : parseStringList(hash["roles"]),
    createdAt: parseNumber(hash["created_at"]) ?? 0,
    revokedAt: parseNumber(hash["revoked_at"]),
  };
}

function toRevocation(tokenHash: string, hash: Hash): Revocation | null {
  if (!hash || hash["revoked_at"] === undefined) return null;
  return {
    tokenHash,
    accessor: hash["accessor"] ?? handleForHash(tokenHash),
    subject: hash["subject"] ?? null,
    revokedAt: parseNumber(hash["revoked_at"]) ?? 0,
    expiresAt: parseNumber(hash["expires_at"]),
    reason: hash["reason"] ?? null,
  };
}

function cutoffHash(cutoffAt: number, reason: string | null): Hash {
  return reason === null ? { cutoff_at: String(cutoffAt) } : { cutoff_at: String(cutoffAt), reason };
}

function toAuditEntry([, fields]: [id: string, fields: string[]]): AuditEntry {
  const hash: Hash = {};
  for (let i = 0; i + 1 < fields.length; i += 2) hash[fields[i]!] = fields[i + 1]!;
  return {
    id: parseNumber(hash["id"]) ?? 0,
    at: parseNumber(hash["at"]) ?? 0,
    action: hash["action"] ?? "",
    subject: hash["subject"] ?? null,
    target: hash["target"] ?? null,
    actor: hash["actor"] ?? null,
    detail: parseObject(hash["detail"] ?? "{}"),
  };
}

/** "<SCAN cursor of the batch>:<SCAN cursor after it>:<handle>", as sessionPages makes them. */
interface ScanCursor {
  scan: string;
  next: string;
  handle: string;
}

function parseScanCursor(cursor: string): ScanCursor {
  const match = /^(\d{1,20}):(\d{1,20}):([0-9a-f]{16})$/.exec(cursor);
  // SCAN cursors are unsigned 64-bit numbers.
  if (!match || BigInt(match[1]!) >= 2n ** 64n || BigInt(match[2]!) >= 2n ** 64n) throw invalidCursor();
  return { scan: match[1]!, next: match[2]!, handle: match[3]! };
}

function newestFirst(a: UserSession, b: UserSession): number {
  return b.createdAt - a.createdAt || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0);
}

function parseNumber(text: string | null | undefined): number | null {
  if (text === null || text === undefined || text.trim() === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

function parseStringList(text: string): string[] {
  const value: unknown = safeJson(text);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function parseObject(text: string): Record<string, unknown> {
  const value: unknown = safeJson(text);
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function parseInfo(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) values[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return values;
}

/** Escapes glob characters so a prefix matches only itself in SCAN MATCH. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

/** The driver's message, made readable; it never includes the password (the URL is not in it). */
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

function describeRedisError(error: Error | null | undefined): string {
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
function sanitise(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  return copy;
}

function describeClient(client: Redis): string {
  const options = client.options;
  return `redis://${options.host ?? "localhost"}:${options.port ?? 6379}/${options.db ?? 0}`;
}

/** Disconnects unless the connection already ended (which would only arm the driver's timer). */
function hardDisconnect(client: Redis): void {
  if (client.status !== "end") client.disconnect();
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function osUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return process.env["USER"] ?? null;
  }
}
