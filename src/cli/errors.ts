/**
 * The command line's own errors and the one table that turns any error's code into an exit code.
 * The library (core, store, http) throws only its own codes (src/core/errors.ts); a usage
 * mistake and a broken configuration are the command line's to report.
 */
import { InvalidInputError, PywryAuthError, type ErrorCode } from "../core/errors.js";

/** The codes only the command line reports. */
export type CliErrorCode = "ERR_USAGE" | "ERR_CONFIG";

/** The command line was used wrongly: an unknown flag, a bad flag value, a missing confirmation. */
export class UsageError extends PywryAuthError<CliErrorCode> {
  constructor(message: string) {
    super("ERR_USAGE", message);
  }
}

/** The configuration (file or environment) cannot be read or holds something unusable. */
export class ConfigError extends PywryAuthError<CliErrorCode> {
  constructor(message: string) {
    super("ERR_CONFIG", message);
  }
}

export const EXIT = { ok: 0, no: 1, usage: 2, environment: 3, notFound: 4, internal: 70, cancelled: 130 } as const;

const EXIT_BY_CODE: Record<ErrorCode | CliErrorCode, number> = {
  ERR_TOKEN_MALFORMED: EXIT.usage,
  ERR_TOKEN_SIGNATURE: EXIT.no,
  ERR_TOKEN_EXPIRED: EXIT.no,
  ERR_TOKEN_REVOKED: EXIT.no,
  ERR_TOKEN_SUBJECT: EXIT.no,
  ERR_TOKEN_NOT_YET_VALID: EXIT.no,
  ERR_TOKEN_KIND: EXIT.no,
  ERR_USAGE: EXIT.usage,
  ERR_INVALID_INPUT: EXIT.usage,
  ERR_NO_SECRET: EXIT.environment,
  ERR_SECRET: EXIT.environment,
  ERR_STORE: EXIT.environment,
  ERR_STORE_VERSION: EXIT.environment,
  ERR_STORE_KEY: EXIT.environment,
  ERR_CONFIG: EXIT.environment,
  ERR_NOT_FOUND: EXIT.notFound,
  ERR_CANCELLED: EXIT.cancelled,
};

/** The exit code for an error's code; an unknown code is a bug in pywry-auth. */
export function exitCodeFor(code: string): number {
  return Object.hasOwn(EXIT_BY_CODE, code) ? EXIT_BY_CODE[code as keyof typeof EXIT_BY_CODE] : EXIT.internal;
}

/**
 * Runs `parse` on what the user typed (a flag's value, a file they named): the library's
 * ERR_INVALID_INPUT about it is, to the command line, the user's usage mistake.
 */
export function asUsage<A extends unknown[], T>(parse: (...args: A) => T, ...args: A): T {
  try {
    return parse(...args);
  } catch (error) {
    throw usageErrorFrom(error);
  }
}

/** The pages of a list that continues after --after's cursor: a cursor the store did not make is a usage mistake. */
export async function* pagesAfterFlag<T>(pages: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  try {
    yield* pages;
  } catch (error) {
    throw usageErrorFrom(error);
  }
}

function usageErrorFrom(error: unknown): unknown {
  return error instanceof InvalidInputError ? new UsageError(error.message) : error;
}
