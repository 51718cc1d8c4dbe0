/**
 * `can <permission>`: may a session, a token's session or a user do this? Answers the way pywry's
 * check_permission does, with the role table the store holds (not the built-in defaults): allowed
 * when any of the session's roles grants the permission, else when the session's metadata grants
 * it for the named resource. Exit 0 "yes", 1 "no"; anything that cannot be answered is an error
 * with its own exit code, never a "no".
 */
import { verifyToken } from "../../auth.js";
import { NotFoundError } from "../../core/errors.js";
import { EXIT, UsageError } from "../errors.js";
import { handleFor } from "../../core/handles.js";
import { DEFAULT_ROLE_PERMISSIONS, grantSource, resourceGrantsOf } from "../../core/rbac.js";
import { isSessionLive, type UserSession } from "../../core/session.js";
import type { AuthStore } from "../../store/types.js";
import type { Context } from "../context.js";
import { checkingSecrets } from "../secrets.js";
import { withStore } from "../store-access.js";
import { parseResource, readTokenArgument, validateNames, withPasteHint } from "../input.js";
import { Output, isoTime } from "../output.js";
import { didYouMean } from "../suggest.js";
import { defineCommand } from "../command.js";

export default defineCommand({
  declare: (program) =>
    program
      .command("can")
      .description("may a session, token or user do this? exit 0 yes, 1 no (like kubectl auth can-i)")
      .argument("[permission]", "the permission, e.g. write")
      .option("--session <id>", "ask for this session (id or handle)")
      .option("--token <token>", "ask for the session of this token (- reads stdin)")
      .option("--user <id>", "ask for the union of the user's live sessions")
      .option("--resource <type:id>", "a resource, for per-resource grants, e.g. widget:w1")
      .option("--list", "list every permission the subject has, and where it comes from")
      .option("-q, --quiet", "print nothing; answer with the exit code only"),
  examples: [
    "pywry-auth can write --session 8da57535580c77fe",
    "pywry-auth can write --user carol --resource widget:dashboard-1",
    "pywry-auth can --list --user dave",
  ],
  fields: ["allowed", "reason", "permission", "from"],
  action: can,
});

export interface CanOptions {
  session?: string;
  token?: string;
  user?: string;
  resource?: string;
  list?: boolean;
  quiet?: boolean;
  color?: boolean;
}

type Resource = { type: string; id: string; key: string };

/** Who is asking: the sessions whose permissions count, and how to name them. */
interface Subject {
  sessions: UserSession[];
  /** Whether reasons name the session (when the caller did not name it). */
  nameSession: boolean;
  /** "session <handle>" or `user "dave"`, for reasons. */
  label: string;
}

interface Source {
  permission: string;
  from: string;
}

export async function can(context: Context, output: Output, permission: string | undefined, options: CanOptions): Promise<number> {
  if (!options.quiet) return answer(context, output, permission, options);
  // Quiet: no answer on stdout in any mode. A question that cannot be answered still says why on
  // stderr (as `grep -q` and `kubectl auth can-i --quiet` do), since its exit code is not 0 or 1.
  try {
    return await answer(context, null, permission, options);
  } catch (error) {
    return new Output({ json: false, color: options.color }).fail(error);
  }
}

async function answer(context: Context, output: Output | null, permission: string | undefined, options: CanOptions): Promise<number> {
  const chosen = [options.session, options.token, options.user].filter((value) => value !== undefined);
  if (chosen.length !== 1) {
    throw new UsageError("name exactly one subject: --session <id|handle>, --token <token|-> or --user <id>");
  }
  if (options.list && permission !== undefined) {
    throw new UsageError("--list lists every permission: name no permission with it");
  }
  if (!options.list && permission === undefined) {
    throw new UsageError("name the permission to check (e.g. can write --session <handle>), or pass --list");
  }
  const wanted = permission === undefined ? undefined : (validateNames([permission], "permission")[0] ?? permission);
  const resource = options.resource === undefined ? undefined : parseResource(options.resource);
  if (options.user !== undefined && options.user.length === 0) throw new UsageError("--user needs a user id");
  // Read everything from stdin and the environment before touching the store.
  const token = options.token === undefined ? undefined : await readTokenArgument(options.token);
  const secrets = token === undefined ? undefined : await checkingSecrets(context);

  const { subject, roles } = await withStore(context, "read", async (store) => ({
    subject:
      token !== undefined
        ? await tokenSubject(store, token, secrets?.all ?? [])
        : options.user !== undefined
          ? await userSubject(store, options.user)
          : await sessionSubject(store, options.session ?? "", context.clock.now()),
    roles: await store.listRoles(),
  }));

  if (roles.size === 0 && output) {
    // pywry's Redis store starts without a role table; pywry then grants nothing by role, and
    // so does this answer: say so rather than leave it to look like a wrong "no".
    output.warn("the store defines no roles, so in pywry no role grants anything (pywry-auth roles seed writes pywry's defaults)");
  }

  if (wanted === undefined) {
    const sources = listSources(subject, roles, resource);
    if (output) {
      const table = await output.table([{ header: "PERMISSION" }, { header: "FROM" }], sources.map((s) => [s.permission, s.from]), "permission");
      output.result(table, sources);
    }
    return EXIT.ok;
  }

  if (output) warnUnknownPermission(output, wanted, subject, roles);
  const verdict = decide(subject, roles, wanted, resource);
  output?.result(output.verdict(verdict.allowed, verdict.allowed ? "yes" : "no"), verdict);
  return verdict.allowed ? EXIT.ok : EXIT.no;
}

/**
 * A permission no role and no grant mentions gets a plain "no", which a typo (`can wirte`) would
 * get too: say so, with a suggestion, as kubectl auth can-i warns about unknown verbs.
 */
function warnUnknownPermission(output: Output, permission: string, subject: Subject, roles: Map<string, string[]>): void {
  const known = new Set([
    ...[...roles.values()].flat(),
    ...Object.values(DEFAULT_ROLE_PERMISSIONS).flat(),
    ...subject.sessions.flatMap((session) => Object.values(resourceGrantsOf(session.metadata)).flat()),
  ]);
  if (known.has(permission)) return;
  output.warn(`no role or grant in the store mentions permission ${JSON.stringify(permission)}${didYouMean(permission, known)}`);
}

async function sessionSubject(store: AuthStore, idOrHandle: string, now: number): Promise<Subject> {
  const session = await store.findSession(idOrHandle);
  // The argument may be a raw session id, which is a credential: never echo it.
  if (!session) throw new NotFoundError("no session with that id or handle");
  const handle = handleFor(session.sessionId);
  if (!isSessionLive(session, now)) {
    throw new NotFoundError(`session ${handle} expired at ${isoTime(session.expiresAt ?? 0)}: pywry no longer accepts it`);
  }
  return { sessions: [session], nameSession: false, label: `session ${handle}` };
}

/**
 * A bearer token: verified first (signature, expiry, revocations), then, as pywry does, the
 * session whose id is the token, else the user's most recent live session.
 */
async function tokenSubject(store: AuthStore, token: string, secrets: readonly string[]): Promise<Subject> {
  // As the HTTP middleware decides: a token the registry recorded as a widget token is no Bearer token.
  const result = await verifyToken(token, { secrets, store, kind: "session" });
  if (!result.valid || result.userId === null) {
    const error = result.error;
    throw new UsageError(withPasteHint(`cannot answer for this token: it does not verify (${error?.message ?? "invalid"}, ${error?.code ?? "ERR_TOKEN_MALFORMED"})`, token));
  }
  const session = (await store.getSession(token)) ?? (await store.listUserSessions(result.userId))[0];
  if (!session) {
    throw new NotFoundError(`the token is valid, but user ${JSON.stringify(result.userId)} has no live session, so pywry would not authenticate it`);
  }
  return { sessions: [session], nameSession: true, label: `session ${handleFor(session.sessionId)}` };
}

async function userSubject(store: AuthStore, userId: string): Promise<Subject> {
  const sessions = await store.listUserSessions(userId);
  if (sessions.length === 0) throw new NotFoundError(`user ${JSON.stringify(userId)} has no live session`);
  return { sessions, nameSession: true, label: `user ${JSON.stringify(userId)}` };
}

function decide(subject: Subject, roles: Map<string, string[]>, permission: string, resource: Resource | undefined): { allowed: boolean; reason: string } {
  const rolePermissions = (role: string) => roles.get(role);
  for (const session of subject.sessions) {
    const source = grantSource(session, rolePermissions, permission, resource);
    if (!source) continue;
    const via = source.kind === "role" ? `role ${source.role}` : `grant ${source.resource}`;
    return { allowed: true, reason: `${via}${subject.nameSession ? ` (session ${handleFor(session.sessionId)})` : ""}` };
  }
  const held = subject.sessions.map((session) => `${handleFor(session.sessionId)} (${session.roles.join(", ") || "no roles"})`);
  const who = subject.sessions.length === 1 ? `session ${held[0]}` : `${subject.label}'s sessions ${held.join(", ")}`;
  const grant = resource ? `, and no grant for ${resource.key} does` : "";
  return { allowed: false, reason: `no role of ${who} grants ${permission}${grant}` };
}

/** Every permission and where it comes from; with --resource, only that resource's grants count. */
function listSources(subject: Subject, roles: Map<string, string[]>, resource: Resource | undefined): Source[] {
  const seen = new Set<string>();
  const sources: Source[] = [];
  const add = (permission: string, from: string) => {
    const key = JSON.stringify([permission, from]);
    if (seen.has(key)) return;
    seen.add(key);
    sources.push({ permission, from });
  };
  for (const session of subject.sessions) {
    const suffix = subject.nameSession ? ` (session ${handleFor(session.sessionId)})` : "";
    for (const role of session.roles) {
      for (const permission of roles.get(role) ?? []) add(permission, `role ${role}${suffix}`);
    }
    for (const [key, permissions] of Object.entries(resourceGrantsOf(session.metadata))) {
      if (resource && key !== resource.key) continue;
      for (const permission of permissions) add(permission, `grant ${key}${suffix}`);
    }
  }
  return sources.sort((a, b) => (a.permission < b.permission ? -1 : a.permission > b.permission ? 1 : 0));
}
