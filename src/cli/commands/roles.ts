/** `roles list` and `roles show`: the role_permissions table pywry enforces. */
import { NotFoundError } from "../../core/errors.js";
import { openStore, type Context } from "../context.js";
import type { Output } from "../output.js";

export async function rolesList(context: Context, output: Output): Promise<void> {
  const roles = await readRoles(context);
  const rows = [...roles].map(([role, permissions]) => [role, permissions.join(", ") || output.style.dim("(none)")]);
  const table = await output.table([{ header: "ROLE" }, { header: "PERMISSIONS" }], rows, "role");
  output.result(table, Object.fromEntries(roles));
}

export async function rolesShow(context: Context, output: Output, role: string): Promise<void> {
  const permissions = (await readRoles(context)).get(role);
  if (!permissions) throw new NotFoundError(`no role ${JSON.stringify(role)} in the store`);
  output.result(permissions.length > 0 ? permissions : [output.style.dim("(no permissions)")], { role, permissions });
}

async function readRoles(context: Context): Promise<Map<string, string[]>> {
  const store = await openStore(context, "read");
  try {
    return await store.listRoles();
  } finally {
    await store.close();
  }
}
