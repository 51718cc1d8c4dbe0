/**
 * The Redis store's public entry point, "pywry-auth/redis": the only way in to the code that loads
 * the Redis driver, so that a SQLite-only use of pywry-auth never loads it.
 */
export { RedisSessionStore, REVOCATION_GRACE_SECONDS, type RedisStoreOptions } from "./store.js";
export { REDIS_SCHEMA_VERSION } from "./keys.js";
export { pythonFloat } from "../codec.js";
export { redactUrl, parseRedisUrl, isRedisUrl } from "./url.js";
