/**
 * The Redis key layout: pywry's keys, written exactly as pywry writes them, and pywry-auth's own,
 * all under one prefix ({prefix} is "pywry" unless configured).
 *
 *   {prefix}:session:{session_id}      hash of strings: user_id, roles (JSON), created_at and
 *                                      expires_at (Python float text), ttl (int text), metadata
 *                                      (JSON); EXPIRE = ttl
 *   {prefix}:user:{user_id}:sessions   set of session ids
 *   {prefix}:role_permissions          hash role -> JSON list (pywry never seeds it)
 * pywry-auth's own keys, all under {prefix}:auth:
 *   token:{accessor}                   registry entry (hash), never the token itself
 *   tokens                             sorted set of accessors by creation time
 *   user:{subject}:tokens              set of the subject's accessors (for revoke --user)
 *   revoked:{token_hash}               revocation (hash), EXPIRE at the token's expiry + grace
 *   cutoff:{user_id}                   user-wide revocation cut-off (hash)
 *   audit                              the audit log, a stream (XADD MAXLEN ~)
 *   audit:seq                          the audit entries' numbers
 *   meta                               schema_version
 */

/** The pywry-auth key layout version, kept in {prefix}:auth:meta. */
export const REDIS_SCHEMA_VERSION = 1;
export const DEFAULT_PREFIX = "pywry";

export class RedisKeys {
  constructor(readonly prefix: string) {}

  session(sessionId: string): string {
    return `${this.prefix}:session:${sessionId}`;
  }
  userSessions(userId: string): string {
    return `${this.prefix}:user:${userId}:sessions`;
  }
  roles(): string {
    return `${this.prefix}:role_permissions`;
  }
  token(accessor: string): string {
    return `${this.prefix}:auth:token:${accessor}`;
  }
  tokens(): string {
    return `${this.prefix}:auth:tokens`;
  }
  userTokens(subject: string): string {
    return `${this.prefix}:auth:user:${subject}:tokens`;
  }
  revocation(tokenHash: string): string {
    return `${this.prefix}:auth:revoked:${tokenHash}`;
  }
  cutoff(userId: string): string {
    return `${this.prefix}:auth:cutoff:${userId}`;
  }
  audit(): string {
    return `${this.prefix}:auth:audit`;
  }
  auditSeq(): string {
    return `${this.prefix}:auth:audit:seq`;
  }
  meta(): string {
    return `${this.prefix}:auth:meta`;
  }

  // ---- SCAN patterns, and the ids in the keys they find ----------------------------------

  sessionPattern(): string {
    return `${globEscape(this.prefix)}:session:*`;
  }
  /** The session id in a session key. */
  sessionIdOf(key: string): string {
    return key.slice(`${this.prefix}:session:`.length);
  }
  userSessionsPattern(): string {
    return `${globEscape(this.prefix)}:user:*:sessions`;
  }
  revocationPattern(): string {
    return `${globEscape(this.prefix)}:auth:revoked:*`;
  }
  /** The token hash in a revocation key. */
  tokenHashOf(key: string): string {
    return key.slice(`${this.prefix}:auth:revoked:`.length);
  }
  cutoffPattern(): string {
    return `${globEscape(this.prefix)}:auth:cutoff:*`;
  }
  /** The user id in a cut-off key. */
  cutoffUserOf(key: string): string {
    return key.slice(`${this.prefix}:auth:cutoff:`.length);
  }
}

/** Escapes glob characters so a prefix matches only itself in SCAN MATCH. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
