/** `session list|show|delete`. Session ids are credentials: shown only with --reveal. */
import { NotFoundError } from "../../core/errors.js";
import { handleFor } from "../../core/handles.js";
import { isSessionLive, type UserSession } from "../../core/session.js";
import { openStore, type Context } from "../context.js";
import { isoTime, whenText, type Output } from "../output.js";

/** pywry inserts this permanent admin session into an empty store; its id is a well-known cookie. */
const PYWRY_LOCAL_SESSION = "local";

interface SessionListOptions {
  user?: string;
  all?: boolean;
  reveal?: boolean;
}

export async function sessionList(context: Context, output: Output, options: SessionListOptions): Promise<void> {
  const store = await openStore(context, "read");
  let sessions: UserSession[];
  try {
    sessions = await store.listSessions({ userId: options.user, includeExpired: options.all });
  } finally {
    await store.close();
  }
  const now = Date.now() / 1000;
  if (sessions.some((session) => session.sessionId === PYWRY_LOCAL_SESSION && session.expiresAt === null)) {
    output.warn(
      `session ${handleFor(PYWRY_LOCAL_SESSION)} is pywry's built-in permanent admin session "local": ` +
        `anyone who sends the cookie value "local" is admin. Delete it unless this is a single-user desktop app.`,
    );
  }
  const columns = ["HANDLE", "USER", "ROLES", "CREATED", "EXPIRES", ...(options.reveal ? ["SESSION ID"] : [])];
  const rows = sessions.map((session) => [
    handleFor(session.sessionId),
    session.userId,
    session.roles.join(","),
    isoTime(session.createdAt),
    expiryText(session, now, output),
    ...(options.reveal ? [session.sessionId] : []),
  ]);
  const table = await output.table(columns.map((header) => ({ header })), rows, "session");
  output.result(table, sessions.map((session) => sessionJson(session, now, Boolean(options.reveal))));
}

export async function sessionShow(context: Context, output: Output, idOrHandle: string, options: { reveal?: boolean }): Promise<void> {
  const store = await openStore(context, "read");
  let session: UserSession | null;
  try {
    session = await store.findSession(idOrHandle);
  } finally {
    await store.close();
  }
  if (!session) throw new NotFoundError("no session with that id or handle");
  const now = Date.now() / 1000;
  const lines = [
    `handle    ${handleFor(session.sessionId)}`,
    ...(options.reveal ? [`id        ${session.sessionId}`] : []),
    `user      ${JSON.stringify(session.userId)}`,
    `roles     ${session.roles.join(", ") || "(none)"}`,
    `created   ${isoTime(session.createdAt)}`,
    `expires   ${expiryText(session, now, output)}`,
    `metadata  ${JSON.stringify(session.metadata)}`,
  ];
  output.result(lines, sessionJson(session, now, Boolean(options.reveal)));
}

export async function sessionDelete(context: Context, output: Output, idOrHandle: string): Promise<void> {
  const store = await openStore(context, "write", false);
  try {
    const session = await store.findSession(idOrHandle);
    if (!session) throw new NotFoundError("no session with that id or handle");
    await store.deleteSession(session.sessionId);
    const handle = handleFor(session.sessionId);
    output.result(`deleted session ${handle} of ${JSON.stringify(session.userId)}`, { deleted: true, handle, user_id: session.userId });
  } finally {
    await store.close();
  }
}

function sessionJson(session: UserSession, now: number, reveal: boolean): Record<string, unknown> {
  return {
    handle: handleFor(session.sessionId),
    ...(reveal ? { session_id: session.sessionId } : {}),
    user_id: session.userId,
    roles: session.roles,
    created_at: session.createdAt,
    expires_at: session.expiresAt,
    expired: !isSessionLive(session, now),
    metadata: session.metadata,
  };
}

function expiryText(session: UserSession, now: number, output: Output): string {
  const text = whenText(session.expiresAt, now);
  return isSessionLive(session, now) ? text : `${text} ${output.verdict(false, "EXPIRED")}`;
}
