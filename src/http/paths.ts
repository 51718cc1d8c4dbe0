/**
 * Public paths, matched on whole path segments of the normalised path. pywry tests
 * `path.startswith(p)`, so its `/auth` also covers `/authx` and `/auth/../admin`.
 */
import { InvalidInputError } from "../core/errors.js";
import { splitTarget } from "./credentials.js";

const CONTROL_CHARACTER = /\p{Cc}/u;

/**
 * The segments of a path after percent-decoding each one and resolving `.` and `..` (as a browser
 * or `new URL` would; `%2e%2e` counts as `..`), with empty segments dropped. Null for a path that
 * cannot be read one way only: invalid percent-encoding, an encoded `/`, a `\` (which some
 * servers and proxies treat as `/`) or a control character.
 */
export function normalisedSegments(path: string): string[] | null {
  if (!path.startsWith("/")) return null;
  const segments: string[] = [];
  for (const raw of path.split("/")) {
    if (raw === "") continue;
    const segment = decodeSegment(raw);
    if (segment === null || segment.includes("/") || segment.includes("\\") || CONTROL_CHARACTER.test(segment)) return null;
    if (segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return segments;
}

/** A predicate saying whether a request target (`/auth/login?x=1`) is under one of `publicPaths`. */
export function publicPathMatcher(publicPaths: readonly string[]): (target: string) => boolean {
  if (!Array.isArray(publicPaths)) throw new InvalidInputError("publicPaths must be an array of paths");
  const prefixes = publicPaths.map(publicPrefix);
  if (prefixes.length === 0) return () => false;
  return (target) => {
    const { path } = splitTarget(target);
    // A path we cannot read unambiguously is not public: its session is resolved as usual.
    const segments = path === null ? null : normalisedSegments(path);
    return segments !== null && prefixes.some((prefix) => startsWithSegments(segments, prefix));
  };
}

function publicPrefix(entry: unknown): string[] {
  const segments = typeof entry === "string" ? normalisedSegments(entry) : null;
  if (segments === null) {
    throw new InvalidInputError(`public path ${JSON.stringify(entry)} must be a path starting with '/' (like "/auth")`);
  }
  // "/auth/.." would quietly make every path public.
  if ((entry as string).split("/").some((raw) => DOT_SEGMENT.test(raw))) {
    throw new InvalidInputError(`public path ${JSON.stringify(entry)} must not contain '.' or '..' segments`);
  }
  return segments;
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

function startsWithSegments(segments: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= segments.length && prefix.every((segment, index) => segments[index] === segment);
}

function decodeSegment(raw: string): string | null {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}
