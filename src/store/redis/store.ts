/**
 * RedisSessionStore: pywry's Redis key layout (keys.ts), so a multi-worker pywry deployment and
 * pywry-auth share one Redis. Loaded only when a redis:// store is used (this folder is the only
 * code that imports the Redis driver): import it from "pywry-auth/redis".
 * Its parts: connection.ts connects and explains failures, keys.ts is the layout, codec.ts the
 * hashes, transaction.ts how a change is applied, scan.ts where a SCAN walk stands; this file is
 * the store's operations.
 *
 * Time: every expiry decision uses the store's clock (`now`), as the other stores do; EXPIRE is
 * only the safety net that makes Redis drop what has expired, set relative to that clock (the
 * seconds still to live), so an injected clock and Redis's clock never have to agree.
 *
 * Atomicity: see transaction.ts. A session and its user-set entry are written together or not at
 * all.
 */
import type { ChainableCommander, Redis } from "ioredis";
import { PywryAuthError, StoreError } from "../../core/errors.js";
import { handleFor, handleForHash, looksLikeHandle, sha256Hex } from "../../core/handles.js";
import { pythonJson } from "../../core/pyjson.js";
import { DEFAULT_ROLES } from "../../core/rbac.js";
import { buildSession, isSessionLive, type UserSession } from "../../core/session.js";
import * as audit from "../audit.js";
import { AuthStoreBase, sessionIdTaken, type MetadataChange } from "../base.js";
import { parseNumber, parseStringList, pythonFloat } from "../codec.js";
import { invalidCursor, pageSizeOf, parseTimeHandleCursor, timeHandleCursor } from "../paging.js";
import { changedAnything, emptyExisting, planImport, sessionBars } from "../transfer.js";
import {
  matchesTokenFilter,
  type AuditEntry,
  type AuditFilter,
  type BearerLookup,
  type BearerQuery,
  type HealthFinding,
  type ImportOptions,
  type ListPage,
  type NewSession,
  type PageOptions,
  type Revocation,
  type RevocationCause,
  type RevocationQuery,
  type RevokeResult,
  type RoleEdit,
  type RoleUpdate,
  type SessionFilter,
  type StoreTransfer,
  type TokenFilter,
  type TokenKind,
  type TokenRecord,
  type TransferCounts,
  type UserCutoff,
  type UserRevocation,
} from "../types.js";
import {
  cutoffHash,
  expireSeconds,
  revocationHash,
  sessionHash,
  toAuditEntry,
  toRevocation,
  toSession,
  toTokenRecord,
  tokenHash,
  type Hash,
} from "./codec.js";
import { describeClient, describeRedisError, hardDisconnect, openClient, parseInfo, sanitise, withDeadline, type ConnectOptions } from "./connection.js";
import { DEFAULT_PREFIX, REDIS_SCHEMA_VERSION, RedisKeys } from "./keys.js";
import { endsWithin, parseScanCursor, scanCursor, scanPosition, type ScanCursor } from "./scan.js";
import { Reads, repliesOf } from "./reads.js";
import { Change, Changes } from "./transaction.js";

export interface RedisStoreOptions extends ConnectOptions {
  /** Key prefix, pywry's `PYWRY_DEPLOY__REDIS_PREFIX` (default "pywry"). */
  prefix?: string;
  /** "read" never writes anything; "write" (default) may. */
  mode?: "read" | "write";
  /** The clock, in Unix seconds. */
  now?: () => number;
  /** Who the audit log says made the changes (default: the OS user). */
  actor?: string;
  /** The audit stream keeps about this many entries (XADD MAXLEN ~; default 100000). */
  auditMaxLength?: number;
}

const DEFAULT_AUDIT_MAX_LENGTH = 100_000;
/**
 * A revocation outlives its token by this much, so a worker whose clock is a little behind still
 * sees it while it could still accept the token.
 */
export const REVOCATION_GRACE_SECONDS = 3600;


export class RedisSessionStore extends AuthStoreBase {
  readonly prefix: string;
  /** The server, with any password redacted: the only form used in messages. */
  readonly location: string;
  private readonly client: Redis;
  private readonly keys: RedisKeys;
  private readonly reads: Reads;
  private readonly changes: Changes;
  private readonly now: () => number;
  private readonly writable: boolean;
  private closed = false;
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
    this.keys = new RedisKeys(this.prefix);
    this.reads = new Reads(client, this.keys);
    this.now = options.now ?? (() => Date.now() / 1000);
    this.writable = options.mode !== "read";
    this.changes = new Changes({
      client,
      keys: this.keys,
      location,
      now: this.now,
      actor: options.actor ?? audit.defaultActor(),
      auditMaxLength: Math.max(1, Math.trunc(options.auditMaxLength ?? DEFAULT_AUDIT_MAX_LENGTH)),
      onReadFailure: (error) => this.dropIfTimedOut(error),
    });
  }

  /**
   * Connects to `url` (redis://[user:pass@]host:port/db or rediss://), failing with ERR_STORE
   * within the connect timeout when the server cannot be reached. The password never appears in
   * an error.
   */
  static async connect(url: string, options: RedisStoreOptions = {}): Promise<RedisSessionStore> {
    const { client, shown } = await openClient(url, options);
    const store = new RedisSessionStore(client, shown, options);
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
      change.audit(audit.sessionCreated(session));
      return session;
    });
  }

  async getSession(sessionId: string): Promise<UserSession | null> {
    return this.read(async () => {
      const session = await this.reads.session(sessionId);
      return session && isSessionLive(session, this.now()) ? session : null;
    });
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    return this.change(async (change) => {
      await change.watch(this.keys.session(sessionId));
      const session = await this.reads.session(sessionId);
      if (!session) return false;
      change.write((multi) => multi.del(this.keys.session(sessionId)).srem(this.keys.userSessions(session.userId), sessionId));
      change.audit(audit.sessionDeleted(session));
      return true;
    });
  }

  async refreshSession(sessionId: string, extendTtl?: number | null): Promise<boolean> {
    return this.change(async (change) => {
      const key = this.keys.session(sessionId);
      await change.watch(key);
      const hash = await this.client.hgetall(key);
      const session = toSession(sessionId, hash);
      if (!session || !isSessionLive(session, this.now())) return false;
      if (extendTtl) {
        const expiresAt = this.now() + extendTtl;
        change.write((multi) => {
          // pywry's refresh_session: new expires_at and EXPIRE, the stored ttl left as it was.
          multi.hset(key, "expires_at", pythonFloat(expiresAt));
          const ttl = expireSeconds(extendTtl);
          if (hash["ttl"] === undefined && ttl !== null) multi.hset(key, "ttl", String(ttl));
          queueExpire(multi, key, extendTtl);
        });
        change.audit(audit.sessionRefreshed(session, expiresAt));
      }
      return true;
    });
  }

  async getRolePermissions(role: string): Promise<string[] | null> {
    return this.read(async () => {
      const text = await this.client.hget(this.keys.roles(), role);
      return text === null ? null : parseStringList(text);
    });
  }

  async setRolePermissions(role: string, permissions: string[]): Promise<void> {
    return this.change(async (change) => {
      await change.watch(this.keys.roles());
      const text = await this.client.hget(this.keys.roles(), role);
      const before = text === null ? null : parseStringList(text);
      const after = [...new Set(permissions)];
      change.write((multi) => multi.hset(this.keys.roles(), role, pythonJson(after)));
      change.audit(audit.roleSet(role, before, after));
    });
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.read(async () => {
      const hash = await this.client.hgetall(this.keys.roles());
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
      await this.changes.settled();
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
      const ids = filter.userId === undefined ? await this.reads.allSessionIds() : await this.client.smembers(this.keys.userSessions(filter.userId));
      const now = this.now();
      return (await this.reads.sessions(ids))
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
   * the database are deleted), when one may repeat. One user's sessions are walked the same way
   * in the user's set (SSCAN), never read whole.
   */
  override async *sessionPages(filter: SessionFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<UserSession>> {
    yield* this.scanWalk(
      {
        step: this.sessionScan(filter),
        handleOf: (key) => handleFor(this.keys.sessionIdOf(key)),
        load: async (keys) => {
          const hashes = await this.reads.hashesInOneScript(keys);
          const now = this.now();
          return keys.map((key, index) => {
            const session = toSession(this.keys.sessionIdOf(key), hashes[index] ?? {});
            if (session === null || (!filter.includeExpired && !isSessionLive(session, now))) return null;
            // A user's set may still name a session that is now another user's (pywry never cleans it).
            return filter.userId === undefined || session.userId === filter.userId ? session : null;
          });
        },
      },
      page,
    );
  }

  /**
   * A walk with SCAN or SSCAN, batch by batch; a batch's members are sorted by handle and loaded a
   * page at a time (`load` answers null for a member to leave out). Resumed from a cursor, what is
   * left of the cursor's batch comes first (unlistedOfBatch).
   */
  private async *scanWalk<T>(
    walk: { step: ScanStep; handleOf: (member: string) => string; load: (members: string[]) => Promise<Array<T | null>> },
    page: PageOptions,
  ): AsyncGenerator<ListPage<T>> {
    const size = pageSizeOf(page);
    let scan = "0";
    if (page.after !== undefined) {
      const resume = parseScanCursor(page.after);
      const rest = await this.unlistedOfBatch(resume, size, walk.step, walk.handleOf);
      yield* this.batchPages(walk, { from: resume.scan, next: resume.next, keys: rest.keys }, size);
      if (rest.continueFrom === "0") return;
      scan = rest.continueFrom;
    }
    do {
      const from = scan;
      const [next, keys] = await this.read(() => walk.step(from, size));
      yield* this.batchPages(walk, { from, next, keys }, size);
      scan = next;
    } while (scan !== "0");
  }

  /** One SCAN batch's rows, in handle order, a page of `size` at a time. */
  private async *batchPages<T>(
    walk: { handleOf: (member: string) => string; load: (members: string[]) => Promise<Array<T | null>> },
    batch: ScanBatch,
    size: number,
  ): AsyncGenerator<ListPage<T>> {
    const entries = batch.keys
      .map((member) => ({ member, handle: walk.handleOf(member) }))
      .sort((a, b) => (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0));
    // SCAN may return more keys than COUNT asks for: a page is a slice of the batch.
    for (let offset = 0; offset < entries.length; offset += size) {
      const slice = entries.slice(offset, offset + size);
      const rows = await this.read(() => walk.load(slice.map((entry) => entry.member)));
      const out: ListPage<T> = { rows: [], cursors: [] };
      rows.forEach((row, index) => {
        if (row === null) return;
        out.rows.push(row);
        out.cursors.push(scanCursor(batch.from, batch.next, slice[index]!.handle));
      });
      if (out.rows.length > 0) yield out;
    }
  }

  /**
   * One SCAN call over the sessions a listing walks: the keyspace (SCAN), or one user's set
   * (SSCAN; Redis walks a set's table the same way), answered as session keys.
   */
  private sessionScan(filter: SessionFilter): ScanStep {
    const { userId } = filter;
    if (userId === undefined) return (from, count) => this.client.scan(from, "MATCH", this.keys.sessionPattern(), "COUNT", count);
    return async (from, count) => {
      const [next, ids] = await this.client.sscan(this.keys.userSessions(userId), from, "COUNT", count);
      return [next, ids.map((id) => this.keys.session(id))];
    };
  }

  /**
   * The keys of a cursor's batch region (from its batch's start up to where that batch ended) not
   * listed before the cursor: those with a handle after it. Keys come and go between commands, so
   * SCAN from the same start may now stop elsewhere; the region is walked again in SCAN calls that
   * stay inside it, down to one bucket at a time near its end. A bucket that spans the region's end
   * (the table shrank to coarser buckets) is listed whole and the walk goes on after it.
   */
  private async unlistedOfBatch(
    resume: ScanCursor,
    size: number,
    step: ScanStep,
    handleOf: (member: string) => string,
  ): Promise<{ keys: string[]; continueFrom: string }> {
    const keys: string[] = [];
    const unlisted = (member: string) => handleOf(member) > resume.handle;
    const end = scanPosition(resume.next);
    let cursor = resume.scan;
    // The cursor 0 ends a walk, but also starts one.
    let position = cursor === "0" ? 0n : scanPosition(cursor);
    let count = size;
    while (position < end) {
      const from = cursor;
      const [next, found] = await this.read(() => step(from, count));
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

  /**
   * The registry's sorted set (by creation time), newest first, a page per ZREVRANGEBYSCORE;
   * cursors "<created_at>_<accessor>". One subject's tokens come from its set (the default).
   */
  override async *tokenPages(filter: TokenFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<TokenRecord>> {
    if (filter.subject !== undefined) {
      yield* this.subjectTokenPages(filter.subject, filter, page);
      return;
    }
    const size = pageSizeOf(page);
    let after = page.after === undefined ? null : parseTimeHandleCursor(page.after);
    // Members tied on the cursor's score and at or above its accessor were listed: skip them.
    let skip = 0;
    for (;;) {
      const top = after === null ? "+inf" : String(after.at);
      const flat = await this.read(() => this.client.zrevrangebyscore(this.keys.tokens(), top, "-inf", "WITHSCORES", "LIMIT", skip, size));
      if (flat.length === 0) return;
      const members: Array<{ accessor: string; score: number }> = [];
      for (let index = 0; index + 1 < flat.length; index += 2) members.push({ accessor: flat[index]!, score: Number(flat[index + 1]) });
      const fresh = members.filter((member) => after === null || member.score < after.at || member.accessor < after.handle);
      if (fresh.length === 0) {
        skip += members.length;
        continue;
      }
      const records = await this.read(() => this.reads.tokensInOrder(fresh.map((member) => member.accessor)));
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

  /**
   * One subject's registry entries: its set walked with SSCAN a batch at a time (never read
   * whole), sorted by accessor within a batch, with the session walk's cursors and guarantee.
   */
  private async *subjectTokenPages(subject: string, filter: TokenFilter, page: PageOptions): AsyncGenerator<ListPage<TokenRecord>> {
    yield* this.scanWalk(
      {
        step: (from, count) => this.client.sscan(this.keys.userTokens(subject), from, "COUNT", count),
        handleOf: (accessor) => accessor,
        load: async (accessors) => {
          const records = await this.reads.tokensInOrder(accessors);
          const now = this.now();
          return records.map((record) => (record && matchesTokenFilter(record, filter, now) ? record : null));
        },
      },
      page,
    );
  }

  async findSession(idOrHandle: string): Promise<UserSession | null> {
    return this.read(async () => {
      const exact = await this.reads.session(idOrHandle);
      if (exact || !looksLikeHandle(idOrHandle)) return exact;
      // Handles are hashes, so finding one means hashing every id; admin-sized stores make this cheap.
      const match = (await this.reads.allSessionIds()).find((id) => handleFor(id) === idOrHandle);
      return match === undefined ? null : this.reads.session(match);
    });
  }

  async updateRolePermissions(role: string, edit: RoleEdit): Promise<RoleUpdate> {
    return this.change(async (change) => {
      await change.watch(this.keys.roles());
      const text = await this.client.hget(this.keys.roles(), role);
      const before = text === null ? null : parseStringList(text);
      const after = AuthStoreBase.plannedRole(before, edit);
      if (after === null) return { before, after: before, changed: false };
      change.write((multi) => multi.hset(this.keys.roles(), role, pythonJson(after)));
      change.audit(audit.roleSet(role, before, after));
      return { before, after, changed: true };
    });
  }

  async deleteRole(role: string): Promise<boolean> {
    return this.change(async (change) => {
      await change.watch(this.keys.roles());
      const text = await this.client.hget(this.keys.roles(), role);
      if (text === null) return false;
      change.write((multi) => multi.hdel(this.keys.roles(), role));
      change.audit(audit.roleDeleted(role, parseStringList(text)));
      return true;
    });
  }

  async purgeExpired(options: { dryRun?: boolean } = {}): Promise<UserSession[]> {
    const expired = async () => {
      const now = this.now();
      return (await this.reads.sessions(await this.reads.allSessionIds()))
        .filter((session) => !isSessionLive(session, now))
        .sort((a, b) => (a.expiresAt ?? 0) - (b.expiresAt ?? 0));
    };
    if (options.dryRun) return this.read(expired);
    return this.change(async (change) => {
      const candidates = await expired();
      await change.watch(...candidates.map((session) => this.keys.session(session.sessionId)));
      // Read again under WATCH: another process may have refreshed one in the meantime.
      const now = this.now();
      const sessions = (await this.reads.sessions(candidates.map((session) => session.sessionId))).filter((s) => !isSessionLive(s, now));
      // Redis drops expired session keys by itself but not their user-set entries (pywry removes
      // those lazily when it lists a user's sessions): remove the ones left behind too.
      const stale = await this.staleUserSetEntries(change, new Set(sessions.map((s) => s.sessionId)));
      if (sessions.length === 0 && stale.length === 0) return [];
      change.write((multi) => {
        for (const session of sessions) multi.del(this.keys.session(session.sessionId)).srem(this.keys.userSessions(session.userId), session.sessionId);
        for (const [key, ids] of stale) multi.srem(key, ...ids);
      });
      const extra = stale.length > 0 ? { stale_user_set_entries: stale.reduce((total, [, ids]) => total + ids.length, 0) } : {};
      change.audit(audit.sessionsPurged(sessions.length, new Set(sessions.map((s) => s.userId)).size, extra));
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
      for (const id of ids) pipeline.exists(this.keys.session(id));
      const replies = (await pipeline.exec()) ?? [];
      return ids.filter((_, index) => replies[index]?.[1] === 0);
    };
    const stale: Array<[string, string[]]> = [];
    for (const key of await this.reads.scanKeys(this.keys.userSessionsPattern())) {
      const candidates = await missing((await this.client.smembers(key)).filter((id) => !purging.has(id)));
      if (candidates.length === 0) continue;
      await change.watch(...candidates.map((id) => this.keys.session(id)));
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
      const record = toTokenRecord(await this.client.hgetall(this.keys.token(accessor)));
      if (!record) return null;
      return "tokenHash" in query && record.tokenHash !== query.tokenHash ? null : record;
    });
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    return this.read(async () => {
      const accessors =
        filter.subject === undefined
          ? await this.client.zrevrange(this.keys.tokens(), 0, -1)
          : await this.client.smembers(this.keys.userTokens(filter.subject));
      const now = this.now();
      return (await this.reads.tokens(accessors))
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
      change.audit(audit.tokenRenewed(old.tokenHash, record));
      return created;
    });
  }

  async findRevocation(tokenHash: string): Promise<Revocation | null> {
    return this.read(async () => toRevocation(tokenHash, await this.client.hgetall(this.keys.revocation(tokenHash))));
  }

  async tokenRevocationStatus(token: RevocationQuery): Promise<RevocationCause | null> {
    return this.read(async () => {
      const [revoked, cutoff] = await Promise.all([
        this.client.exists(this.keys.revocation(token.tokenHash)),
        this.client.hget(this.keys.cutoff(token.subject), "cutoff_at"),
      ]);
      return audit.revocationCause(revoked > 0, parseNumber(cutoff), token.issuedAt);
    });
  }

  /** One pipeline for the whole batch (for `verify --stdin`): one round trip, not one per token. */
  override async tokenRevocationStatuses(tokens: readonly RevocationQuery[]): Promise<Array<RevocationCause | null>> {
    if (tokens.length === 0) return [];
    return this.read(async () => {
      const pipeline = this.client.pipeline();
      for (const token of tokens) pipeline.exists(this.keys.revocation(token.tokenHash)).hget(this.keys.cutoff(token.subject), "cutoff_at");
      const replies = await repliesOf(pipeline);
      return tokens.map((token, index) =>
        audit.revocationCause((replies[2 * index] as number) > 0, parseNumber(replies[2 * index + 1] as string | null), token.issuedAt),
      );
    });
  }

  /** The registry entries of all the hashes in one round trip. */
  override async registryKinds(tokenHashes: readonly string[]): Promise<Array<TokenKind | null>> {
    if (tokenHashes.length === 0) return [];
    return this.read(async () => {
      const records = await this.reads.tokensInOrder(tokenHashes.map((tokenHash) => handleForHash(tokenHash)));
      return tokenHashes.map((tokenHash, index) => {
        const record = records[index];
        return record && record.tokenHash === tokenHash ? record.kind : null;
      });
    });
  }

  /**
   * The default's reads (revocation, cut-off, registry entry, the token's own session) in one
   * round trip instead of up to four, with the default's answers.
   */
  override async bearerLookup(query: BearerQuery): Promise<BearerLookup> {
    return this.read(async () => {
      const [revoked, cutoff, entry, own] = await repliesOf(
        this.client
          .pipeline()
          .exists(this.keys.revocation(query.tokenHash))
          .hget(this.keys.cutoff(query.subject), "cutoff_at")
          .hgetall(this.keys.token(handleForHash(query.tokenHash)))
          .hgetall(this.keys.session(query.token)),
      );
      const revocation = audit.revocationCause((revoked as number) > 0, parseNumber(cutoff as string | null), query.issuedAt);
      if (revocation !== null) return { revocation, kind: null, session: null };
      const record = toTokenRecord(entry as Hash);
      const kind = record && record.tokenHash === query.tokenHash ? record.kind : null;
      if (kind === "widget") return { revocation, kind, session: null };
      const session = toSession(query.token, own as Hash);
      return { revocation, kind, session: session && isSessionLive(session, this.now()) ? session : null };
    });
  }

  async revokeUser(userId: string, reason: string | null): Promise<UserRevocation> {
    return this.change(async (change) => {
      const sessionsKey = this.keys.userSessions(userId);
      await change.watch(this.keys.cutoff(userId), sessionsKey, this.keys.userTokens(userId));
      const now = this.now();
      const cutoffAt = Math.max(now, parseNumber(await this.client.hget(this.keys.cutoff(userId), "cutoff_at")) ?? now);
      // The user set, and every other session of the user: a set that was deleted or evicted
      // must not let a session survive a user-wide revocation.
      const ids = new Set([...(await this.client.smembers(sessionsKey)), ...(await this.reads.sessionIdsOfUser(userId))]);
      await change.watch(...[...ids].map((id) => this.keys.session(id)));
      const sessions = (await this.reads.sessions([...ids])).filter((session) => session.userId === userId);
      const accessors = await this.client.smembers(this.keys.userTokens(userId));
      await change.watch(...accessors.map((accessor) => this.keys.token(accessor)));
      const revoked = (await this.reads.tokens(accessors)).filter(
        (record) => record.subject === userId && record.revokedAt === null && record.issuedAt <= cutoffAt,
      );
      change.write((multi) => {
        multi.hset(this.keys.cutoff(userId), cutoffHash(cutoffAt, reason));
        for (const session of sessions) multi.del(this.keys.session(session.sessionId));
        multi.del(sessionsKey);
        for (const record of revoked) multi.hset(this.keys.token(record.accessor), "revoked_at", String(now));
      });
      change.audit(audit.userRevoked(userId, cutoffAt, sessions.length, revoked.length, reason));
      return { userId, cutoffAt, sessionsDeleted: sessions.length };
    });
  }

  async findUserCutoff(userId: string): Promise<number | null> {
    return this.read(async () => parseNumber(await this.client.hget(this.keys.cutoff(userId), "cutoff_at")));
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.read(async () => {
      const filtered = filter.since !== undefined || filter.action !== undefined || filter.subject !== undefined;
      const limit = filter.limit === undefined ? undefined : Math.max(0, Math.trunc(filter.limit));
      if (limit === 0) return [];
      if (!filtered && limit !== undefined) {
        // The newest entries straight from the end of the stream, listed oldest first.
        const newest = await this.client.xrevrange(this.keys.audit(), "+", "-", "COUNT", limit);
        return newest.reverse().map(toAuditEntry);
      }
      const matching = (await this.client.xrange(this.keys.audit(), "-", "+")).map(toAuditEntry).filter(audit.auditEntryMatches(filter));
      return limit === undefined ? matching : matching.slice(Math.max(0, matching.length - limit));
    });
  }

  /**
   * The audit stream a page per XRANGE, oldest first, with flat memory; cursors are the entries'
   * stream ids (the entry numbers cannot be sought in a stream), "0" the start. Without a cursor,
   * `filter.limit` means the newest entries: a first walk backwards finds where they begin.
   */
  override async *auditPages(filter: AuditFilter = {}, page: PageOptions = {}): AsyncGenerator<ListPage<AuditEntry>> {
    const size = pageSizeOf(page);
    const matches = audit.auditEntryMatches(filter);
    let start = page.after === undefined ? "-" : streamCursorStart(page.after);
    let left = Number.POSITIVE_INFINITY;
    if (filter.limit !== undefined && page.after === undefined) {
      left = Math.max(0, Math.trunc(filter.limit));
      if (left === 0) return;
      start = (await this.newestMatchingFrom(matches, left, size)) ?? "-";
    }
    for (;;) {
      const from = start;
      const entries = await this.read(() => this.client.xrange(this.keys.audit(), from, "+", "COUNT", size));
      if (entries.length === 0) return;
      start = `(${entries[entries.length - 1]![0]}`;
      const out: ListPage<AuditEntry> = { rows: [], cursors: [] };
      for (const entry of entries) {
        const row = toAuditEntry(entry);
        if (!matches(row)) continue;
        out.rows.push(row);
        out.cursors.push(entry[0]);
        if ((left -= 1) <= 0) break;
      }
      if (out.rows.length > 0) yield out;
      if (left <= 0 || entries.length < size) return;
    }
  }

  /** The stream id of the `count`-th newest entry that matches, or null when fewer match. */
  private async newestMatchingFrom(matches: (entry: AuditEntry) => boolean, count: number, size: number): Promise<string | null> {
    let end = "+";
    let found = 0;
    for (;;) {
      const to = end;
      const entries = await this.read(() => this.client.xrevrange(this.keys.audit(), to, "-", "COUNT", size));
      for (const entry of entries) {
        if (matches(toAuditEntry(entry)) && (found += 1) === count) return entry[0];
      }
      if (entries.length < size) return null;
      end = `(${entries[entries.length - 1]![0]}`;
    }
  }

  async listRevocations(): Promise<Revocation[]> {
    return this.read(async () => {
      const keys = await this.reads.scanKeys(this.keys.revocationPattern());
      const hashes = await this.reads.hashes(keys);
      return keys
        .map((key, index) => toRevocation(this.keys.tokenHashOf(key), hashes[index] ?? {}))
        .filter((revocation): revocation is Revocation => revocation !== null)
        .sort((a, b) => a.revokedAt - b.revokedAt);
    });
  }

  async listUserCutoffs(): Promise<UserCutoff[]> {
    return this.read(async () => {
      const keys = await this.reads.scanKeys(this.keys.cutoffPattern());
      const hashes = await this.reads.hashes(keys);
      const cutoffs: UserCutoff[] = [];
      keys.forEach((key, index) => {
        const hash = hashes[index] ?? {};
        const cutoffAt = parseNumber(hash["cutoff_at"]);
        if (cutoffAt !== null) cutoffs.push({ userId: this.keys.cutoffUserOf(key), cutoffAt, reason: hash["reason"] ?? null });
      });
      return cutoffs.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    });
  }

  async importRecords(data: StoreTransfer, options: ImportOptions = {}): Promise<TransferCounts> {
    const bars = sessionBars(data.sessions);
    const plan = async (change: Change | null) => {
      const keys = [
        ...bars.tokenHashes.map((tokenHash) => this.keys.revocation(tokenHash)),
        ...bars.userIds.map((userId) => this.keys.cutoff(userId)),
        this.keys.roles(),
        ...data.sessions.map((s) => this.keys.session(s.sessionId)),
        ...data.tokens.map((r) => this.keys.token(r.accessor)),
        ...data.revocations.map((r) => this.keys.revocation(r.tokenHash)),
        ...data.cutoffs.map((c) => this.keys.cutoff(c.userId)),
      ];
      await change?.watch(...keys);
      const existing = emptyExisting();
      const roles = await this.client.hgetall(this.keys.roles());
      for (const role of data.roles.keys()) if (roles[role] !== undefined) existing.roles.set(role, parseStringList(roles[role]!));
      for (const session of await this.reads.sessions(data.sessions.map((s) => s.sessionId))) existing.sessions.set(session.sessionId, session);
      for (const record of await this.reads.tokens(data.tokens.map((r) => r.accessor))) existing.tokens.set(record.tokenHash, record);
      const revocations = await this.reads.hashes(data.revocations.map((r) => this.keys.revocation(r.tokenHash)));
      data.revocations.forEach((r, index) => {
        const held = toRevocation(r.tokenHash, revocations[index] ?? {});
        if (held) existing.revocations.set(r.tokenHash, held);
      });
      const cutoffs = await this.reads.hashes(data.cutoffs.map((c) => this.keys.cutoff(c.userId)));
      data.cutoffs.forEach((c, index) => {
        const held = parseNumber(cutoffs[index]?.["cutoff_at"]);
        if (held !== null) existing.cutoffs.set(c.userId, held);
      });
      const barringRevocations = await this.reads.hashes(bars.tokenHashes.map((tokenHash) => this.keys.revocation(tokenHash)));
      bars.tokenHashes.forEach((tokenHash, index) => {
        if (toRevocation(tokenHash, barringRevocations[index] ?? {})) existing.barringRevocations.add(tokenHash);
      });
      const barringCutoffs = await this.reads.hashes(bars.userIds.map((userId) => this.keys.cutoff(userId)));
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
      const previousOwners = new Map((await this.reads.sessions(sessions.map((s) => s.sessionId))).map((s) => [s.sessionId, s.userId]));
      change.write((multi) => {
        for (const [role, permissions] of roles) multi.hset(this.keys.roles(), role, pythonJson(permissions));
        for (const session of sessions) {
          const owner = previousOwners.get(session.sessionId);
          if (owner !== undefined && owner !== session.userId) multi.srem(this.keys.userSessions(owner), session.sessionId);
          const lifetime = session.expiresAt === null ? null : session.expiresAt - session.createdAt;
          this.queueSession(multi, session, lifetime, session.expiresAt === null ? null : session.expiresAt - now);
        }
        for (const record of tokens) this.queueToken(multi, record);
        for (const revocation of revocations) this.queueRevocation(multi, revocation, now);
        for (const cutoff of cutoffs) multi.hset(this.keys.cutoff(cutoff.userId), cutoffHash(cutoff.cutoffAt, cutoff.reason));
      });
      change.audit(audit.recordsImported(counts, options.source));
      return counts;
    });
  }

  async healthCheck(): Promise<HealthFinding[]> {
    return this.read(async () => {
      const findings: HealthFinding[] = [];
      const info = parseInfo(await this.client.info("server"));
      findings.push({ check: "redis", status: "ok", message: `Redis ${info["redis_version"] ?? "(unknown version)"} at ${this.location}, prefix ${JSON.stringify(this.prefix)}` });
      const version = Number((await this.client.hget(this.keys.meta(), "schema_version")) ?? 0);
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
      const key = this.keys.session(sessionId);
      await tx.watch(key);
      const session = await this.reads.session(sessionId);
      if (!session) return null;
      const metadata = AuthStoreBase.plannedMetadata(session, change);
      if (metadata === null) return session;
      tx.write((multi) => multi.hset(key, "metadata", pythonJson(metadata)));
      tx.audit(audit.sessionMetadataChanged(session, action, detail));
      return { ...session, metadata };
    });
  }

  /** Creates (or replaces, as pywry's create_session does) a session. */
  private async planSession(change: Change, spec: NewSession): Promise<UserSession> {
    const key = this.keys.session(spec.sessionId);
    await change.watch(key);
    const previousOwner = await this.client.hget(key, "user_id");
    const session = buildSession(spec, this.now(), DEFAULT_ROLES);
    change.write((multi) => {
      if (previousOwner !== null && previousOwner !== session.userId) multi.srem(this.keys.userSessions(previousOwner), session.sessionId);
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
    const key = this.keys.session(session.sessionId);
    multi.del(key).hset(key, sessionHash(session, ttl));
    if (expireIn !== null) queueExpire(multi, key, expireIn);
    multi.sadd(this.keys.userSessions(session.userId), session.sessionId);
  }

  private async planRecordToken(change: Change, record: TokenRecord, session: NewSession | null): Promise<UserSession | null> {
    const key = this.keys.token(record.accessor);
    await change.watch(key);
    if ((await this.client.exists(key)) > 0) {
      throw new StoreError(`the registry already holds a token with accessor ${record.accessor}`);
    }
    if (session) {
      await change.watch(this.keys.session(session.sessionId));
      if ((await this.client.exists(this.keys.session(session.sessionId))) > 0) throw sessionIdTaken();
    }
    change.write((multi) => this.queueToken(multi, record));
    const created = session ? await this.planSession(change, session) : null;
    change.audit(audit.tokenMinted(record, created?.roles ?? null));
    return created;
  }

  private queueToken(multi: ChainableCommander, record: TokenRecord): void {
    const key = this.keys.token(record.accessor);
    multi.del(key).hset(key, tokenHash(record)).zadd(this.keys.tokens(), record.createdAt, record.accessor).sadd(this.keys.userTokens(record.subject), record.accessor);
  }

  /** The revocation lives until the token would have expired (plus a grace for clock skew). */
  private queueRevocation(multi: ChainableCommander, revocation: Revocation, now: number): void {
    const key = this.keys.revocation(revocation.tokenHash);
    multi.del(key).hset(key, revocationHash(revocation));
    if (revocation.expiresAt !== null) {
      queueExpire(multi, key, Math.max(0, revocation.expiresAt - now) + REVOCATION_GRACE_SECONDS);
    }
  }

  private async planRevoke(change: Change, request: Omit<Revocation, "revokedAt" | "accessor">): Promise<RevokeResult> {
    const accessor = handleForHash(request.tokenHash);
    const revocationKey = this.keys.revocation(request.tokenHash);
    const tokenKey = this.keys.token(accessor);
    await change.watch(revocationKey, tokenKey);
    if (request.subject !== null) await change.watch(this.keys.userSessions(request.subject));
    const existing = toRevocation(request.tokenHash, await this.client.hgetall(revocationKey));
    const revocation: Revocation = existing ?? { ...request, accessor, revokedAt: this.now() };
    const record = toTokenRecord(await this.client.hgetall(tokenKey));
    // pywry's login makes the token the session id: delete the sessions whose id is this token.
    // Every session key is hashed, not only the user set's members: a set that was deleted or
    // evicted must not leave pywry accepting the revoked token as a cookie. (The user set is
    // watched: a session created meanwhile goes through it.)
    const matching = (await this.reads.allSessionIds()).filter((id) => sha256Hex(id) === request.tokenHash);
    await change.watch(...matching.map((id) => this.keys.session(id)));
    const sessions = (await this.reads.sessions(matching)).filter((s) => request.subject === null || s.userId === request.subject);
    const now = this.now();
    change.write((multi) => {
      if (!existing) this.queueRevocation(multi, revocation, now);
      if (record && record.tokenHash === request.tokenHash && record.revokedAt === null) {
        multi.hset(tokenKey, "revoked_at", String(revocation.revokedAt));
      }
      for (const session of sessions) multi.del(this.keys.session(session.sessionId)).srem(this.keys.userSessions(session.userId), session.sessionId);
    });
    if (!existing || sessions.length > 0) {
      change.audit(audit.tokenRevoked(request, revocation.accessor, sessions.length));
    }
    return { alreadyRevoked: existing !== null, sessionsDeleted: sessions.length, revocation: { ...revocation } };
  }

  /** Runs one change (see transaction.ts), in a store opened for writing. */
  private change<T>(plan: (change: Change) => Promise<T>): Promise<T> {
    if (!this.writable) return Promise.reject(new StoreError(`the Redis store at ${this.location} was opened read-only`));
    return this.changes.run(plan).catch((error: unknown) => Promise.reject(this.toStoreError(error)));
  }

  private async read<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.toStoreError(error);
    }
  }

  private async checkSchema(): Promise<void> {
    const version = await this.read(async () => Number((await this.client.hget(this.keys.meta(), "schema_version")) ?? 0));
    if (version > REDIS_SCHEMA_VERSION) {
      await this.close();
      throw new StoreError(
        `the pywry-auth data under ${JSON.stringify(this.prefix)} at ${this.location} was written by a newer pywry-auth (key layout ${version}, this one knows ${REDIS_SCHEMA_VERSION}); upgrade pywry-auth`,
        { code: "ERR_STORE_VERSION" },
      );
    }
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

}

/** One SCAN-family call (SCAN, SSCAN) from a cursor: the next cursor and what it found. */
type ScanStep = (from: string, count: number) => Promise<[next: string, members: string[]]>;

/** What one SCAN call covered (from its cursor to the next) and found there. */
interface ScanBatch {
  from: string;
  next: string;
  keys: readonly string[];
}

function newestFirst(a: UserSession, b: UserSession): number {
  return b.createdAt - a.createdAt || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0);
}

/** EXPIRE `seconds` on `key`, unless the lifetime is too long to be worth one (see codec's expireSeconds). */
function queueExpire(multi: ChainableCommander, key: string, seconds: number): void {
  const whole = expireSeconds(seconds);
  if (whole !== null) multi.expire(key, whole);
}

/** Where XRANGE starts after an audit cursor: a stream id ("<ms>-<seq>"), or "0" for the start. */
function streamCursorStart(cursor: string): string {
  if (cursor === "0") return "-";
  if (!/^\d{1,20}-\d{1,20}$/.test(cursor)) throw invalidCursor();
  return `(${cursor}`;
}
