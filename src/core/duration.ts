/**
 * The one duration grammar of pywry-auth (flags, environment, config file, init's wizard), and
 * instants.
 *
 * Durations are Go's / Vault's compound form: one or more `<number><unit>` with no spaces,
 * `1h30m`, `90s`, `36h`, `1.5h`, `7d`, `2w`; a bare whole number is seconds (`3600`).
 * Units: `ms`, `s`, `m`, `h`, `d` (24h), `w` (7d), lower-case only. Refused, each with its reason:
 * upper-case units (`15M`: minutes or months?), months and years (not fixed lengths), anything
 * that does not come to a whole number of seconds (`1.5`, `1500ms`), anything under a second
 * (`500ms`), zero, negatives, and more than 100 years.
 *
 * Hand-written because no kept library fits: `ms` reads `15M` as minutes and `1.5` as 1.5 s and
 * has no compound form; parse-duration guesses ("15M", "1 hour and 2 minutes"); the port of Go's
 * parser (@arcjet/duration) needs Node 22. The grammar is small and the tests pin it down.
 */
import { InvalidInputError } from "./errors.js";
import { looksLikeCredential } from "./redact.js";

const EPOCH_SECONDS = /^-?\d+(\.\d+)?$/;

/** Seconds in each unit, in thousandths so that `ms` adds up exactly. */
const UNIT_MILLIS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const WHOLE_SECONDS = /^\d+$/;
const PART = /(\d+(?:\.\d+)?|\.\d+)([a-zA-Zµ]+)/y;
/** The longest duration accepted: 100 years of 365.25 days (anything longer is surely a typo). */
export const MAX_DURATION_SECONDS = 100 * 36525 * 864;

export const DURATION_HELP = "use whole seconds (3600) or a duration like 90s, 15m, 1h30m, 24h, 7d, 2w";

/**
 * A duration in whole seconds, or an ERR_INVALID_INPUT error saying what is wrong with `text` (after
 * `name`, the flag or setting it came from, when given).
 */
export function parseDuration(text: string, name?: string): number {
  const result = readDuration(text);
  if (typeof result === "string") throw new InvalidInputError(name ? `${name}: ${result}` : result);
  return result;
}

/** The same as parseDuration, for callers that report problems themselves: seconds, or why not. */
export function readDuration(text: string): number | string {
  const trimmed = text.trim();
  // A token or secret pasted here by mistake must not be echoed (nor any part of it).
  if (looksLikeCredential(trimmed)) return `invalid duration (not shown: it looks like a token or secret): ${DURATION_HELP}`;
  const shown = JSON.stringify(text);
  if (trimmed === "") return `empty duration: ${DURATION_HELP}`;
  if (trimmed.startsWith("-")) return `invalid duration ${shown}: a duration cannot be negative`;
  const millis = WHOLE_SECONDS.test(trimmed) ? Number(trimmed) * 1000 : compoundMillis(trimmed, shown);
  if (typeof millis === "string") return millis;
  return secondsOf(millis, shown);
}

/** A TTL in whole seconds (the name the library has always exported). */
export function parseTtl(text: string, name?: string): number {
  return parseDuration(text, name);
}

/** A duration given as a number (a config file's `"sessionTtl": 3600`): whole seconds, in range. */
export function readDurationSeconds(value: number): number | string {
  if (!Number.isFinite(value)) return `invalid duration ${value}: ${DURATION_HELP}`;
  if (value < 0) return `invalid duration ${value}: a duration cannot be negative`;
  return secondsOf(value * 1000, String(value));
}

function compoundMillis(text: string, shown: string): number | string {
  if (/^\d+\.\d+$/.test(text) || /^\.\d+$/.test(text)) {
    return `invalid duration ${shown}: a bare number is whole seconds; for fractions give a unit (1.5h), and durations are whole seconds`;
  }
  let millis = 0;
  PART.lastIndex = 0;
  let index = 0;
  while (index < text.length) {
    PART.lastIndex = index;
    const match = PART.exec(text);
    if (!match) return `invalid duration ${shown}: ${DURATION_HELP}`;
    const [, amount = "", unit = ""] = match;
    const size = UNIT_MILLIS[unit];
    if (size === undefined) return unknownUnit(unit, shown);
    millis += Number(amount) * size;
    index = PART.lastIndex;
  }
  return millis;
}

function unknownUnit(unit: string, shown: string): string {
  if (UNIT_MILLIS[unit.toLowerCase()] !== undefined) {
    return `invalid duration ${shown}: units are lower-case (s, m, h, d, w); "${unit}" is ambiguous (M: minutes or months?)`;
  }
  if (/^(y|yr|yrs|year|years|mo|mon|month|months)$/i.test(unit)) {
    return `invalid duration ${shown}: months and years have no fixed length; use days or weeks (30d, 52w)`;
  }
  if (/^(us|µs|ns)$/.test(unit)) return `invalid duration ${shown}: pywry-auth counts whole seconds; ${DURATION_HELP}`;
  return `invalid duration ${shown}: unknown unit "${unit}"; ${DURATION_HELP}`;
}

function secondsOf(millis: number, shown: string): number | string {
  // Decimal fractions (0.1h) are not exact in binary: round to the millisecond they were meant as.
  const exact = Math.round(millis);
  if (Math.abs(exact - millis) > 1e-6 * Math.max(1, millis)) return `invalid duration ${shown}: durations are whole seconds`;
  if (exact === 0) return `invalid duration ${shown}: a duration must be longer than zero`;
  if (exact < 1000) return `invalid duration ${shown}: that is under a second, and durations are whole seconds (the shortest is 1s)`;
  if (exact % 1000 !== 0) return `invalid duration ${shown}: that is ${exact / 1000}s, and durations are whole seconds`;
  const seconds = exact / 1000;
  if (seconds > MAX_DURATION_SECONDS) return `invalid duration ${shown}: longer than 100 years`;
  return seconds;
}

/** An instant in Unix seconds, from epoch seconds or an ISO 8601 date-time. */
export function parseInstant(text: string): number {
  const trimmed = text.trim();
  if (EPOCH_SECONDS.test(trimmed)) return Number(trimmed);
  // Date.parse accepts many loose forms; require something that starts like an ISO date.
  const millis = /^\d{4}-\d{2}-\d{2}/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(millis)) {
    throw new InvalidInputError(`invalid time '${text}': use Unix seconds or ISO 8601 (2026-01-31T12:00:00Z)`);
  }
  return millis / 1000;
}
