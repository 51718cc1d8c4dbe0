/**
 * Redis store URLs: `redis://[user:pass@]host:port/db` and `rediss://` (TLS). Kept apart from the
 * store so that showing a URL (config, errors) never loads the Redis driver.
 */
import { InvalidInputError } from "../../core/errors.js";
import { redactUrl } from "../../core/redact.js";

export { redactUrl };

const REDIS_SCHEME = /^(rediss?):\/\//i;
/** Query parameters the driver accepts as credentials (`?password=...`). */

export interface RedisTarget {
  /** The URL to hand to the driver: scheme lower-cased (the driver switches TLS on `rediss://` only). */
  url: string;
  /** The same URL with any password replaced by `***`: the only form that may be shown. */
  shown: string;
  tls: boolean;
  db: number;
}

export function isRedisUrl(text: string): boolean {
  return REDIS_SCHEME.test(text);
}


/** Checks a Redis URL before anything connects; misuse is a usage error that never shows the password. */
export function parseRedisUrl(text: string): RedisTarget {
  const scheme = REDIS_SCHEME.exec(text);
  const shown = redactUrl(text);
  if (!scheme) throw new InvalidInputError(`not a Redis URL: ${shown} (expected redis://[user:pass@]host:port/db or rediss://...)`);
  const normalised = `${scheme[1]?.toLowerCase()}://${text.slice(scheme[0].length)}`;
  let url: URL;
  try {
    url = new URL(normalised);
  } catch {
    throw new InvalidInputError(`not a valid Redis URL: ${shown}`);
  }
  const path = url.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d+$/.test(path)) {
    throw new InvalidInputError(`the database in a Redis URL is a number (redis://host:port/0), not ${JSON.stringify(decodeURIComponent(path))}: ${shown}`);
  }
  return { url: normalised, shown: redactUrl(normalised), tls: url.protocol === "rediss:", db: path === "" ? 0 : Number(path) };
}
