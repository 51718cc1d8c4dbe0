/**
 * Reading records from Redis in bulk: many hashes in one round trip (a pipeline, or one read-only
 * script where the server runs it), and whole-keyspace walks with SCAN, never KEYS.
 */
import type { ChainableCommander, Redis } from "ioredis";
import type { UserSession } from "../../core/session.js";
import type { TokenRecord } from "../types.js";
import { toSession, toTokenRecord, type Hash } from "./codec.js";
import type { RedisKeys } from "./keys.js";

const SCAN_COUNT = 500;

/** HGETALL of every key given; a key that is not a hash gives an empty list. Reads only. */
const HGETALL_MANY_SCRIPT = `#!lua flags=no-writes
local out = {}
for i, key in ipairs(KEYS) do
  local reply = redis.pcall('HGETALL', key)
  if type(reply) == 'table' and reply.err == nil then out[i] = reply else out[i] = {} end
end
return out
`;

export class Reads {
  /** Whether the server refused a read-only script once (see hashesInOneScript). */
  private scriptsRefused = false;

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** A session, expired ones included; null when there is no such key. */
  async session(sessionId: string): Promise<UserSession | null> {
    return toSession(sessionId, await this.client.hgetall(this.keys.session(sessionId)));
  }

  /** The sessions there are of these ids (in one round trip). */
  async sessions(ids: readonly string[]): Promise<UserSession[]> {
    const hashes = await this.hashes(ids.map((id) => this.keys.session(id)));
    return ids.map((id, index) => toSession(id, hashes[index] ?? {})).filter((s): s is UserSession => s !== null);
  }

  /** Registry entries for these accessors, in their order (null where one is gone). */
  async tokensInOrder(accessors: readonly string[]): Promise<Array<TokenRecord | null>> {
    const hashes = await this.hashes(accessors.map((accessor) => this.keys.token(accessor)));
    return hashes.map(toTokenRecord);
  }

  /** The registry entries there are of these accessors. */
  async tokens(accessors: readonly string[]): Promise<TokenRecord[]> {
    const hashes = await this.hashes(accessors.map((accessor) => this.keys.token(accessor)));
    return hashes.map(toTokenRecord).filter((record): record is TokenRecord => record !== null);
  }

  /** HGETALL for many keys in one round trip; a key of another type reads as missing. */
  async hashes(keys: readonly string[]): Promise<Hash[]> {
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
  async hashesInOneScript(keys: readonly string[]): Promise<Hash[]> {
    if (keys.length === 0) return [];
    if (this.scriptsRefused) return this.hashes(keys);
    let replies: string[][];
    try {
      replies = (await this.client.eval(HGETALL_MANY_SCRIPT, keys.length, ...keys)) as string[][];
    } catch (error) {
      // A server that runs no scripts for us (an ACL without EVAL, a read-only replica before
      // Redis 7's no-writes flag, a managed service): the pipeline reads the same, more slowly.
      if (!(error instanceof Error) || !/ERR|NOPERM|NOSCRIPT|READONLY|unknown command/i.test(error.message)) throw error;
      this.scriptsRefused = true;
      return this.hashes(keys);
    }
    return replies.map((flat) => {
      const hash: Hash = {};
      for (let index = 0; index + 1 < flat.length; index += 2) hash[flat[index]!] = flat[index + 1]!;
      return hash;
    });
  }

  /** Every session id whose hash names this user, by scanning (not trusting the user set). */
  async sessionIdsOfUser(userId: string): Promise<string[]> {
    const ids = await this.allSessionIds();
    if (ids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.hget(this.keys.session(id), "user_id");
    const replies = (await pipeline.exec()) ?? [];
    return ids.filter((_, index) => replies[index]?.[1] === userId);
  }

  /** Every session id, by SCAN (never KEYS). */
  async allSessionIds(): Promise<string[]> {
    return (await this.scanKeys(this.keys.sessionPattern())).map((key) => this.keys.sessionIdOf(key));
  }

  /** Every key matching `pattern`, by a whole SCAN walk, sorted. */
  async scanKeys(pattern: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const [next, batch] = await this.client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");
    return [...keys].sort();
  }
}

/** A pipeline's replies in order; the first error any command met is thrown. */
export async function repliesOf(pipeline: ChainableCommander): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
