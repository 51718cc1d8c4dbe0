/**
 * Every failure the library reports carries a stable `code`; callers (and the CLI's exit-code table)
 * branch on the code, never on message text, which may be reworded. These are the library's
 * codes; the command line adds its own (ERR_USAGE, ERR_CONFIG: src/cli/errors.ts).
 */

export const TOKEN_ERROR_CODES = [
  "ERR_TOKEN_MALFORMED",
  "ERR_TOKEN_SIGNATURE",
  "ERR_TOKEN_EXPIRED",
  "ERR_TOKEN_REVOKED",
  "ERR_TOKEN_SUBJECT",
  "ERR_TOKEN_NOT_YET_VALID",
  "ERR_TOKEN_KIND",
] as const;
export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[number];

export type ErrorCode =
  | TokenErrorCode
  | "ERR_INVALID_INPUT"
  | "ERR_NO_SECRET"
  | "ERR_SECRET"
  | "ERR_STORE"
  | "ERR_STORE_VERSION"
  | "ERR_STORE_KEY"
  | "ERR_NOT_FOUND"
  | "ERR_CANCELLED";

export class PywryAuthError<Code extends string = ErrorCode> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A token did not validate. Thrown only by the asserting helpers; validation itself returns results. */
export class TokenError extends PywryAuthError {
  declare readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string) {
    super(code, message);
  }
}

/** The caller asked for something that cannot be done as asked (bad id, bad TTL, bad cursor). */
export class InvalidInputError extends PywryAuthError {
  constructor(message: string) {
    super("ERR_INVALID_INPUT", message);
  }
}

/** No signing secret is configured, or the one configured cannot be used. */
export class SecretError extends PywryAuthError {
  constructor(message: string, code: "ERR_NO_SECRET" | "ERR_SECRET" = "ERR_NO_SECRET") {
    super(code, message);
  }
}

/** The session store cannot be opened, read or written. */
export class StoreError extends PywryAuthError {
  constructor(message: string, options?: { cause?: unknown; code?: "ERR_STORE" | "ERR_STORE_VERSION" | "ERR_STORE_KEY" }) {
    super(options?.code ?? "ERR_STORE", message, { cause: options?.cause });
  }
}

/** A session, token, accessor or role that was named does not exist. */
export class NotFoundError extends PywryAuthError {
  constructor(message: string) {
    super("ERR_NOT_FOUND", message);
  }
}

/** The operator stopped a prompt (Ctrl-C) or declined to go on; nothing was changed. */
export class CancelledError extends PywryAuthError {
  constructor(message = "cancelled: nothing was changed") {
    super("ERR_CANCELLED", message);
  }
}

export function isPywryAuthError(value: unknown): value is PywryAuthError<string> {
  return value instanceof PywryAuthError;
}
