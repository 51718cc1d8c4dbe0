/** pywry-auth: the library API. Every export is named here. */
export {
  generateSessionToken,
  validateSessionToken,
  generateWidgetToken,
  validateWidgetToken,
  verifyToken,
} from "./auth.js";
export { decodeToken, parsePythonInt, MAX_TOKEN_LENGTH, MAX_EXPIRY, MAX_CLOCK_SKEW_SECONDS } from "./core/token.js";
// Session metadata as pywry wrote it: numbers JavaScript would change are PythonNumbers.
export { PythonNumber, parsePythonJson, jsonText, pythonJson, unreadableReason } from "./core/pyjson.js";
export { DEFAULT_ROLE_PERMISSIONS, DEFAULT_ROLES, getRolePermissions, hasPermission, isAdmin, grantSource } from "./core/rbac.js";
export { createAuthConfig, AUTH_CONFIG_DEFAULTS, DEFAULT_WIDGET_TTL } from "./core/config.js";
export { handleFor, sha256Hex } from "./core/handles.js";
export { parseTtl, parseInstant } from "./core/duration.js";
export {
  PywryAuthError,
  TokenError,
  InvalidInputError,
  SecretError,
  StoreError,
  NotFoundError,
  isPywryAuthError,
  TOKEN_ERROR_CODES,
} from "./core/errors.js";
export { SqliteSessionStore } from "./store/sqlite/store.js";
export { sqliteFileFormat } from "./store/sqlite/connection.js";
export { resolveSqliteKey, requireSqliteKey, pywrySaltKey } from "./store/sqlite/key.js";
export { pythonNode } from "./store/sqlite/node-id.js";
export { MemorySessionStore } from "./store/memory.js";
export { AuthStoreBase } from "./store/base.js";

export type { ClockOption, SessionTokenResult, VerifyOptions } from "./auth.js";
export type { Clock } from "./core/clock.js";
export type { DecodedToken, TokenClaims, TokenFailure, TokenValidation } from "./core/token.js";
export type { AuthConfig } from "./core/config.js";
export type { GrantSource } from "./core/rbac.js";
export type { JsonStyle } from "./core/pyjson.js";
export type { UserSession } from "./core/session.js";
export type { ErrorCode, TokenErrorCode } from "./core/errors.js";
export type { SqliteStoreOptions } from "./store/sqlite/store.js";
export type { SqliteEncryption, SqliteFileFormat } from "./store/sqlite/connection.js";
export type { KeyFile, KeyResolution, KeySourceOptions, ResolvedKey } from "./store/sqlite/key.js";
export type { MemoryStoreOptions } from "./store/memory.js";
export type { MetadataChange } from "./store/base.js";
export type {
  AuthStore,
  SessionStore,
  NewSession,
  Revocation,
  RevokeResult,
  SessionFilter,
  TokenFilter,
  TokenKind,
  TokenRecord,
  AuditEntry,
  AuditFilter,
  RevocationCause,
  UserRevocation,
  UserCutoff,
  StoreTransfer,
  TransferCount,
  TransferCounts,
  TransferKind,
  ImportOptions,
  BearerLookup,
  BearerQuery,
} from "./store/types.js";
// The Redis store is its own entry point, "pywry-auth/redis", so that importing the library never
// loads the Redis driver; only its option types are named here (types cost nothing at run time).
export type { RedisStoreOptions } from "./store/redis/index.js";

export { resolveSession, resolveSessionFromRequest } from "./http/resolve.js";
export { createAuthMiddleware, sessionOf } from "./http/middleware.js";
export { requireAuth, requirePermission } from "./http/guards.js";
export { authenticateUpgrade } from "./http/upgrade.js";
export { rejectUpgrade } from "./http/answers.js";
export { MAX_AUTH_HEADER_LENGTH } from "./http/credentials.js";
export type { ResolveSessionOptions, SessionResolverStore } from "./http/resolve.js";
export type {
  AuthMiddlewareOptions,
  AuthMiddlewareStore,
  AuthRequestHandler,
  AuthState,
  AuthenticatedRequest,
  NextFunction,
  StoreErrorHandling,
} from "./http/middleware.js";
export type { RequirePermissionOptions, ResourceRef } from "./http/guards.js";
export type { AuthenticateUpgradeOptions, UpgradeAuthentication } from "./http/upgrade.js";
export type { HttpAuthErrorCode, HttpAuthFailure } from "./http/answers.js";
export type { FetchRequestLike, NodeRequestLike } from "./http/credentials.js";
