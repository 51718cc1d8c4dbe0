/** Parsing of the human time inputs the CLI accepts: TTLs ("3600", "15m", "7d") and instants. */
import ms from "ms";
import { InvalidInputError } from "./errors.js";

const PLAIN_SECONDS = /^\d+(\.\d+)?$/;
const EPOCH_SECONDS = /^-?\d+(\.\d+)?$/;

/** A TTL in seconds. Bare numbers are seconds; otherwise `ms` units (s, m, h, d, w, y). */
export function parseTtl(text: string): number {
  const trimmed = text.trim();
  const seconds = PLAIN_SECONDS.test(trimmed) ? Number(trimmed) : msToSeconds(trimmed);
  if (seconds === null || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidInputError(`invalid TTL '${text}': use seconds (3600) or a duration like 15m, 24h, 7d`, "ERR_USAGE");
  }
  return seconds;
}

/** An instant in Unix seconds, from epoch seconds or an ISO 8601 date-time. */
export function parseInstant(text: string): number {
  const trimmed = text.trim();
  if (EPOCH_SECONDS.test(trimmed)) return Number(trimmed);
  // Date.parse accepts many loose forms; require something that starts like an ISO date.
  const millis = /^\d{4}-\d{2}-\d{2}/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(millis)) {
    throw new InvalidInputError(`invalid time '${text}': use Unix seconds or ISO 8601 (2026-01-31T12:00:00Z)`, "ERR_USAGE");
  }
  return millis / 1000;
}

function msToSeconds(text: string): number | null {
  // ms() returns undefined for text it cannot read (and throws on non-strings / empty strings).
  let millis: number | undefined;
  try {
    millis = ms(text as ms.StringValue);
  } catch {
    return null;
  }
  return typeof millis === "number" ? millis / 1000 : null;
}
