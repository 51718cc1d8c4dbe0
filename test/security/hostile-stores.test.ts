/**
 * Hostile stores and environments, through the real CLI: files that are not SQLite (plain junk, a
 * SQLCipher-encrypted pywry database, truncations), read-only files and directories, missing or
 * uncreatable directories, a database locked by another process, a schema from a newer
 * pywry-auth, and Redis down, stalled or slow. Each must end in exit 3 with one clear line (or
 * work, where it can), within a bounded time, and leave the file exactly as it was.
 *
 * Already covered elsewhere and not repeated here: `session list` on a text file
 * (test/cli/sessions.test.ts), the store-level refusals (test/store/sqlite.test.ts), waiting out a
 * short lock (test/cli/tokens.test.ts), Redis refused / paused / wrong password (test/cli/redis.test.ts).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { assertCliError, assertExit, sandboxFor, show, STACK_FRAME, type CliResult, type Sandbox } from "../helpers/cli.js";
import { binPath, fixturesDir, projectRoot } from "../helpers/paths.js";
import { startRedis, type RedisServer } from "../helpers/redis.js";

const SECRET = "hostile-stores-secret-0123456789abcdef";
const ENV = { PYWRY_AUTH_SECRET: SECRET };
const READ_COMMANDS = [["session", "list"], ["audit"]];
const WRITE_COMMANDS = [["token", "create", "--user", "alice"], ["roles", "grant", "editor", "publish"]];
/**
 * How long the CLI waits for a locked SQLite file or a stalled Redis command, set short here
 * (PYWRY_AUTH_STORE_TIMEOUT_MS; the defaults are 5 s and 10 s) so the suite does not wait them out.
 */
const STORE_TIMEOUT_MS = 1500;
const WAITING_ENV = { ...ENV, PYWRY_AUTH_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS) };

function bytesOf(path: string): Buffer {
  return readFileSync(path);
}

/** The error is on one line, names the file, shows no stack and no JSON. */
function assertOneLineError(result: CliResult, mentions: RegExp): void {
  assertCliError(result, 3, mentions);
}

// The groups run side by side: the lock and Redis cases mostly wait, the others mostly compute.
describe("hostile stores and environments", { concurrency: true }, () => {
  describe("files that are not a pywry-auth store", () => {
    test("junk text: every command exits 3 with one line, and no command writes to the file", async (t) => {
      const sb = sandboxFor(t);
      const path = sb.path("junk.db");
      writeFileSync(path, "definitely not a database\n".repeat(200));
      const before = bytesOf(path);
      const results = await Promise.all([...READ_COMMANDS, ...WRITE_COMMANDS].map((args) => sb.run(["--store", path, ...args], { env: ENV })));
      // Not plain SQLite, so possibly encrypted: without a key that is all that can be said.
      for (const result of results) assertOneLineError(result, /junk\.db is not a plain SQLite database, and no SQLCipher key was found/);
      assert.deepEqual(bytesOf(path), before, "the file was changed");
      assert.equal(existsSync(`${path}-wal`), false);
    });

    test("what may be a SQLCipher-encrypted pywry database, with no key: says it may be encrypted and how to give a key; --json has ERR_STORE_KEY", async (t) => {
      const sb = sandboxFor(t);
      // SQLCipher files are indistinguishable from random bytes: a 16-byte salt, then encrypted pages.
      // (Real SQLCipher files, with and without their key: test/cli/encrypted-*.test.ts.)
      const path = sb.path("pywry.db");
      writeFileSync(path, randomBytes(4096 * 8));
      const before = bytesOf(path);
      for (const args of [["session", "list"], ["token", "create", "--user", "alice"]]) {
        const result = await sb.run(["--store", path, ...args], { env: ENV });
        assertOneLineError(result, /pywry\.db is not a plain SQLite database, and no SQLCipher key was found to open it as an encrypted one/);
        assert.match(result.stderr, /\(tried: env PYWRY_SQLITE_KEY \(not set\);.*\)/, "names the sources tried");
        assert.match(result.stderr, /set PYWRY_SQLITE_KEY, or pass --sqlite-key-file <file>/, "says how to give a key");
      }
      const json = await sb.run(["--json", "--store", path, "session", "list"], { env: ENV });
      assertExit(json, 3);
      assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, "ERR_STORE_KEY");
      const doctor = await sb.run(["--store", path, "doctor"], { env: ENV });
      assertExit(doctor, 1);
      assert.match(doctor.stdout, /SQLCipher/);
      assert.deepEqual(bytesOf(path), before);
    });

    test("pywry's database truncated at any point: exit 3, never a stack, never written to", async (t) => {
      const sb = sandboxFor(t);
      const full = statSync(join(fixturesDir, "pywry-sessions.db")).size;
      for (const size of [10, 100, 4096, Math.floor(full / 2)]) {
        const path = sb.path(`truncated-${size}.db`);
        copyFileSync(join(fixturesDir, "pywry-sessions.db"), path);
        truncateSync(path, size);
        const before = bytesOf(path);
        const results = await Promise.all(
          [["session", "list", "--all"], ["token", "create", "--user", "alice"]].map((args) => sb.run(["--store", path, ...args], { env: ENV })),
        );
        // Shorter than SQLite's 16-byte header, the file cannot be told from an encrypted one.
        const expected = size < 16 ? /is not a plain SQLite database, and no SQLCipher key was found/ : /is not a SQLite database|is corrupt|not a pywry session store/;
        for (const result of results) assertOneLineError(result, expected);
        assert.deepEqual(bytesOf(path), before, `truncated to ${size} bytes: the file was changed`);
      }
    });

    test("an empty file is an empty SQLite database: read commands say it is no pywry store; writing sets it up", async (t) => {
      const sb = sandboxFor(t);
      const path = sb.path("empty.db");
      writeFileSync(path, "", { mode: 0o600 });
      assertOneLineError(await sb.run(["--store", path, "session", "list"], { env: ENV }), /not a pywry session store/);
      assertExit(await sb.run(["--store", path, "session", "create", "--user", "bob"], { env: ENV }), 0);
    });

    test("a schema from a newer pywry-auth: refused by reading and writing commands alike, file untouched", async (t) => {
      const sb = sandboxFor(t);
      const path = sb.path("future.db");
      assertExit(await sb.run(["--store", path, "--create", "session", "create", "--user", "bob"], { env: ENV }), 0);
      const db = new Database(path);
      db.prepare("UPDATE pywry_auth_meta SET value = '7' WHERE key = 'schema_version'").run();
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
      const before = bytesOf(path);
      const results = await Promise.all(
        [["session", "list"], ["token", "create", "--user", "alice"], ["migrate", "--from", path, "--to", sb.path("copy.db")]].map((args) =>
          sb.run(["--store", path, ...args], { env: ENV }),
        ),
      );
      for (const result of results) assertOneLineError(result, /newer pywry-auth \(schema 7, this one knows \d+\); upgrade pywry-auth/);
      const json = await sb.run(["--json", "--store", path, "token", "list"], { env: ENV });
      assertExit(json, 3);
      assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, "ERR_STORE_VERSION");
      assert.deepEqual(bytesOf(path), before);
    });
  });

  describe("missing and uncreatable locations", () => {
    test("a missing directory: reading and writing exit 3 and create nothing; --create creates it owner-only", async (t) => {
      const sb = sandboxFor(t);
      const path = sb.path("not", "there", "pywry.db");
      const results = await Promise.all(
        [...READ_COMMANDS, ["roles", "grant", "editor", "x"], ["session", "purge", "--yes"]].map((args) => sb.run(["--store", path, ...args], { env: ENV })),
      );
      for (const result of results) assertOneLineError(result, /no session store at/);
      assert.equal(existsSync(sb.path("not")), false, "a reading or updating command created the directory");
      assertOneLineError(await sb.run(["--store", path, "token", "create", "--user", "alice"], { env: ENV }), /no session store at .*--create/);
      assert.equal(existsSync(sb.path("not")), false, "a mint into a --store that does not exist created the directory");
      assertExit(await sb.run(["--store", path, "--create", "token", "create", "--user", "alice"], { env: ENV }), 0);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(sb.path("not", "there")).mode & 0o777, 0o700);
    });

    test("a directory that cannot be created (a file is in the way): exit 3, one line", async (t) => {
      const sb = sandboxFor(t);
      writeFileSync(sb.path("plain-file"), "x");
      const result = await sb.run(["--store", sb.path("plain-file", "sub", "pywry.db"), "--create", "token", "create", "--user", "alice"], { env: ENV });
      assertOneLineError(result, /cannot create session store at .*not a directory/);
    });

    test("the store path is a directory: exit 3, one line", async (t) => {
      const sb = sandboxFor(t);
      mkdirSync(sb.path("a-directory.db"));
      for (const args of [["session", "list"], ["token", "create", "--user", "alice"]]) {
        assertOneLineError(await sb.run(["--store", sb.path("a-directory.db"), ...args], { env: ENV }), /a-directory\.db/);
      }
    });
  });

  /**
   * Runs the CLI as a user without privileges: root ignores file permissions, so as root the CLI
   * runs as nobody (65534) on files prepared for it; otherwise as the current user.
   */
  function runUnprivileged(sb: Sandbox, args: readonly string[]): Promise<CliResult> {
    const root = process.getuid?.() === 0;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [binPath, ...args], {
        cwd: sb.home,
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: sb.home, ...ENV },
        stdio: ["ignore", "pipe", "pipe"],
        ...(root ? { uid: NOBODY, gid: NOBODY } : {}),
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  }

  const NOBODY = 65534;

  /** Gives a path to the user the CLI will run as (nobody, when the tests run as root). */
  function handOver(path: string): void {
    if (process.getuid?.() === 0) chownSync(path, NOBODY, NOBODY);
  }

  describe("read-only stores", () => {
    test("a read-only file: reading works, every write exits 3 saying it is read-only for this user", async (t) => {
      const sb = sandboxFor(t);
      chmodSync(sb.home, 0o755);
      const dir = sb.path("owned");
      mkdirSync(dir);
      const path = join(dir, "pywry.db");
      copyFileSync(join(fixturesDir, "pywry-sessions.db"), path);
      handOver(dir);
      handOver(path);
      chmodSync(path, 0o400);
      const before = bytesOf(path);
      const listed = await runUnprivileged(sb, ["--json", "--store", path, "session", "list", "--all"]);
      assertExit(listed, 0);
      assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 5);
      for (const args of WRITE_COMMANDS) {
        const result = await runUnprivileged(sb, ["--store", path, ...args]);
        assertOneLineError(result, /is read-only for this user .*run pywry-auth as the database's owner/);
      }
      assert.deepEqual(bytesOf(path), before);
    });

    test("a WAL database in a directory this user cannot write: a clear reason (the -shm file) and what to do", async (t) => {
      const sb = sandboxFor(t);
      chmodSync(sb.home, 0o755);
      const dir = sb.path("theirs");
      mkdirSync(dir);
      const path = join(dir, "pywry.db");
      copyFileSync(join(fixturesDir, "pywry-sessions.db"), path);
      chmodSync(path, 0o644);
      chmodSync(dir, 0o555);
      try {
        for (const args of [["session", "list"], ["token", "create", "--user", "alice"]]) {
          const result = await runUnprivileged(sb, ["--store", path, ...args]);
          assertOneLineError(result, /-shm beside it \(the database is in WAL mode\).*copy the file and pass --store <copy>/);
        }
      } finally {
        chmodSync(dir, 0o755);
      }
    });
  });

  /** Holds a lock on a SQLite file from another process until killed; resolves once it is held. */
  function holdLock(path: string, statement: "BEGIN EXCLUSIVE" | "BEGIN IMMEDIATE"): Promise<ChildProcess> {
    const script = `
      const Database = require("better-sqlite3-multiple-ciphers");
      const db = new Database(${JSON.stringify(path)});
      db.exec(${JSON.stringify(statement)});
      process.stdout.write("held\\n");
      setInterval(() => undefined, 1000);
    `;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["-e", script], { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.once("data", () => resolve(child));
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`lock holder exited ${code}`)));
    });
  }

  async function timed(work: Promise<CliResult>): Promise<{ result: CliResult; ms: number }> {
    const started = Date.now();
    const result = await work;
    return { result, ms: Date.now() - started };
  }

  describe("a database locked by another process", () => {
    test("writers wait out the busy timeout, then exit 3 saying it is locked; WAL readers are not blocked", async (t) => {
      const sb = sandboxFor(t);
      const wal = sb.path("wal.db");
      assertExit(await sb.run(["--store", wal, "--create", "session", "create", "--user", "bob"], { env: ENV }), 0);
      // pywry's database before pywry-auth ever opened it: rollback journal, so a lock blocks readers too.
      const rollback = sb.path("rollback.db");
      copyFileSync(join(fixturesDir, "pywry-sessions.db"), rollback);
      const plain = new Database(rollback);
      plain.pragma("journal_mode = DELETE");
      plain.close();
      const holders = [await holdLock(wal, "BEGIN IMMEDIATE"), await holdLock(rollback, "BEGIN EXCLUSIVE")];
      t.after(() => holders.forEach((holder) => holder.kill("SIGKILL")));
      const [walWriter, walReader, exclusiveReader, exclusiveWriter] = await Promise.all([
        timed(sb.run(["--store", wal, "token", "create", "--user", "alice"], { env: WAITING_ENV })),
        timed(sb.run(["--store", wal, "session", "list"], { env: WAITING_ENV })),
        timed(sb.run(["--store", rollback, "session", "list"], { env: WAITING_ENV })),
        timed(sb.run(["--store", rollback, "session", "create", "--user", "carol"], { env: WAITING_ENV })),
      ]);
      assertExit(walReader.result, 0);
      for (const { result, ms } of [walWriter, exclusiveReader, exclusiveWriter]) {
        assertOneLineError(result, /is locked by another process \(gave up waiting\)/);
        assert.ok(ms >= STORE_TIMEOUT_MS, `gave up after ${ms} ms, before the busy timeout\n${show(result)}`);
        // Well under the 5 s default: the setting is what it waited for.
        assert.ok(ms < STORE_TIMEOUT_MS + 3000, `took ${ms} ms`);
      }
      holders.forEach((holder) => holder.kill("SIGKILL"));
      const db = new Database(wal, { readonly: true });
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      db.close();
    });
  });

  /**
   * A TCP proxy in front of Redis that can slow every reply down, or stop answering once the
   * client sends a command matching `stallOn` (a server that stalls in the middle of a command).
   */
  async function redisProxy(port: number, behaviour: { delayMs?: number; stallOn?: RegExp }): Promise<{ port: number; close(): void }> {
    const sockets = new Set<Socket>();
    const server: Server = createServer((client) => {
      const upstream = connect(port, "127.0.0.1");
      sockets.add(client).add(upstream);
      let stalled = false;
      client.on("data", (chunk) => {
        if (behaviour.stallOn?.test(chunk.toString("latin1"))) stalled = true;
        upstream.write(chunk);
      });
      upstream.on("data", (chunk) => {
        if (stalled) return;
        setTimeout(() => client.writable && client.write(chunk), behaviour.delayMs ?? 0);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    return {
      port: typeof address === "object" && address ? address.port : 0,
      close() {
        for (const socket of sockets) socket.destroy();
        server.close();
      },
    };
  }

  describe("Redis down, stalled or slow", () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis?.stop());

    test("a server that stalls in the middle of a command: exit 3 within the command timeout, once, one line", async (t) => {
      const sb = sandboxFor(t);
      // Mid-change (token create: WATCH, reads, MULTI/EXEC) and mid-read (session list: SCAN).
      const cases: Array<[RegExp, string[]]> = [
        [/watch/i, ["token", "create", "--user", "alice"]],
        [/scan/i, ["session", "list"]],
      ];
      const runs = await Promise.all(
        cases.map(async ([stallOn, args]) => {
          const stalled = await redisProxy(redis.port, { stallOn });
          t.after(() => stalled.close());
          return timed(sb.run(["--store", `redis://127.0.0.1:${stalled.port}/0`, "--redis-prefix", "stall", ...args], { env: WAITING_ENV, timeoutMs: 40_000 }));
        }),
      );
      // The same command against the healthy server, timed now: start-up on a loaded machine is
      // not the stall's fault, so the bound is relative to it.
      const baseline = await timed(sb.run(["--store", `redis://127.0.0.1:${redis.port}/0`, "--redis-prefix", "stall", "session", "list"], { env: WAITING_ENV, timeoutMs: 40_000 }));
      for (const { result, ms } of runs) {
        assertOneLineError(result, /Redis at .*: timed out/);
        assert.ok(ms >= STORE_TIMEOUT_MS, `gave up after ${ms} ms, before the command timeout\n${show(result)}`);
        // Once: a stalled connection is dropped, so UNWATCH, the next lookup and QUIT do not each wait again.
        assert.ok(ms < baseline.ms + 2 * STORE_TIMEOUT_MS, `took ${ms} ms (a healthy run took ${baseline.ms} ms)\n${show(result)}`);
      }
    });

    test("a slow server (every reply 150 ms late) still works, in bounded time", async (t) => {
      const sb = sandboxFor(t);
      const slow = await redisProxy(redis.port, { delayMs: 150 });
      t.after(() => slow.close());
      const url = `redis://127.0.0.1:${slow.port}/0`;
      const { result, ms } = await timed(sb.run(["--store", url, "--redis-prefix", "slow", "session", "create", "--user", "bob"], { env: ENV, timeoutMs: 30_000 }));
      assertExit(result, 0);
      assert.ok(ms < 15_000, `took ${ms} ms`);
      const listed = await sb.run(["--json", "--store", url, "--redis-prefix", "slow", "session", "list"], { env: ENV, timeoutMs: 30_000 });
      assertExit(listed, 0);
      assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1);
      assert.doesNotMatch(listed.stderr, STACK_FRAME);
    });
  });
});
