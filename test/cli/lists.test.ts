/**
 * Lists at scale (issue 17): `session list`, `token list`, `audit`, `roles list` and
 * `session export` stream rows as they read them, and page with --limit and --after, walking
 * every row exactly once while rows are added and deleted between pages.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3-multiple-ciphers";
import { assertCliError, assertExit, handleOf, okJson, sandboxFor, sha256Hex, type Sandbox } from "../helpers/cli.js";
import { binPath, fixturesDir } from "../helpers/paths.js";
import { startRedis } from "../helpers/redis.js";

const SECRET = "lists-secret-0123456789abcdef0123";

/** Opens the store for writing, as another process sharing it would, runs `work`, closes it. */
function withDb<T>(path: string, work: (db: Database.Database) => T): T {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    return work(db);
  } finally {
    db.close();
  }
}
const env = { PYWRY_AUTH_SECRET: SECRET };

/** A store with `count` sessions, registry entries and audit events, written straight in SQL. */
async function bigStore(sb: Sandbox, count: number): Promise<string> {
  const store = sb.path("big.db");
  assertExit(await sb.run(["--store", store, "--create", "session", "create", "--user", "seed"], { env }), 0);
  const now = Date.now() / 1000;
  withDb(store, (db) => {
    const session = db.prepare("INSERT INTO sessions (session_id, user_id, roles, created_at, expires_at, metadata) VALUES (?, ?, ?, ?, ?, ?)");
    const token = db.prepare(
      "INSERT INTO pywry_auth_tokens (token_hash, accessor, kind, subject, issued_at, expires_at, label, roles, created_at, revoked_at) VALUES (?, ?, 'session', ?, ?, ?, NULL, '[\"viewer\"]', ?, NULL)",
    );
    const audit = db.prepare("INSERT INTO pywry_auth_audit (at, action, subject, target, actor, detail) VALUES (?, 'session.create', ?, ?, 'test', '{}')");
    db.transaction(() => {
      for (let index = 0; index < count; index += 1) {
        const id = `bulk-session-${index}`;
        session.run(id, `user-${index % 50}`, '["viewer"]', now - count + index, now + 86400, "{}");
        const hash = sha256Hex(`bulk-token-${index}`);
        token.run(hash, hash.slice(0, 16), `user-${index % 50}`, Math.floor(now), Math.floor(now) + 86400, now - count + index);
        audit.run(now - count + index, `user-${index % 50}`, handleOf(id));
      }
    })();
  });
  return store;
}

interface Streamed {
  /** Whether the child was still running when the first complete line arrived. */
  runningAtFirstLine: boolean;
  stdout: string;
  code: number | null;
}

/**
 * Runs the CLI, and when its first line arrives, stops reading (the pipe fills, the CLI waits)
 * and runs `meanwhile` before reading the rest.
 */
function streamed(sb: Sandbox, args: string[], meanwhile: () => void): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { cwd: sb.home, env: { PATH: process.env["PATH"] ?? "", HOME: sb.home, ...env } });
    let stdout = "";
    let runningAtFirstLine: boolean | null = null;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (runningAtFirstLine === null && stdout.includes("\n")) {
        runningAtFirstLine = child.exitCode === null;
        child.stdout.pause();
        setTimeout(() => {
          meanwhile();
          child.stdout.resume();
        }, 200);
      }
    });
    child.stderr.resume();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ runningAtFirstLine: Boolean(runningAtFirstLine), stdout, code });
    });
  });
}

const ROWS = 20_000;

describe("lists stream: the first rows are out before the store is read to the end", () => {
  // After the first line, the rows the command would list last are deleted. A command that read
  // everything before writing still lists them; one that streams never sees them.
  const cases: Array<{ args: string[]; last: string; table: string; order: "DESC" | "ASC"; count: (stdout: string) => number; mentions: (stdout: string, n: number) => boolean }> = [
    {
      args: ["--json", "session", "list"],
      last: "sessions",
      table: "sessions",
      order: "ASC",
      count: (stdout) => (JSON.parse(stdout) as unknown[]).length,
      mentions: (stdout, n) => stdout.includes(handleOf(`bulk-session-${n}`)),
    },
    {
      args: ["session", "export"],
      last: "sessions",
      table: "sessions",
      order: "ASC",
      count: (stdout) => stdout.trim().split("\n").length,
      mentions: (stdout, n) => stdout.includes(`"bulk-session-${n}"`),
    },
    {
      args: ["token", "list", "--json-lines"],
      last: "tokens",
      table: "pywry_auth_tokens",
      order: "ASC",
      count: (stdout) => stdout.trim().split("\n").length,
      mentions: (stdout, n) => stdout.includes(sha256Hex(`bulk-token-${n}`).slice(0, 16)),
    },
    {
      args: ["--json", "audit"],
      last: "audit events",
      table: "pywry_auth_audit",
      order: "DESC",
      count: (stdout) => stdout.trim().split("\n").length,
      mentions: (stdout, n) => stdout.includes(handleOf(`bulk-session-${n}`)),
    },
    {
      args: ["session", "list"],
      last: "sessions (human table)",
      table: "sessions",
      order: "ASC",
      count: (stdout) => stdout.trim().split("\n").length - 2,
      mentions: (stdout, n) => stdout.includes(handleOf(`bulk-session-${n}`)),
    },
  ];
  for (const each of cases) {
    test(`\`${each.args.join(" ")}\`: the first line arrives while the ${each.last} listed last are still unread`, async (t) => {
      const sb = sandboxFor(t);
      const store = await bigStore(sb, ROWS);
      // The rows listed last: the oldest sessions and tokens (lists are newest first), the newest audit events.
      const tail = 1000;
      const result = await streamed(sb, ["--store", store, ...each.args], () =>
        withDb(store, (db) => {
          const rowids = db.prepare(`SELECT rowid FROM ${each.table} ORDER BY rowid ${each.order} LIMIT ?`).pluck().all(tail);
          const remove = db.prepare(`DELETE FROM ${each.table} WHERE rowid = ?`);
          db.transaction(() => rowids.forEach((rowid) => remove.run(rowid)))();
        }),
      );
      assert.equal(result.code, 0);
      assert.ok(result.runningAtFirstLine, "the first line came before the command finished");
      const first = each.order === "ASC" ? 0 : ROWS - 1;
      assert.ok(!each.mentions(result.stdout, first), "a row deleted after the first line was out is not listed: it had not been read");
      const listed = each.count(result.stdout);
      assert.ok(listed < ROWS && listed >= ROWS - tail, `listed ${listed} of ${ROWS}`);
    });
  }
});

interface Row {
  handle?: string;
  accessor?: string;
  id?: number;
  cursor: string;
}

/** Walks a list with --limit and --after, running `between` after each page; every row seen, in order. */
async function walkPages(sb: Sandbox, args: string[], limit: number, between: (page: number) => Promise<void> | void, first: string[] = []): Promise<Row[]> {
  const seen: Row[] = [];
  let after = first;
  for (let page = 0; page < 10_000; page += 1) {
    const result = await sb.run([...args, "--json-lines", "--limit", String(limit), ...after], { env });
    assertExit(result, 0);
    const list = result.stdout;
    const lines = list.trim() === "" ? [] : list.trim().split("\n").map((line) => JSON.parse(line) as Row);
    if (lines.length === 0) return seen;
    seen.push(...lines);
    after = ["--after", lines[lines.length - 1]!.cursor];
    await between(page);
  }
  throw new Error("the walk did not end");
}

describe("lists page: --limit and --after walk every row exactly once", () => {
  test("session list: rows that stay are listed exactly once while others are added and deleted between pages", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.path("pywry.db");
    const ids: string[] = [];
    for (let index = 0; index < 30; index += 1) {
      const create = index === 0 ? ["--create"] : [];
      ids.push((await sb.run(["--store", store, ...create, "session", "create", "--user", `u${index}`], { env })).stdout.trim());
    }
    const deleted = new Set<string>();
    const seen = await walkPages(sb, ["--store", store, "session", "list"], 4, async (page) => {
      if (page > 4) return;
      // Delete one session already listed and one not yet listed; add one.
      for (const id of [ids[29 - page]!, ids[page]!]) {
        assertExit(await sb.run(["--store", store, "session", "delete", handleOf(id)], { env }), 0);
        deleted.add(handleOf(id));
      }
      assertExit(await sb.run(["--store", store, "session", "create", "--user", `new${page}`], { env }), 0);
    });
    const handles = seen.map((row) => row.handle!);
    assert.equal(new Set(handles).size, handles.length, "no session listed twice");
    for (const id of ids) if (!deleted.has(handleOf(id))) assert.ok(handles.includes(handleOf(id)), "every session that stayed was listed");
    assert.ok(deleted.size === 10);
  });

  test("token list and audit page the same way; audit walks from the start with --after 0", async (t) => {
    const sb = sandboxFor(t);
    const store = await bigStore(sb, 57);
    const tokens = await walkPages(sb, ["--store", store, "token", "list"], 10, () => undefined);
    assert.equal(new Set(tokens.map((row) => row.accessor)).size, 57);
    assert.equal(tokens.length, 57);
    const events = await walkPages(sb, ["--store", store, "audit"], 10, () => undefined, ["--after", "0"]);
    const all = (await sb.run(["--store", store, "audit", "--json"], { env })).stdout.trim().split("\n").map((line) => JSON.parse(line) as Row);
    assert.deepEqual(events.map((row) => row.id), all.map((row) => row.id));
    const roles = await walkPages(sb, ["--store", store, "roles", "list"], 3, () => undefined);
    assert.deepEqual(roles.map((row) => (row as unknown as { role: string }).role), ["admin", "anonymous", "editor", "viewer"]);
  });

  test("a human list cut by --limit says how to go on, and following it lists the rest", async (t) => {
    const sb = sandboxFor(t);
    const store = await bigStore(sb, 5);
    const first = await sb.run(["--store", store, "session", "list", "--limit", "4"], { env });
    assertExit(first, 0);
    const hint = /4 sessions shown; more follow: add --after (\S+) \(same options\) for the next ones/.exec(first.stdout);
    assert.ok(hint, first.stdout);
    const rest = await sb.run(["--store", store, "session", "list", "--limit", "4", "--after", hint[1]!], { env });
    assertExit(rest, 0);
    assert.match(rest.stdout, /^2 sessions$/m);
    assert.doesNotMatch(rest.stdout, /more follow/);
    const shown = [first.stdout, rest.stdout].join("\n").match(/^[0-9a-f]{16}\b/gm) ?? [];
    assert.equal(new Set(shown).size, 6, "six sessions, none twice");
  });

  test("a bad --limit or --after is a usage error that names the flag and not the text", async (t) => {
    const sb = sandboxFor(t);
    const store = await bigStore(sb, 3);
    for (const command of [["session", "list"], ["token", "list"], ["audit"], ["roles", "list"], ["session", "export"]]) {
      assertCliError(await sb.run(["--store", store, ...command, "--limit", "0"], { env }), 2, /--limit/);
      // Any text is a role name, so any text is a roles list cursor.
      if (command[0] === "roles") continue;
      const bad = await sb.run(["--store", store, ...command, "--after", "secret-looking-cursor"], { env });
      assertCliError(bad, 2, /--after cursor/);
      assert.ok(!bad.stderr.includes("secret-looking-cursor"));
    }
  });

  test("--json prints every row unless --limit; --json-lines has the same fields", async (t) => {
    const sb = sandboxFor(t);
    const store = await bigStore(sb, 1200);
    const json = okJson<Row[]>(await sb.run(["--store", store, "--json", "session", "list"], { env }));
    assert.equal(json.length, 1201);
    const lines = (await sb.run(["--store", store, "session", "list", "--json-lines"], { env })).stdout.trim().split("\n").map((line) => JSON.parse(line) as Row);
    assert.deepEqual(lines, json);
    assert.equal(okJson<Row[]>(await sb.run(["--store", store, "--json", "session", "list", "--limit", "7"], { env })).length, 7);
    const handles = (await sb.run(["--store", store, "--field", "handle", "session", "list", "--limit", "3"], { env })).stdout.trim().split("\n");
    assert.deepEqual(handles, json.slice(0, 3).map((row) => row.handle));
  });
});

describe("at a terminal", () => {
  test(`a very long table stops and says how many rows were left out and how to see them`, async (t) => {
    const sb = sandboxFor(t);
    const store = await bigStore(sb, 1500);
    const request = {
      argv: [process.execPath, binPath, "--store", store, "session", "list"],
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: sb.home, TERM: "xterm", NO_COLOR: "1", ...env },
      steps: [],
      timeout: 30,
    };
    const result = JSON.parse(execFileSync("python3", [join(fixturesDir, "pty_drive.py")], { input: JSON.stringify(request), encoding: "utf8" })) as {
      code: number;
      output: string;
    };
    assert.equal(result.code, 0);
    const rows = result.output.match(/^[0-9a-f]{16}\s/gm) ?? [];
    assert.equal(rows.length, 1000);
    assert.match(result.output, /1000 sessions shown; 501 more not shown: add --after \d+ \(same options\) for the next ones, --limit <n> for more at once/);
  });
});

describe("Redis", () => {
  test("session list pages with SCAN: --limit and --after walk every session once", async (t) => {
    const server = await startRedis();
    t.after(() => server.stop());
    const sb = sandboxFor(t);
    const url = server.url();
    const handles: string[] = [];
    for (let index = 0; index < 25; index += 1) {
      handles.push(handleOf((await sb.run(["--store", url, "session", "create", "--user", `r${index}`], { env })).stdout.trim()));
    }
    const seen = await walkPages(sb, ["--store", url, "session", "list"], 4, () => undefined);
    assert.deepEqual(seen.map((row) => row.handle).sort(), [...handles].sort());
  });
});
