/**
 * SqliteSessionStore's bulk and hot paths: purges in many transactions (the contract itself is
 * in the store suite), the short read snapshot (never staler than a millisecond or two, never
 * across one of our own writes), and the synchronous level around durable changes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { sha256Hex } from "../../src/core/handles.js";
import { SqliteSessionStore } from "../../src/store/sqlite/store.js";

const workDir = mkdtempSync(join(tmpdir(), "pywry-auth-bulk-"));
after(() => rmSync(workDir, { recursive: true, force: true }));
let counter = 0;
const freshPath = (): string => join(workDir, `store-${(counter += 1)}.db`);

/** A store whose clock is `clock.now`, with `live` live and `expired` expired sessions, interleaved. */
async function storeWith(live: number, expired: number, clock = { now: 1_000 }): Promise<SqliteSessionStore> {
  const store = SqliteSessionStore.open(freshPath(), { now: () => clock.now });
  for (let index = 0; index < live + expired; index += 1) {
    const isExpired = index % Math.ceil((live + expired) / Math.max(1, expired)) === 0 && expired > 0;
    await store.createSession(`s-${index}`, `user-${index % 5}`, ["viewer"], isExpired ? 10 : null);
  }
  clock.now = 2_000;
  return store;
}

describe("SqliteSessionStore bulk operations", () => {
  test("purgeExpiredInBatches deletes exactly the expired sessions, batch by batch, each audited", async () => {
    const clock = { now: 1_000 };
    const store = await storeWith(30, 0, clock);
    clock.now = 1_000;
    for (let index = 0; index < 25; index += 1) await store.createSession(`old-${index}`, `user-${index % 3}`, ["viewer"], 5);
    clock.now = 2_000;
    assert.equal(await store.countExpired(), 25);
    const progress: number[] = [];
    const result = await store.purgeExpiredInBatches({ batchSize: 10, collect: true, onBatch: (done) => progress.push(done) });
    assert.equal(result.purged, 25);
    assert.deepEqual(progress, [10, 20, 25]);
    assert.deepEqual(result.sessions?.map((session) => session.sessionId).sort(), Array.from({ length: 25 }, (_, i) => `old-${i}`).sort());
    assert.equal(await store.countExpired(), 0);
    assert.equal((await store.listSessions({ includeExpired: true })).length, 30, "live sessions survive");
    const audits = (await store.listAudit({ action: "session.purge" })).map((entry) => entry.detail);
    assert.deepEqual(audits.map((detail) => detail["count"]), [10, 10, 5], "one audit entry per committed batch");
    assert.deepEqual(await store.purgeExpiredInBatches(), { purged: 0, sessions: null });
    await store.close();
  });
});

describe("SqliteSessionStore read snapshots and durability", () => {
  test("a change made by another process is seen within milliseconds; our own writes at once", async () => {
    const path = freshPath();
    const store = SqliteSessionStore.open(path);
    await store.createSession("mine", "alice", ["viewer"], null);
    assert.ok(await store.getSession("mine"));
    // Another connection (as pywry's own process would) deletes the session.
    const other = new Database(path);
    other.prepare("DELETE FROM sessions WHERE session_id = 'mine'").run();
    other.close();
    await sleep(5);
    assert.equal(await store.getSession("mine"), null, "a snapshot never outlives a millisecond or two");

    assert.equal(await store.getSession("ours"), null);
    await store.createSession("ours", "bob", ["viewer"], null);
    assert.ok(await store.getSession("ours"), "a write ends the snapshot, so the next read sees it");
    assert.equal(await store.tokenRevocationStatus({ tokenHash: sha256Hex("t"), subject: "bob", issuedAt: 1 }), null);
    await store.revokeToken({ tokenHash: sha256Hex("t"), subject: "bob", expiresAt: null, reason: null });
    assert.equal(await store.tokenRevocationStatus({ tokenHash: sha256Hex("t"), subject: "bob", issuedAt: 1 }), "token");
    await store.close();
  });

  test("a reader never blocks another process's writes or checkpoints for long", async () => {
    const path = freshPath();
    const store = SqliteSessionStore.open(path);
    await store.createSession("a", "alice", ["viewer"], null);
    await store.getSession("a");
    await sleep(5);
    const other = new Database(path);
    const checkpoint = other.pragma("wal_checkpoint(TRUNCATE)", { simple: false }) as Array<{ busy: number }>;
    other.close();
    assert.equal(checkpoint[0]?.busy, 0, "no read transaction of ours is still open");
    await store.close();
  });

  test("WAL with synchronous=NORMAL between changes; FULL is only for the length of a durable change", async () => {
    const path = freshPath();
    const store = SqliteSessionStore.open(path);
    const db = (store as unknown as { db: Database.Database }).db;
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("synchronous", { simple: true }), 1, "NORMAL");
    const seen: number[] = [];
    const original = db.prepare.bind(db);
    // Record the synchronous level at the moment the revocation row is written.
    (db as unknown as { prepare: typeof db.prepare }).prepare = ((sql: string) => {
      if (sql.includes("INSERT INTO pywry_auth_revocations")) seen.push(db.pragma("synchronous", { simple: true }) as number);
      return original(sql);
    }) as typeof db.prepare;
    await store.revokeToken({ tokenHash: sha256Hex("x"), subject: "alice", expiresAt: null, reason: null });
    assert.deepEqual(seen, [2], "the revocation is written under synchronous=FULL");
    assert.equal(db.pragma("synchronous", { simple: true }), 1, "and NORMAL again afterwards");
    await store.close();
  });
});
