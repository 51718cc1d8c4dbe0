/**
 * How the SQLite store's connection reads and writes: short shared read snapshots for the hot
 * reads, and one transaction per change, fsynced or not as the change needs. Why each choice was
 * made is measured in docs/performance.md.
 */
import type Database from "better-sqlite3-multiple-ciphers";
import type { Statements } from "./statements.js";

/** How long hot-path reads may share one read transaction, in milliseconds (see inSnapshot()). */
const SNAPSHOT_MS = 1;

/**
 * "durable": fsynced before the commit returns. "relaxed": survives the process crashing, not
 * necessarily a power loss (see write()).
 */
export type Durability = "durable" | "relaxed";

export class Transactions {
  /** When the open read snapshot began (performance.now()), or null when none is open; see inSnapshot(). */
  private snapshotSince: number | null = null;

  constructor(
    private readonly db: Database.Database,
    private readonly statements: Statements,
  ) {}

  /**
   * Runs a hot-path read (getSession, tokenRevocationStatus, findToken, listSessions, listRoles)
   * in a short shared read snapshot.
   *
   * Outside a transaction SQLite starts and ends a read transaction for every statement, and in
   * WAL mode that costs file-lock system calls worth more than the indexed look-up itself
   * (measured in docs/performance.md, "1."). So reads made within SNAPSHOT_MS of the first one share
   * one read transaction. A read may see the database as it was at most SNAPSHOT_MS (1 ms)
   * earlier, which is no staler than the same read scheduled 1 ms sooner. The snapshot is ended
   * before any write on this connection, by close(), by the first read after SNAPSHOT_MS, and by
   * a timer soon after that, so it never holds back other writers or WAL checkpoints for more
   * than a millisecond or two. (Why not once per event-loop turn: docs/performance.md, "6.")
   */
  inSnapshot<T>(operation: () => T): T {
    const now = performance.now();
    if (this.snapshotSince !== null && now - this.snapshotSince > SNAPSHOT_MS) this.endSnapshot();
    if (this.snapshotSince === null && !this.db.inTransaction) {
      this.statements.get("BEGIN DEFERRED").run();
      this.snapshotSince = now;
      setTimeout(this.endSnapshotSoon, SNAPSHOT_MS).unref();
    }
    return operation();
  }

  /** Many reads from one snapshot of their own (and one read lock instead of one per read). */
  inReadTransaction<T>(reads: () => T): T {
    this.endSnapshot();
    return this.db.transaction(reads).deferred();
  }

  endSnapshot(): void {
    if (this.snapshotSince === null) return;
    // Forgotten only once committed: a snapshot that could not end yet is retried, never reused.
    if (this.db.open && this.db.inTransaction) this.statements.get("COMMIT").run();
    this.snapshotSince = null;
  }

  /**
   * Runs a change in one transaction.
   *
   * Durability: the connection runs with synchronous=NORMAL (set when the store opens), under
   * which a WAL commit is not fsynced: it survives the process crashing, but the last commits may
   * be lost if the machine loses power or the OS crashes. That is acceptable for "relaxed"
   * changes (a new or refreshed session: the worst case is a user logging in again) and is what
   * makes createSession several times faster than pywry's commit-and-fsync per call. Every other
   * change is "durable": it runs with synchronous=FULL, so the WAL is fsynced before the commit
   * returns and a revocation (or a deleted session, a removed permission) that a command has
   * reported can never come back. An fsync also makes every earlier relaxed commit durable (same
   * WAL file).
   */
  write<T>(change: () => T, durability: Durability): T {
    // A write never runs inside a read snapshot (it would start from a possibly stale one).
    this.endSnapshot();
    if (durability === "relaxed") return this.immediate(change);
    this.db.pragma("synchronous = FULL");
    try {
      return this.immediate(change);
    } finally {
      this.db.pragma("synchronous = NORMAL");
    }
  }

  private readonly endSnapshotSoon = (): void => {
    try {
      this.endSnapshot();
    } catch {
      // Busy (an iteration is open) or closed: the next read or write ends it instead.
    }
  };

  /**
   * BEGIN IMMEDIATE ... COMMIT with cached statements: better-sqlite3-multiple-ciphers's
   * db.transaction() builds five wrapper functions on every call, which showed in createSession's
   * profile. IMMEDIATE: wait for other writers (busy_timeout), never fail early when a read turns
   * into a write. Nested calls (none today) would get the driver's savepoints.
   */
  private immediate<T>(change: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(change)();
    this.statements.get("BEGIN IMMEDIATE").run();
    try {
      const result = change();
      this.statements.get("COMMIT").run();
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.statements.get("ROLLBACK").run();
      throw error;
    }
  }
}
