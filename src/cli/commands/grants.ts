/**
 * `session grant|ungrant`: per-resource permissions in a session's metadata, in pywry's format
 * (`metadata["permissions"]["type:id"] = [...]`), which pywry's check_permission consults when no
 * role grants the permission.
 */
import { NotFoundError } from "../../core/errors.js";
import { UsageError } from "../errors.js";
import { handleFor } from "../../core/handles.js";
import { resourceGrantsOf } from "../../core/rbac.js";
import { isSessionLive, type UserSession } from "../../core/session.js";
import type { Context } from "../context.js";
import { withStore } from "../store-access.js";
import { parseResource, splitNames } from "../input.js";
import { isoTime, type Output } from "../output.js";
import { defineCommand } from "../command.js";

export const sessionGrantCommand = defineCommand({
  declare: (session) =>
    session
      .command("grant")
      .description("grant per-resource permissions in the session's metadata (pywry's format)")
      .argument("<id>", "session id or handle")
      .argument("<resource>", "resource as type:id, e.g. widget:w1")
      .argument("<permissions>", "comma-separated permissions, e.g. read,write"),
  examples: ["pywry-auth session grant 8da57535580c77fe widget:w1 read,write"],
  fields: ["handle", "resource", "permissions"],
  action: sessionGrant,
});

export const sessionUngrantCommand = defineCommand({
  declare: (session) =>
    session
      .command("ungrant")
      .description("remove per-resource permissions (all of them for the resource when none are named)")
      .argument("<id>", "session id or handle")
      .argument("<resource>", "resource as type:id, e.g. widget:w1")
      .argument("[permissions]", "comma-separated permissions"),
  examples: ["pywry-auth session ungrant 8da57535580c77fe widget:w1 write"],
  fields: ["handle", "resource", "permissions"],
  action: sessionUngrant,
});

export async function sessionGrant(context: Context, output: Output, idOrHandle: string, resourceText: string, permissionsText: string): Promise<void> {
  const resource = parseResource(resourceText);
  const permissions = splitNames(permissionsText, "permission");
  if (permissions.length === 0) throw new UsageError("name at least one permission to grant, e.g. read,write");
  await withStore(context, "update", async (store) => {
    const session = await findSession(store, idOrHandle);
    if (!isSessionLive(session, context.clock.now())) {
      output.warn(`session ${handleFor(session.sessionId)} expired at ${isoTime(session.expiresAt ?? 0)}; pywry will not use this grant`);
    }
    const before = grantFor(session, resource.key);
    let after = session;
    if (before === null || permissions.some((permission) => !before.includes(permission))) {
      after = (await store.grantResource(session.sessionId, resource.key, permissions)) ?? notFound();
    }
    report(output, after, resource.key);
  });
}

export async function sessionUngrant(
  context: Context,
  output: Output,
  idOrHandle: string,
  resourceText: string,
  permissionsText: string | undefined,
): Promise<void> {
  const resource = parseResource(resourceText);
  const permissions = permissionsText === undefined ? undefined : splitNames(permissionsText, "permission");
  if (permissions?.length === 0) {
    throw new UsageError("name at least one permission to remove, or none to remove the whole grant");
  }
  await withStore(context, "update", async (store) => {
    const session = await findSession(store, idOrHandle);
    const handle = handleFor(session.sessionId);
    const before = grantFor(session, resource.key);
    const removing = before === null ? [] : permissions === undefined ? before : permissions.filter((p) => before.includes(p));
    let after = session;
    if (before === null) {
      output.warn(`session ${handle} has no grant for ${resource.key}`);
    } else if (removing.length === 0 && before.length > 0) {
      output.warn(`session ${handle}'s grant for ${resource.key} does not include ${permissions?.join(", ")}`);
    } else {
      // Nothing is written (and nothing audited) when the grant is already as asked.
      after = (await store.ungrantResource(session.sessionId, resource.key, permissions)) ?? notFound();
    }
    report(output, after, resource.key);
  });
}

async function findSession(store: { findSession(idOrHandle: string): Promise<UserSession | null> }, idOrHandle: string): Promise<UserSession> {
  // The argument may be a raw session id, which is a credential: never echo it.
  return (await store.findSession(idOrHandle)) ?? notFound();
}

function notFound(): never {
  throw new NotFoundError("no session with that id or handle");
}

/** The session's permissions for `resource`, or null when it has no grant for it. */
function grantFor(session: UserSession, resource: string): string[] | null {
  return resourceGrantsOf(session.metadata)[resource] ?? null;
}

function report(output: Output, session: UserSession, resource: string): void {
  const handle = handleFor(session.sessionId);
  const permissions = grantFor(session, resource) ?? [];
  const listed = permissions.length > 0 ? permissions.join(", ") : output.style.dim("(no permissions)");
  output.result(`session ${handle} of ${JSON.stringify(session.userId)} on ${resource}: ${listed}`, { handle, resource, permissions });
}
