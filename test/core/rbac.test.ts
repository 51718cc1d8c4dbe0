import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_ROLE_PERMISSIONS, getRolePermissions, hasPermission, isAdmin, sessionGrants } from "../../src/core/rbac.js";

describe("pywry's default roles", () => {
  test("are admin, editor, viewer and anonymous with pywry's permissions", () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(DEFAULT_ROLE_PERMISSIONS).map(([role, perms]) => [role, [...perms].sort()])),
      {
        admin: ["admin", "delete", "manage_users", "read", "write"],
        editor: ["read", "write"],
        viewer: ["read"],
        anonymous: [],
      },
    );
  });

  test("cannot be changed by a caller", () => {
    assert.throws(() => {
      (DEFAULT_ROLE_PERMISSIONS as Record<string, string[]>)["viewer"] = ["admin"];
    });
    const perms = getRolePermissions("viewer");
    perms.add("admin");
    assert.equal(getRolePermissions("viewer").has("admin"), false);
  });

  test("an unknown role, or an inherited property name, has no permissions", () => {
    assert.equal(getRolePermissions("superuser").size, 0);
    assert.equal(getRolePermissions("constructor").size, 0);
    assert.equal(getRolePermissions("__proto__").size, 0);
  });
});

describe("hasPermission and isAdmin", () => {
  test("any of the session's roles grants a permission", () => {
    assert.equal(hasPermission({ roles: ["viewer"] }, "read"), true);
    assert.equal(hasPermission({ roles: ["viewer"] }, "write"), false);
    assert.equal(hasPermission({ roles: ["viewer", "editor"] }, "write"), true);
    assert.equal(hasPermission({ roles: [] }, "read"), false);
  });

  test("no session means no permission and not admin", () => {
    assert.equal(hasPermission(null, "read"), false);
    assert.equal(hasPermission(undefined, "read"), false);
    assert.equal(isAdmin(null), false);
  });

  test("isAdmin is about the admin role, not about permissions", () => {
    assert.equal(isAdmin({ roles: ["admin"] }), true);
    assert.equal(isAdmin({ roles: ["editor", "admin"] }), true);
    assert.equal(isAdmin({ roles: ["editor"] }), false);
  });
});

describe("sessionGrants (pywry's check_permission)", () => {
  const table = new Map([["viewer", ["read"]], ["analyst", ["read", "export"]]]);
  const lookup = (role: string) => table.get(role);

  test("uses the store's role table rather than the defaults", () => {
    assert.equal(sessionGrants({ roles: ["analyst"], metadata: {} }, lookup, "export"), true);
    assert.equal(sessionGrants({ roles: ["editor"], metadata: {} }, lookup, "write"), false);
  });

  test("falls back to the per-resource grant in metadata.permissions", () => {
    const session = { roles: ["viewer"], metadata: { permissions: { "widget:w1": ["read", "write"] } } };
    assert.equal(sessionGrants(session, lookup, "write", { type: "widget", id: "w1" }), true);
    assert.equal(sessionGrants(session, lookup, "write", { type: "widget", id: "w2" }), false);
    assert.equal(sessionGrants(session, lookup, "delete", { type: "widget", id: "w1" }), false);
  });

  test("ignores malformed grant metadata instead of failing", () => {
    for (const metadata of [{ permissions: "all" }, { permissions: ["read"] }, { permissions: { "widget:w1": "write" } }]) {
      assert.equal(sessionGrants({ roles: [], metadata }, lookup, "write", { type: "widget", id: "w1" }), false);
    }
  });
});
