/**
 * RedisSessionStore: pywry's Redis key layout. Not built yet (issue: "Redis store with pywry's
 * key layout"); until then a redis:// store is refused with a clear error instead of a crash.
 */
import { StoreError } from "../core/errors.js";
import type { AuthStore } from "./types.js";

export interface RedisStoreOptions {
  prefix?: string;
  mode?: "read" | "write";
}

export class RedisSessionStore {
  static async connect(_url: string, _options: RedisStoreOptions = {}): Promise<AuthStore> {
    throw new StoreError("Redis stores are not supported by this version of pywry-auth yet; use a SQLite store");
  }
}
