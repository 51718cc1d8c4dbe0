import { cloneJson } from "./pyjson.js";

/** A pywry session as the library sees it; times are Unix seconds (floats), as pywry stores them. */
export interface UserSession {
  sessionId: string;
  userId: string;
  roles: string[];
  createdAt: number;
  /** null: the session never expires. */
  expiresAt: number | null;
  metadata: Record<string, unknown>;
}

export function isSessionLive(session: Pick<UserSession, "expiresAt">, now: number): boolean {
  // pywry: `if expires_at and now > expires_at` -> expired; 0/None never expire.
  return !session.expiresAt || now <= session.expiresAt;
}

export interface SessionSpec {
  sessionId: string;
  userId: string;
  roles?: string[];
  /** Seconds from now; omitted, null or 0 for a session that never expires (pywry's `if ttl`). */
  ttl?: number | null;
  metadata?: Record<string, unknown>;
}

/** The session pywry's create_session would build at `now`: roles default to viewer. */
export function buildSession(spec: SessionSpec, now: number, defaultRoles: readonly string[]): UserSession {
  return {
    sessionId: spec.sessionId,
    userId: spec.userId,
    roles: spec.roles && spec.roles.length > 0 ? [...spec.roles] : [...defaultRoles],
    createdAt: now,
    expiresAt: spec.ttl ? now + spec.ttl : null,
    metadata: cloneJson(spec.metadata ?? {}),
  };
}
