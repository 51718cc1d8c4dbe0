/**
 * The store contract (AuthStore) as one node:test suite that every backend passes: memory, SQLite
 * and Redis here, and a third-party store built on AuthStoreBase the same way, from
 * "pywry-auth/testing":
 *
 *   import { describeSessionStore } from "pywry-auth/testing";
 *   describeSessionStore("MyStore", (clock) => MyStore.open({ now: () => clock.now }));
 *
 * `makeStore` gets a controllable clock (Unix seconds) so expiry is tested without sleeping, and
 * must return an empty store each time (the suite closes them at the end).
 */
import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import { StoreError } from "../core/errors.js";
import { handleFor, sha256Hex } from "../core/handles.js";
import type { AuthStore, BearerLookup, ListPage, TokenRecord } from "../store/types.js";

export interface Clock {
  now: number;
}

export type MakeStore = (clock: Clock) => Promise<AuthStore> | AuthStore;

const T0 = 1_800_000_000;

/** A registry record for `token`: a session token for alice, issued at T0 for an hour. */
export function tokenRecord(token: string, overrides: Partial<TokenRecord> = {}): TokenRecord {
  const tokenHash = sha256Hex(token);
  return {
    accessor: handleFor(token),
    tokenHash,
    kind: "session",
    subject: "alice",
    issuedAt: T0,
    expiresAt: T0 + 3600,
    label: null,
    roles: ["viewer"],
    createdAt: T0,
    revokedAt: null,
    ...overrides,
  };
}

/** Every row of a paged listing, in order, with its cursor and the number of pages. */
export async function walk<T>(
  pages: AsyncIterable<ListPage<T>>,
  idOf: (row: T) => string = (row) => (row as { sessionId: string }).sessionId,
): Promise<{ ids: string[]; cursors: string[]; pages: number }> {
  const result = { ids: [] as string[], cursors: [] as string[], pages: 0 };
  for await (const page of pages) {
    assert.equal(page.rows.length, page.cursors.length, "a cursor for every row");
    result.ids.push(...page.rows.map(idOf));
    result.cursors.push(...page.cursors);
    result.pages += 1;
  }
  return result;
}

export function describeSessionStore(name: string, makeStore: MakeStore): void {
  describe(`${name}: the SessionStore contract`, () => {
    const clock: Clock = { now: T0 };
    let store: AuthStore;
    const opened: AuthStore[] = [];

    beforeEach(async () => {
      clock.now = T0;
      store = await makeStore(clock);
      opened.push(store);
    });
    after(async () => {
      for (const each of opened) await each.close();
    });

    test("createSession stores pywry's fields and defaults roles to viewer", async () => {
      const created = await store.createSession("s1", "alice", null, 60, { team: "a" });
      assert.deepEqual(created, { sessionId: "s1", userId: "alice", roles: ["viewer"], createdAt: T0, expiresAt: T0 + 60, metadata: { team: "a" } });
      assert.deepEqual(await store.getSession("s1"), created);
    });

    test("a session without a TTL never expires", async () => {
      await store.createSession("forever", "alice", ["admin"]);
      clock.now = T0 + 100 * 365 * 86400;
      assert.equal((await store.getSession("forever"))?.expiresAt, null);
      assert.equal(await store.validateSession("forever"), true);
    });

    test("getSession and validateSession miss unknown and expired sessions", async () => {
      await store.createSession("short", "alice", ["viewer"], 10);
      assert.equal(await store.getSession("nope"), null);
      clock.now = T0 + 10;
      assert.equal(await store.validateSession("short"), true);
      clock.now = T0 + 11;
      assert.equal(await store.getSession("short"), null);
      assert.equal(await store.validateSession("short"), false);
    });

    test("createSession with an existing id replaces it, as pywry's INSERT OR REPLACE does", async () => {
      await store.createSession("s1", "alice", ["viewer"]);
      await store.createSession("s1", "bob", ["editor"]);
      const session = await store.getSession("s1");
      assert.equal(session?.userId, "bob");
      assert.deepEqual(session?.roles, ["editor"]);
    });

    test("deleteSession says whether there was something to delete", async () => {
      await store.createSession("s1", "alice");
      assert.equal(await store.deleteSession("s1"), true);
      assert.equal(await store.deleteSession("s1"), false);
      assert.equal(await store.getSession("s1"), null);
    });

    test("refreshSession extends live sessions only", async () => {
      await store.createSession("s1", "alice", null, 10);
      clock.now = T0 + 5;
      assert.equal(await store.refreshSession("s1", 100), true);
      assert.equal((await store.getSession("s1"))?.expiresAt, T0 + 105);
      assert.equal(await store.refreshSession("s1"), true);
      clock.now = T0 + 200;
      assert.equal(await store.refreshSession("s1", 100), false);
      assert.equal(await store.refreshSession("unknown", 100), false);
    });

    test("listUserSessions returns the user's live sessions, newest first", async () => {
      await store.createSession("old", "alice");
      clock.now = T0 + 1;
      await store.createSession("expiring", "alice", null, 5);
      clock.now = T0 + 2;
      await store.createSession("new", "alice");
      await store.createSession("bobs", "bob");
      assert.deepEqual((await store.listUserSessions("alice")).map((s) => s.sessionId), ["new", "expiring", "old"]);
      clock.now = T0 + 10;
      assert.deepEqual((await store.listUserSessions("alice")).map((s) => s.sessionId), ["new", "old"]);
      assert.deepEqual(await store.listUserSessions("nobody"), []);
    });

    test("listSessions filters by user and includes expired sessions only when asked", async () => {
      await store.createSession("a1", "alice", null, 5);
      await store.createSession("b1", "bob");
      clock.now = T0 + 10;
      assert.deepEqual((await store.listSessions()).map((s) => s.sessionId), ["b1"]);
      assert.deepEqual((await store.listSessions({ includeExpired: true })).map((s) => s.sessionId).sort(), ["a1", "b1"]);
      assert.deepEqual((await store.listSessions({ userId: "alice", includeExpired: true })).map((s) => s.sessionId), ["a1"]);
    });

    test("findSession finds by id or by handle, expired included", async () => {
      await store.createSession("secret-session-id", "alice", null, 5);
      clock.now = T0 + 10;
      assert.equal((await store.findSession("secret-session-id"))?.userId, "alice");
      assert.equal((await store.findSession(handleFor("secret-session-id")))?.sessionId, "secret-session-id");
      assert.equal(await store.findSession(handleFor("other")), null);
      assert.equal(await store.findSession("other"), null);
    });

    test("role permissions: set, get, list, and unknown roles are null", async () => {
      await store.setRolePermissions("analyst", ["read", "export", "read"]);
      assert.deepEqual(await store.getRolePermissions("analyst"), ["read", "export"]);
      assert.equal(await store.getRolePermissions("nobody"), null);
      const roles = await store.listRoles();
      assert.deepEqual(roles.get("analyst"), ["read", "export"]);
      assert.deepEqual(roles.get("admin")?.slice().sort(), ["admin", "delete", "manage_users", "read", "write"]);
    });

    test("checkPermission: a role grants it, else the session's per-resource grant", async () => {
      await store.createSession("v", "carol", ["viewer"], null, { permissions: { "widget:dash": ["read", "write"] } });
      assert.equal(await store.checkPermission("v", "widget", "any", "read"), true);
      assert.equal(await store.checkPermission("v", "widget", "dash", "write"), true);
      assert.equal(await store.checkPermission("v", "widget", "other", "write"), false);
      assert.equal(await store.checkPermission("v", "widget", "dash", "delete"), false);
      assert.equal(await store.checkPermission("missing", "widget", "dash", "read"), false);
    });

    test("checkPermission follows the store's role table, not the built-in defaults", async () => {
      await store.createSession("e", "bob", ["editor"]);
      await store.setRolePermissions("editor", ["read"]);
      assert.equal(await store.checkPermission("e", "widget", "w", "write"), false);
    });

    test("checkPermission denies an expired session", async () => {
      await store.createSession("a", "root", ["admin"], 5);
      clock.now = T0 + 6;
      assert.equal(await store.checkPermission("a", "widget", "w", "read"), false);
    });

    test("recordIssuedToken stores the registry entry and the session together", async () => {
      const token = "alice:1800000000:1800003600:" + "a".repeat(64);
      const session = await store.recordIssuedToken(tokenRecord(token, { label: "ci" }), { sessionId: token, userId: "alice", roles: ["editor"], ttl: 3600 });
      assert.equal(session?.sessionId, token);
      assert.deepEqual(await store.findToken({ accessor: handleFor(token) }), tokenRecord(token, { label: "ci" }));
      assert.deepEqual(await store.findToken({ tokenHash: sha256Hex(token) }), tokenRecord(token, { label: "ci" }));
      assert.deepEqual((await store.getSession(token))?.roles, ["editor"]);
    });

    test("recordIssuedToken never replaces a session that has the token as its id (a pywry login)", async () => {
      const token = "alice:1800000000:1800003600:" + "3".repeat(64);
      await store.createSession(token, "alice", ["admin"], 3600, { team: "ops" });
      await assert.rejects(
        store.recordIssuedToken(tokenRecord(token), { sessionId: token, userId: "alice", roles: ["viewer"], ttl: 3600 }),
        (error: Error & { code?: string }) => error.code === "ERR_STORE" && /already exists/.test(error.message),
      );
      assert.deepEqual((await store.getSession(token))?.roles, ["admin"]);
      assert.deepEqual((await store.getSession(token))?.metadata, { team: "ops" });
      assert.equal(await store.findToken({ tokenHash: sha256Hex(token) }), null, "nothing was recorded");
      const old = "alice:1799999000:1800003600:" + "4".repeat(64);
      await store.recordIssuedToken(tokenRecord(old), { sessionId: old, userId: "alice", ttl: 3600 });
      await assert.rejects(
        store.renewToken({ tokenHash: sha256Hex(old), subject: "alice", expiresAt: T0 + 3600, reason: null }, tokenRecord(token), {
          sessionId: token,
          userId: "alice",
          ttl: 3600,
        }),
        /already exists/,
      );
      assert.equal(await store.findRevocation(sha256Hex(old)), null, "a renewal that failed changed nothing");
      assert.notEqual(await store.getSession(old), null);
    });

    test("the registry never holds the token itself", async () => {
      const token = "alice:1800000000:0:" + "b".repeat(64);
      await store.recordIssuedToken(tokenRecord(token, { expiresAt: null }));
      const listed = await store.listTokens({ all: true });
      assert.equal(JSON.stringify(listed).includes(token), false);
      assert.equal(listed.length, 1);
    });

    test("listTokens hides revoked and expired entries unless asked, and filters by subject and kind", async () => {
      const live = "alice:1:0:" + "1".repeat(64);
      const widget = "w1:1:1800000300:" + "2".repeat(64);
      const expired = "bob:1:1800000010:" + "3".repeat(64);
      await store.recordIssuedToken(tokenRecord(live, { expiresAt: null }));
      await store.recordIssuedToken(tokenRecord(widget, { kind: "widget", subject: "w1", expiresAt: T0 + 300, roles: null }));
      await store.recordIssuedToken(tokenRecord(expired, { subject: "bob", expiresAt: T0 + 10 }));
      clock.now = T0 + 20;
      assert.deepEqual((await store.listTokens()).map((r) => r.subject).sort(), ["alice", "w1"]);
      assert.deepEqual((await store.listTokens({ all: true })).map((r) => r.subject).sort(), ["alice", "bob", "w1"]);
      assert.deepEqual((await store.listTokens({ kind: "widget" })).map((r) => r.subject), ["w1"]);
      assert.deepEqual((await store.listTokens({ subject: "bob", all: true })).map((r) => r.subject), ["bob"]);
      await store.revokeToken({ tokenHash: sha256Hex(live), subject: "alice", expiresAt: null, reason: null });
      assert.deepEqual((await store.listTokens()).map((r) => r.subject), ["w1"]);
    });

    test("revokeToken deletes the token's session, marks the registry and is idempotent", async () => {
      const token = "alice:1800000000:1800003600:" + "c".repeat(64);
      await store.recordIssuedToken(tokenRecord(token), { sessionId: token, userId: "alice", ttl: 3600 });
      await store.createSession("unrelated", "alice");
      clock.now = T0 + 5;
      const first = await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: "leaked" });
      assert.equal(first.alreadyRevoked, false);
      assert.equal(first.sessionsDeleted, 1);
      assert.equal(first.revocation.revokedAt, T0 + 5);
      assert.equal(first.revocation.accessor, handleFor(token));
      assert.equal(await store.getSession(token), null);
      assert.notEqual(await store.getSession("unrelated"), null);
      assert.equal((await store.findToken({ tokenHash: sha256Hex(token) }))?.revokedAt, T0 + 5);
      assert.equal((await store.findRevocation(sha256Hex(token)))?.reason, "leaked");
      clock.now = T0 + 50;
      const second = await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: T0 + 3600, reason: null });
      assert.equal(second.alreadyRevoked, true);
      assert.equal(second.sessionsDeleted, 0);
      assert.equal(second.revocation.revokedAt, T0 + 5);
    });

    test("revocation sticks for tokens the registry never saw (minted by pywry itself)", async () => {
      const token = "dave:1:0:" + "d".repeat(64);
      await store.createSession(token, "dave", ["viewer"]);
      const result = await store.revokeToken({ tokenHash: sha256Hex(token), subject: "dave", expiresAt: null, reason: null });
      assert.equal(result.sessionsDeleted, 1);
      assert.notEqual(await store.findRevocation(sha256Hex(token)), null);
      assert.equal(await store.findRevocation(sha256Hex("other")), null);
    });

    test("revokeUser deletes every session of the user and sets a cut-off for the user's tokens", async () => {
      await store.createSession("a1", "alice");
      await store.createSession("a2", "alice", null, 60);
      await store.createSession("b1", "bob");
      const early = "alice:1799999990:0:" + "e".repeat(64);
      await store.recordIssuedToken(tokenRecord(early, { issuedAt: T0 - 10, expiresAt: null }));
      clock.now = T0 + 100;
      const result = await store.revokeUser("alice", "left the company");
      assert.deepEqual(result, { userId: "alice", cutoffAt: T0 + 100, sessionsDeleted: 2 });
      assert.deepEqual((await store.listSessions({ includeExpired: true })).map((s) => s.sessionId), ["b1"]);
      assert.equal(await store.findUserCutoff("alice"), T0 + 100);
      assert.equal(await store.findUserCutoff("bob"), null);
      assert.equal(await store.tokenRevocationStatus({ tokenHash: "x", subject: "alice", issuedAt: T0 + 100 }), "user", "issued at the cut-off");
      assert.equal(await store.tokenRevocationStatus({ tokenHash: "x", subject: "alice", issuedAt: T0 + 101 }), null, "issued after it");
      assert.equal(await store.tokenRevocationStatus({ tokenHash: "x", subject: "bob", issuedAt: T0 }), null);
      assert.equal((await store.findToken({ tokenHash: sha256Hex(early) }))?.revokedAt, T0 + 100);
    });

    test("a later user-wide revocation never moves the cut-off backwards", async () => {
      clock.now = T0 + 100;
      await store.revokeUser("alice", null);
      clock.now = T0 + 50;
      assert.equal((await store.revokeUser("alice", null)).cutoffAt, T0 + 100);
    });

    test("tokenRevocationStatus names a token's own revocation first", async () => {
      const token = "carol:1:0:" + "f".repeat(64);
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "carol", expiresAt: null, reason: null });
      assert.equal(await store.tokenRevocationStatus({ tokenHash: sha256Hex(token), subject: "carol", issuedAt: 1 }), "token");
    });

    test("renewToken revokes the old token and its session and records the new one, together", async () => {
      const old = "alice:1800000000:1800003600:" + "1".repeat(64);
      const fresh = "alice:1800000010:1800007210:" + "2".repeat(64);
      await store.recordIssuedToken(tokenRecord(old), { sessionId: old, userId: "alice", roles: ["editor"], ttl: 3600 });
      clock.now = T0 + 10;
      const session = await store.renewToken(
        { tokenHash: sha256Hex(old), subject: "alice", expiresAt: T0 + 3600, reason: "renewed" },
        tokenRecord(fresh, { issuedAt: T0 + 10, expiresAt: T0 + 7210, createdAt: T0 + 10 }),
        { sessionId: fresh, userId: "alice", roles: ["editor"], ttl: 7200 },
      );
      assert.equal(session?.sessionId, fresh);
      assert.equal(await store.getSession(old), null);
      assert.deepEqual((await store.getSession(fresh))?.roles, ["editor"]);
      assert.equal(await store.tokenRevocationStatus({ tokenHash: sha256Hex(old), subject: "alice", issuedAt: T0 }), "token");
      assert.equal(await store.tokenRevocationStatus({ tokenHash: sha256Hex(fresh), subject: "alice", issuedAt: T0 + 10 }), null);
    });

    test("deleteRole removes a role and says whether it existed", async () => {
      await store.setRolePermissions("temp", ["read"]);
      assert.equal(await store.deleteRole("temp"), true);
      assert.equal(await store.getRolePermissions("temp"), null);
      assert.equal(await store.deleteRole("temp"), false);
    });

    test("grantResource and ungrantResource edit metadata.permissions in pywry's format", async () => {
      await store.createSession("s", "carol", ["viewer"], null, { theme: "dark" });
      await store.grantResource("s", "widget:w1", ["read"]);
      const granted = await store.grantResource("s", "widget:w1", ["write", "read"]);
      assert.deepEqual(granted?.metadata, { theme: "dark", permissions: { "widget:w1": ["read", "write"] } });
      assert.equal(await store.checkPermission("s", "widget", "w1", "write"), true);
      await store.ungrantResource("s", "widget:w1", ["write"]);
      assert.equal(await store.checkPermission("s", "widget", "w1", "write"), false);
      assert.equal(await store.checkPermission("s", "widget", "w1", "read"), true);
      const cleared = await store.ungrantResource("s", "widget:w1");
      assert.deepEqual(cleared?.metadata, { theme: "dark", permissions: {} });
      assert.equal(await store.grantResource("missing", "widget:w1", ["read"]), null);
    });

    test("a grant change that changes nothing writes nothing and audits nothing", async () => {
      await store.createSession("s", "carol", ["viewer"], null, { theme: "dark" });
      const before = (await store.listAudit()).length;
      assert.deepEqual((await store.ungrantResource("s", "widget:w1"))?.metadata, { theme: "dark" });
      await store.grantResource("s", "widget:w1", ["read"]);
      await store.grantResource("s", "widget:w1", ["read"]);
      assert.equal((await store.listAudit()).length, before + 1);
      assert.deepEqual((await store.getSession("s"))?.metadata, { theme: "dark", permissions: { "widget:w1": ["read"] } });
    });

    test("purgeExpired deletes only expired sessions, and dry runs delete nothing", async () => {
      await store.createSession("short", "alice", null, 5);
      await store.createSession("long", "alice", null, 500);
      await store.createSession("never", "bob");
      clock.now = T0 + 10;
      assert.deepEqual((await store.purgeExpired({ dryRun: true })).map((s) => s.sessionId), ["short"]);
      assert.equal((await store.listSessions({ includeExpired: true })).length, 3);
      assert.deepEqual((await store.purgeExpired()).map((s) => s.sessionId), ["short"]);
      assert.deepEqual((await store.listSessions({ includeExpired: true })).map((s) => s.sessionId).sort(), ["long", "never"]);
      assert.deepEqual(await store.purgeExpired(), []);
    });

    test("countExpired counts what purgeExpired would delete; purgeExpiredInBatches deletes exactly that, audited", async () => {
      for (let index = 0; index < 7; index += 1) await store.createSession(`old-${index}`, `user-${index % 3}`, null, 5);
      await store.createSession("long", "alice", null, 500);
      await store.createSession("never", "bob");
      assert.equal(await store.countExpired(), 0, "nothing has expired yet");
      clock.now = T0 + 10;
      assert.equal(await store.countExpired(), 7);
      assert.equal((await store.listSessions({ includeExpired: true })).length, 9, "counting deletes nothing");
      const progress: number[] = [];
      const result = await store.purgeExpiredInBatches({ batchSize: 3, collect: true, onBatch: (done) => progress.push(done) });
      assert.equal(result.purged, 7);
      assert.deepEqual(result.sessions?.map((session) => session.sessionId).sort(), Array.from({ length: 7 }, (_, i) => `old-${i}`));
      assert.deepEqual(result.sessions?.find((session) => session.sessionId === "old-4"), { sessionId: "old-4", userId: "user-1", expiresAt: T0 + 5 });
      assert.ok(progress.length >= 1 && progress.every((done, i) => done > (progress[i - 1] ?? 0)), `progress grows: ${progress}`);
      assert.equal(progress.at(-1), 7, "the last report is the total");
      const purges = (await store.listAudit({ action: "session.purge" })).map((entry) => entry.detail["count"] as number);
      assert.equal(purges.reduce((sum, count) => sum + count, 0), 7, "every committed batch is audited with its count");
      assert.deepEqual((await store.listSessions({ includeExpired: true })).map((s) => s.sessionId).sort(), ["long", "never"]);
      assert.equal(await store.countExpired(), 0);
      assert.deepEqual(await store.purgeExpiredInBatches(), { purged: 0, sessions: null }, "without collect, no sessions");
    });

    test("tokenRevocationStatuses answers as tokenRevocationStatus does, token by token, in order", async () => {
      clock.now = T0 + 100;
      await store.revokeToken({ tokenHash: sha256Hex("revoked-token"), subject: "alice", expiresAt: null, reason: null });
      await store.revokeUser("bob", null);
      const tokens = [
        { tokenHash: sha256Hex("revoked-token"), subject: "alice", issuedAt: T0 },
        { tokenHash: sha256Hex("other-token"), subject: "alice", issuedAt: T0 },
        { tokenHash: sha256Hex("bob-old"), subject: "bob", issuedAt: T0 + 99 },
        { tokenHash: sha256Hex("bob-new"), subject: "bob", issuedAt: T0 + 101 },
        { tokenHash: sha256Hex("revoked-token"), subject: "alice", issuedAt: T0 },
      ];
      const one = [];
      for (const token of tokens) one.push(await store.tokenRevocationStatus(token));
      assert.deepEqual(one, ["token", null, "user", null, "token"]);
      assert.deepEqual(await store.tokenRevocationStatuses(tokens), one);
      assert.deepEqual(await store.tokenRevocationStatuses([]), []);
    });

    test("registryKinds gives the registry's kind for each token hash, null where it recorded none", async () => {
      const session = "alice:1800000000:0:" + "5".repeat(64);
      const widget = "w1:1800000000:1800000300:" + "6".repeat(64);
      await store.recordIssuedToken(tokenRecord(session, { expiresAt: null }));
      await store.recordIssuedToken(tokenRecord(widget, { kind: "widget", subject: "w1", expiresAt: T0 + 300, roles: null }));
      const hashes = [sha256Hex(widget), sha256Hex("never-recorded"), sha256Hex(session), sha256Hex(widget)];
      assert.deepEqual(await store.registryKinds(hashes), ["widget", null, "session", "widget"]);
      assert.deepEqual(await store.registryKinds([]), []);
    });

    test("bearerLookup reads a Bearer token's revocation, registry kind and own session; bearerLookupSync agrees or defers", async () => {
      const query = (token: string, subject: string, issuedAt = T0) => ({ token, tokenHash: sha256Hex(token), subject, issuedAt });
      const live = "alice:1800000000:0:" + "a".repeat(64);
      const revoked = "bob:1800000000:0:" + "b".repeat(64);
      const widget = "w1:1800000000:0:" + "c".repeat(64);
      const expiring = "carol:1800000000:0:" + "d".repeat(64);
      await store.recordIssuedToken(tokenRecord(live, { expiresAt: null }), { sessionId: live, userId: "alice", roles: ["editor"] });
      await store.recordIssuedToken(tokenRecord(revoked, { subject: "bob", expiresAt: null }), { sessionId: revoked, userId: "bob" });
      await store.recordIssuedToken(tokenRecord(widget, { kind: "widget", subject: "w1", expiresAt: null, roles: null }));
      await store.createSession(expiring, "carol", ["viewer"], 5);
      await store.revokeToken({ tokenHash: sha256Hex(revoked), subject: "bob", expiresAt: null, reason: null });
      clock.now = T0 + 50;
      await store.revokeUser("dave", null);
      clock.now = T0 + 60;
      const cases = [query(live, "alice"), query(revoked, "bob"), query(widget, "w1"), query(expiring, "carol"), query("dave-old", "dave", T0 + 50), query("nothing", "erin")];
      const found: BearerLookup[] = [];
      for (const q of cases) found.push(await store.bearerLookup(q));
      assert.deepEqual(found[0], { revocation: null, kind: "session", session: await store.getSession(live) });
      assert.equal(found[0]?.session?.userId, "alice");
      assert.equal(found[1]?.revocation, "token");
      assert.equal(found[1]?.session, null);
      assert.equal(found[2]?.kind, "widget");
      assert.equal(found[2]?.session, null);
      assert.deepEqual(found[3], { revocation: null, kind: null, session: null }, "an expired session is no session");
      assert.equal(found[4]?.revocation, "user");
      assert.deepEqual(found[5], { revocation: null, kind: null, session: null });
      cases.forEach((q, index) => {
        const now = store.bearerLookupSync(q);
        // Where the store answers without waiting, the answer is bearerLookup's (what the middleware decides by).
        if (now !== undefined) {
          assert.equal(now.revocation, found[index]?.revocation, q.token);
          assert.equal(now.kind === "widget", found[index]?.kind === "widget", q.token);
          if (now.revocation === null && now.kind !== "widget") assert.deepEqual(now.session, found[index]?.session, q.token);
        }
      });
    });

    test("updateRolePermissions: one audited step; an edit that changes nothing, or refuses, writes nothing", async () => {
      const auditCount = async () => (await store.listAudit({ action: "role.set" })).length;
      const start = await auditCount();
      assert.deepEqual(await store.updateRolePermissions("r", (before) => [...(before ?? []), "a", "b", "a"]), { before: null, after: ["a", "b"], changed: true });
      assert.deepEqual(await store.updateRolePermissions("r", (before) => [...(before ?? []), "b"]), { before: ["a", "b"], after: ["a", "b"], changed: false });
      assert.deepEqual(await store.updateRolePermissions("absent", () => null), { before: null, after: null, changed: false });
      await assert.rejects(
        store.updateRolePermissions("r", () => {
          throw new StoreError("refused");
        }),
        { message: "refused" },
      );
      assert.deepEqual(await store.getRolePermissions("r"), ["a", "b"]);
      assert.equal(await store.getRolePermissions("absent"), null);
      assert.equal((await auditCount()) - start, 1, "only the one real change is audited");
      const edited = await store.updateRolePermissions("r", (before) => (before ?? []).filter((permission) => permission !== "a"));
      assert.deepEqual(edited, { before: ["a", "b"], after: ["b"], changed: true });
      const entry = (await store.listAudit({ action: "role.set" })).at(-1);
      assert.deepEqual([entry?.subject, entry?.detail], ["r", { before: ["a", "b"], after: ["b"] }]);
    });

    test("every change is audited with handles, never with session ids or tokens", async () => {
      const token = "alice:1800000000:0:" + "9".repeat(64);
      await store.recordIssuedToken(tokenRecord(token, { expiresAt: null }), { sessionId: token, userId: "alice", roles: ["viewer"] });
      await store.createSession("plain-session-id", "bob", ["editor"], 60);
      await store.refreshSession("plain-session-id", 120);
      await store.grantResource("plain-session-id", "widget:w", ["read"]);
      await store.ungrantResource("plain-session-id", "widget:w");
      await store.setRolePermissions("analyst", ["read"]);
      await store.deleteRole("analyst");
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "alice", expiresAt: null, reason: null });
      await store.deleteSession("plain-session-id");
      await store.revokeUser("carol", null);
      const log = await store.listAudit();
      assert.deepEqual(log.map((entry) => entry.action), [
        "token.mint",
        "session.create",
        "session.refresh",
        "session.grant",
        "session.ungrant",
        "role.set",
        "role.delete",
        "token.revoke",
        "session.delete",
        "user.revoke",
      ]);
      assert.equal(log[0]?.target, handleFor(token));
      assert.equal(log[1]?.target, handleFor("plain-session-id"));
      assert.equal(log[1]?.subject, "bob");
      const text = JSON.stringify(log);
      assert.equal(text.includes(token), false, "no token in the audit log");
      assert.equal(text.includes("plain-session-id"), false, "no session id in the audit log");
      assert.deepEqual((await store.listAudit({ action: "session" })).map((e) => e.action), [
        "session.create",
        "session.refresh",
        "session.grant",
        "session.ungrant",
        "session.delete",
      ]);
      assert.deepEqual((await store.listAudit({ subject: "analyst" })).map((e) => e.action), ["role.set", "role.delete"]);
      assert.equal((await store.listAudit({ since: T0 + 1 })).length, 0);
      assert.deepEqual((await store.listAudit({ limit: 2 })).map((e) => e.action), ["session.delete", "user.revoke"], "the newest, oldest first");
    });

    test("listRevocations and listUserCutoffs enumerate what was revoked", async () => {
      const token = "erin:1:0:" + "4".repeat(64);
      clock.now = T0 + 1;
      await store.revokeToken({ tokenHash: sha256Hex(token), subject: "erin", expiresAt: T0 + 3600, reason: "lost laptop" });
      clock.now = T0 + 2;
      await store.revokeUser("frank", "left");
      await store.revokeUser("dave", null);
      assert.deepEqual(await store.listRevocations(), [
        { tokenHash: sha256Hex(token), accessor: handleFor(token), subject: "erin", revokedAt: T0 + 1, expiresAt: T0 + 3600, reason: "lost laptop" },
      ]);
      assert.deepEqual(await store.listUserCutoffs(), [
        { userId: "dave", cutoffAt: T0 + 2, reason: null },
        { userId: "frank", cutoffAt: T0 + 2, reason: "left" },
      ]);
    });

    test("importRecords copies records verbatim, idempotently, audited once", async () => {
      const token = "gina:1800000000:1800003600:" + "5".repeat(64);
      const data = {
        roles: new Map([["analyst", ["read", "export"]], ["viewer", ["read"]]]),
        sessions: [{ sessionId: "imported", userId: "gina", roles: ["analyst"], createdAt: T0 - 100.25, expiresAt: T0 + 500.5, metadata: { x: [1] } }],
        tokens: [tokenRecord(token, { subject: "gina", revokedAt: T0 - 5 })],
        revocations: [{ tokenHash: sha256Hex(token), accessor: handleFor(token), subject: "gina", revokedAt: T0 - 5, expiresAt: T0 + 3600, reason: "moved" }],
        cutoffs: [{ userId: "hank", cutoffAt: T0 - 50, reason: null }],
      };
      const before = (await store.listAudit()).length;
      const dry = await store.importRecords(data, { dryRun: true });
      assert.deepEqual(dry.sessions, { added: 1, updated: 0, unchanged: 0, skipped: 0 });
      assert.equal(await store.findSession("imported"), null, "a dry run writes nothing");
      const first = await store.importRecords(data, { source: "elsewhere" });
      assert.deepEqual(first.roles, { added: 1, updated: 0, unchanged: 1, skipped: 0 });
      assert.deepEqual(first.tokens, { added: 1, updated: 0, unchanged: 0, skipped: 0 });
      assert.deepEqual(await store.getSession("imported"), data.sessions[0]);
      assert.deepEqual(await store.findToken({ tokenHash: sha256Hex(token) }), data.tokens[0]);
      assert.deepEqual(await store.findRevocation(sha256Hex(token)), data.revocations[0]);
      assert.equal(await store.findUserCutoff("hank"), T0 - 50);
      assert.deepEqual(await store.listUserSessions("gina"), [data.sessions[0]]);
      const again = await store.importRecords(data, { source: "elsewhere" });
      for (const kind of ["roles", "sessions", "tokens", "revocations", "cutoffs"] as const) {
        assert.equal(again[kind].added + again[kind].updated, 0, `${kind} unchanged the second time`);
      }
      const log = (await store.listAudit()).slice(before);
      assert.deepEqual(log.map((entry) => entry.action), ["store.import"]);
      assert.equal(log[0]?.detail["source"], "elsewhere");
      // A cut-off only moves forward; a registry entry stays revoked.
      await store.revokeUser("hank", null);
      const later = await store.importRecords({ ...data, cutoffs: [{ userId: "hank", cutoffAt: T0 - 500, reason: null }] });
      assert.equal(later.cutoffs.unchanged, 1);
      assert.equal(await store.findUserCutoff("hank"), T0);
    });

    test("importRecords brings back no session of a revoked token or of a user cut off after it was made", async () => {
      const revoked = "ivan:1800000000:1800003600:" + "6".repeat(64);
      const cutOff = "judy:1800000000:1800003600:" + "7".repeat(64);
      const session = (sessionId: string, userId: string, createdAt = T0) => ({ sessionId, userId, roles: ["viewer"], createdAt, expiresAt: T0 + 3600, metadata: {} });
      await store.revokeToken({ tokenHash: sha256Hex(revoked), subject: "ivan", expiresAt: T0 + 3600, reason: null });
      clock.now = T0 + 10;
      await store.revokeUser("judy", null);
      await store.revokeUser("kate", null);
      const data = {
        roles: new Map<string, string[]>(),
        sessions: [
          session(revoked, "ivan"),
          session(cutOff, "judy"),
          session("kates-old-session", "kate", T0 + 5),
          session("kates-new-session", "kate", T0 + 20),
          session("ivans-other-session", "ivan"),
        ],
        tokens: [],
        revocations: [],
        cutoffs: [],
      };
      const dry = await store.importRecords(data, { dryRun: true });
      assert.deepEqual(dry.sessions, { added: 2, updated: 0, unchanged: 0, skipped: 3 });
      const counts = await store.importRecords(data);
      assert.deepEqual(counts.sessions, { added: 2, updated: 0, unchanged: 0, skipped: 3 });
      assert.deepEqual((await store.listSessions()).map((s) => s.sessionId).sort(), ["ivans-other-session", "kates-new-session"]);
      // Revocations and cut-offs that come with the data count as well (migrate copies them).
      const lina = "lina:1800000000:1800003600:" + "8".repeat(64);
      const withRevocations = await store.importRecords({
        ...data,
        sessions: [session(lina, "lina"), session("mias-session", "mia")],
        revocations: [{ tokenHash: sha256Hex(lina), accessor: handleFor(lina), subject: "lina", revokedAt: T0, expiresAt: T0 + 3600, reason: null }],
        cutoffs: [{ userId: "mia", cutoffAt: T0 + 1, reason: null }],
      });
      assert.deepEqual(withRevocations.sessions, { added: 0, updated: 0, unchanged: 0, skipped: 2 });
      assert.equal(await store.findSession(lina), null);
      assert.equal(await store.findSession("mias-session"), null);
    });

    test("sessionPages walks every session once, page by page, and a cursor continues after its row", async () => {
      for (let index = 0; index < 23; index += 1) {
        clock.now = T0 + index;
        await store.createSession(`s${index}`, index % 2 ? "alice" : "bob", null, index === 5 ? 1 : 3600);
      }
      clock.now = T0 + 100;
      const all = await walk(store.sessionPages({ includeExpired: true }, { pageSize: 4 }));
      assert.deepEqual([...all.ids].sort(), (await store.listSessions({ includeExpired: true })).map((s) => s.sessionId).sort());
      assert.equal(new Set(all.ids).size, 23, "no session twice");
      assert.ok(all.pages > 1, "more than one page");
      for (const at of [0, 6, 21, 22]) {
        // The same filter and page size as the walk that gave the cursor (Redis's SCAN batches depend on it).
        const rest = await walk(store.sessionPages({ includeExpired: true }, { after: all.cursors[at], pageSize: 4 }));
        assert.deepEqual(rest.ids, all.ids.slice(at + 1), `after row ${at}`);
      }
      const live = await walk(store.sessionPages({}, { pageSize: 4 }));
      assert.ok(!live.ids.includes("s5"), "expired sessions only when asked");
      assert.equal(live.ids.length, 22);
      const bobs = await walk(store.sessionPages({ userId: "bob", includeExpired: true }, { pageSize: 2 }));
      assert.deepEqual([...bobs.ids].sort(), all.ids.filter((id) => Number(id.slice(1)) % 2 === 0).sort());
      const rest = await walk(store.sessionPages({ userId: "bob", includeExpired: true }, { after: bobs.cursors[2], pageSize: 2 }));
      assert.deepEqual(rest.ids, bobs.ids.slice(3));
    });

    test("sessionPages lists every session that stays exactly once while others are added and deleted", async () => {
      for (let index = 0; index < 40; index += 1) {
        clock.now = T0 + index;
        await store.createSession(`old${index}`, "alice");
      }
      const seen: string[] = [];
      const deleted = new Set<string>();
      let added = 0;
      for await (const page of store.sessionPages({}, { pageSize: 3 })) {
        seen.push(...page.rows.map((session) => session.sessionId));
        // Between pages: delete one listed and one not yet listed session, and add two.
        const listed = seen.find((id) => id.startsWith("old") && !deleted.has(id));
        const unlisted = [...Array(40).keys()].map((index) => `old${index}`).find((id) => !seen.includes(id) && !deleted.has(id));
        if (deleted.size >= 16) continue;
        for (const id of [listed, unlisted]) {
          if (id !== undefined && (await store.deleteSession(id))) deleted.add(id);
        }
        clock.now = T0 + 100 + added;
        await store.createSession(`new${added++}`, "bob");
        await store.createSession(`new${added++}`, "carol");
      }
      assert.equal(new Set(seen).size, seen.length, "no session listed twice");
      const stayed = [...Array(40).keys()].map((index) => `old${index}`).filter((id) => !deleted.has(id));
      assert.ok(stayed.length > 0 && deleted.size >= 16, `${stayed.length} stayed, ${deleted.size} deleted`);
      for (const id of stayed) assert.ok(seen.includes(id), `${id} was there throughout and was listed`);
    });

    test("tokenPages walks the registry once, with cursors, filters and the default of live tokens", async () => {
      for (let index = 0; index < 12; index += 1) {
        await store.recordIssuedToken(
          tokenRecord(`token-${index}`, { createdAt: T0 + (index % 4), subject: index % 3 ? "alice" : "bob", kind: index === 7 ? "widget" : "session" }),
        );
      }
      await store.revokeToken({ tokenHash: sha256Hex("token-2"), subject: "alice", expiresAt: null, reason: null });
      const all = await walk(store.tokenPages({ all: true }, { pageSize: 5 }), (record) => record.accessor);
      assert.deepEqual([...all.ids].sort(), (await store.listTokens({ all: true })).map((r) => r.accessor).sort());
      assert.equal(new Set(all.ids).size, 12);
      for (const at of [0, 3, 4, 10]) {
        const rest = await walk(store.tokenPages({ all: true }, { after: all.cursors[at], pageSize: 2 }), (record) => record.accessor);
        assert.deepEqual(rest.ids, all.ids.slice(at + 1), `after row ${at}`);
      }
      const live = await walk(store.tokenPages({}, { pageSize: 5 }), (record) => record.accessor);
      assert.ok(!live.ids.includes(handleFor("token-2")) && live.ids.length === 11);
      const widgets = await walk(store.tokenPages({ kind: "widget" }), (record) => record.accessor);
      assert.deepEqual(widgets.ids, [handleFor("token-7")]);
      const bobs = await walk(store.tokenPages({ subject: "bob", all: true }, { pageSize: 2 }), (record) => record.accessor);
      assert.deepEqual([...bobs.ids].sort(), ["token-0", "token-3", "token-6", "token-9"].map(handleFor).sort());
      const bobsRest = await walk(store.tokenPages({ subject: "bob", all: true }, { after: bobs.cursors[1] }), (record) => record.accessor);
      assert.deepEqual(bobsRest.ids, bobs.ids.slice(2));
    });

    test("auditPages lists oldest first with cursors; a filter's limit keeps the newest; --user filters", async () => {
      for (let index = 0; index < 9; index += 1) await store.createSession(`a${index}`, index % 3 ? "alice" : "bob");
      const log = await store.listAudit();
      const all = await walk(store.auditPages({}, { pageSize: 4 }), (entry) => String(entry.id));
      assert.deepEqual(all.ids, log.map((entry) => String(entry.id)));
      const rest = await walk(store.auditPages({}, { after: all.cursors[4], pageSize: 2 }), (entry) => String(entry.id));
      assert.deepEqual(rest.ids, all.ids.slice(5));
      const newest = await walk(store.auditPages({ limit: 3 }, { pageSize: 2 }), (entry) => String(entry.id));
      assert.deepEqual(newest.ids, all.ids.slice(-3));
      const bobs = await walk(store.auditPages({ subject: "bob" }, { pageSize: 1 }), (entry) => entry.subject ?? "");
      assert.deepEqual(bobs.ids, ["bob", "bob", "bob"]);
      const newestBobs = await walk(store.auditPages({ subject: "bob", limit: 2 }, { pageSize: 1 }), (entry) => String(entry.id));
      assert.deepEqual(newestBobs.ids, log.filter((entry) => entry.subject === "bob").slice(-2).map((entry) => String(entry.id)));
      const fromStart = await walk(store.auditPages({}, { after: "0", pageSize: 3 }), (entry) => String(entry.id));
      assert.deepEqual(fromStart.ids, all.ids, "the cursor 0 is the start");
    });

    test("rolePages lists roles by name and continues after a cursor", async () => {
      await store.setRolePermissions("zeta", ["z"]);
      const all = await walk(store.rolePages({ pageSize: 2 }), (entry) => entry.role);
      assert.deepEqual(all.ids, [...(await store.listRoles()).keys()]);
      const rest = await walk(store.rolePages({ after: all.cursors[1], pageSize: 2 }), (entry) => entry.role);
      assert.deepEqual(rest.ids, all.ids.slice(2));
    });

    test("a cursor the store did not make is a usage error that does not echo it", async () => {
      await store.createSession("s1", "alice");
      for (const pages of [
        () => store.sessionPages({}, { after: "not a cursor" }),
        () => store.tokenPages({}, { after: "not a cursor" }),
        () => store.auditPages({}, { after: "not a cursor" }),
      ]) {
        await assert.rejects(walk(pages() as AsyncIterable<ListPage<unknown>>, String), (error: Error & { code?: string }) => error.code === "ERR_INVALID_INPUT" && !error.message.includes("not a cursor"));
      }
    });

    test("returned sessions are copies: changing them does not change the store", async () => {
      const created = await store.createSession("s1", "alice", ["viewer"], null, { a: 1 });
      created.roles.push("admin");
      (created.metadata as Record<string, unknown>)["a"] = 2;
      const read = await store.getSession("s1");
      assert.deepEqual(read?.roles, ["viewer"]);
      assert.deepEqual(read?.metadata, { a: 1 });
    });
  });
}
