/**
 * pywry's stored formats, read and written the same way by every backend: JSON lists and objects
 * as pywry's `json.dumps` writes them (roles, permissions, metadata, audit details), and times as
 * Python's `str(float)` writes them (pywry's Redis hashes). What cannot be read is read as empty,
 * never thrown: a row another program damaged must not make a whole listing fail.
 */
import { handleFor } from "../core/handles.js";
import { readMetadata } from "../core/pyjson.js";
import type { UserSession } from "../core/session.js";

/**
 * A stored session, decoded: roles from their JSON text, metadata as every read gives it
 * (readMetadata: Python's numbers kept, unreadable text marked, never rewritten). Positional, so
 * the hot reads build no object but the session.
 */
export function decodeSession(
  sessionId: string,
  userId: string,
  roles: string,
  createdAt: number,
  expiresAt: number | null,
  metadata: string | null | undefined,
): UserSession {
  return {
    sessionId,
    userId,
    roles: parseStringList(roles),
    createdAt,
    expiresAt,
    metadata: readMetadata(metadata, () => `session ${handleFor(sessionId)}`),
  };
}

/** A JSON list of strings (roles, permissions); anything else reads as an empty list. */
export function parseStringList(text: string): string[] {
  const value: unknown = safeJson(text);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** A registry entry's roles: none recorded (null), or the list. */
export function parseOptionalStringList(text: string | null | undefined): string[] | null {
  return text === null || text === undefined ? null : parseStringList(text);
}

/** A JSON object (an audit entry's detail); anything else reads as an empty object. */
export function parseObject(text: string | null | undefined): Record<string, unknown> {
  const value: unknown = text ? safeJson(text) : {};
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * A number as Python's `str(float)` writes it ("1795789328.0072298", "1800000000.0", "1e+16"),
 * which is what pywry stores for created_at and expires_at.
 */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (Object.is(value, -0)) return "-0.0";
  const sign = value < 0 ? "-" : "";
  // toExponential() without a precision gives the shortest digits that read back as the same
  // number, as Python's repr does.
  const [mantissa = "", exponentText = "0"] = Math.abs(value).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${head}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  return `${sign}${whole}.${digits.slice(exponent + 1) || "0"}`;
}

/** A number stored as text (Python's float or int text); null for none, or for text that is not one. */
export function parseNumber(text: string | null | undefined): number | null {
  if (text === null || text === undefined || text.trim() === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}
