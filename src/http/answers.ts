/**
 * The answers an auth failure gets: a status and a JSON body `{error: {code, message}}` with a
 * stable code. Bodies never echo what the client sent (tokens, cookies) nor a store's own error
 * text (which may name files).
 */
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

export type HttpAuthErrorCode = "ERR_UNAUTHENTICATED" | "ERR_FORBIDDEN" | "ERR_STORE" | "ERR_INTERNAL";

export interface HttpAuthFailure {
  status: 401 | 403 | 500 | 503;
  code: HttpAuthErrorCode;
  message: string;
}

export const UNAUTHENTICATED: Readonly<HttpAuthFailure> = Object.freeze({
  status: 401,
  code: "ERR_UNAUTHENTICATED",
  message: "authentication required: send a session cookie or an Authorization: Bearer token",
});

export const STORE_UNAVAILABLE: Readonly<HttpAuthFailure> = Object.freeze({
  status: 503,
  code: "ERR_STORE",
  message: "the session store is unavailable",
});

export const INTERNAL_ERROR: Readonly<HttpAuthFailure> = Object.freeze({
  status: 500,
  code: "ERR_INTERNAL",
  message: "the permission check failed",
});

export function forbidden(permission: string): HttpAuthFailure {
  return { status: 403, code: "ERR_FORBIDDEN", message: `permission denied: this needs the '${permission}' permission` };
}

/** One line of JSON (the newline keeps terminals and curl tidy). */
export function failureBody(failure: HttpAuthFailure): string {
  return `${JSON.stringify({ error: { code: failure.code, message: failure.message } })}\n`;
}

export function failureHeaders(failure: HttpAuthFailure, body: string): Record<string, string> {
  return {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
    // RFC 9110: a 401 must say how to authenticate.
    ...(failure.status === 401 ? { "WWW-Authenticate": "Bearer" } : {}),
  };
}

/** Answers a request with the failure, unless an answer has already begun (then it is cut off). */
export function sendFailure(res: ServerResponse, failure: HttpAuthFailure): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = failureBody(failure);
  res.writeHead(failure.status, failureHeaders(failure, body));
  res.end(body);
}

/**
 * Refuses a WebSocket (or any) upgrade: writes a plain HTTP answer on the raw socket, then closes
 * it. Defaults to 401 with `WWW-Authenticate: Bearer`.
 */
export function rejectUpgrade(socket: Duplex, failure: HttpAuthFailure = UNAUTHENTICATED): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = failureBody(failure);
  const headers = { Connection: "close", ...failureHeaders(failure, body) };
  const head = [`HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? ""}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  // Close once the answer is flushed; a client that never reads must not hold the socket open.
  socket.once("finish", () => socket.destroy());
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
}
