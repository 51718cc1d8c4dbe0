/**
 * Secret, config, store and export files, end to end: written atomically and owner-only, never
 * through a planted symbolic link; refused when someone else owns them, when they are a symbolic
 * link in a world-writable sticky directory, or when they are not a small regular file.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { assertCliError, assertExit, nowSeconds, pywryToken, sandboxFor } from "../helpers/cli.js";

const SECRET = "files-test-secret";
const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
const ANOTHER_USER = 4242;

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

describe("files are written atomically, owner-only, never through a symbolic link", () => {
  test("secret generate --out --force refuses a planted symbolic link and leaves its target alone", async (t) => {
    const sb = sandboxFor(t);
    const victim = sb.path("victim.txt");
    writeFileSync(victim, "keep me\n", { mode: 0o644 });
    symlinkSync(victim, sb.path("planted"));
    const result = await sb.run(["secret", "generate", "--out", sb.path("planted"), "--force"]);
    assertCliError(result, 3, /symbolic link/);
    assert.equal(readFileSync(victim, "utf8"), "keep me\n");
    assert.equal(modeOf(victim), 0o644);
    assert.ok(lstatSync(sb.path("planted")).isSymbolicLink());
  });

  test("secret generate --out --force over a 0644 or 0666 file leaves it 0600, and says so only because it is", async (t) => {
    const sb = sandboxFor(t);
    for (const mode of [0o644, 0o666]) {
      const out = sb.path(`loose-${mode.toString(8)}`);
      writeFileSync(out, "old\n");
      chmodSync(out, mode);
      const result = await sb.run(["secret", "generate", "--out", out, "--force"]);
      assertExit(result, 0);
      assert.match(result.stdout, /\(mode 0600\)/);
      assert.equal(modeOf(out), 0o600, `was ${mode.toString(8)}`);
      assert.match(readFileSync(out, "utf8"), /^[0-9a-f]{64}\n$/);
    }
    assert.deepEqual(readdirSync(sb.home).filter((name) => name.endsWith(".tmp")), [], "no temporary file is left behind");
  });

  test("init --force refuses a symbolic link planted as the config file", async (t) => {
    const sb = sandboxFor(t);
    const config = sb.path(".config", "pywry-auth", "config.json");
    mkdirSync(dirname(config), { recursive: true });
    const victim = sb.path("victim.json");
    writeFileSync(victim, "{}\n", { mode: 0o644 });
    symlinkSync(victim, config);
    const result = await sb.run(["init", "--yes", "--force", "--store", sb.path("s.db"), "--secret-file", sb.path("s.secret")]);
    assertCliError(result, 3, /symbolic link/);
    assert.equal(readFileSync(victim, "utf8"), "{}\n");
    // Refused before anything was made: no store, no secret.
    assert.equal(existsSync(sb.path("s.db")), false);
    assert.equal(existsSync(sb.path("s.secret")), false);
  });

  test("the secret created on first mint is 0600 and says so", async (t) => {
    const sb = sandboxFor(t);
    const result = await sb.run(["token", "create", "--user", "alice", "--no-session"]);
    assertExit(result, 0);
    assert.match(result.stderr, /\(mode 0600\)/);
    assert.equal(modeOf(sb.secretFile), 0o600);
  });

  test("session export --out never writes through a planted symbolic link", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    symlinkSync(sb.path("elsewhere.ndjson"), sb.path("out.ndjson"));
    const result = await sb.run(["--store", store, "session", "export", "--out", sb.path("out.ndjson")]);
    assertCliError(result, 2);
    assert.equal(existsSync(sb.path("elsewhere.ndjson")), false);
    const written = await sb.run(["--store", store, "session", "export", "--out", sb.path("real.ndjson")]);
    assertExit(written, 0);
    assert.equal(modeOf(sb.path("real.ndjson")), 0o600);
    assert.deepEqual(readdirSync(sb.home).filter((name) => name.endsWith(".tmp")), []);
  });
});

describe("files someone else could have written are refused", { skip: asRoot ? false : "needs root to make files owned by another user" }, () => {
  const token = () => pywryToken("alice", nowSeconds(), nowSeconds() + 600, SECRET);

  test("a secret file owned by another (non-root) user: exit 3, not a warning", async (t) => {
    const sb = sandboxFor(t);
    const secretFile = sb.path("their.secret");
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    chownSync(secretFile, ANOTHER_USER, ANOTHER_USER);
    const result = await sb.run(["verify", "--secret-file", secretFile, "-"], { input: `${token()}\n` });
    assertCliError(result, 3, /owned by another user \(uid 4242\)/);
    assert.doesNotMatch(result.stderr, /chmod/);
  });

  test("a store file owned by another (non-root) user: exit 3", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    chownSync(store, ANOTHER_USER, ANOTHER_USER);
    assertCliError(await sb.run(["--store", store, "session", "list"]), 3, /session store .* is owned by another user/);
    assertCliError(await sb.run(["--store", store, "token", "create", "--user", "alice"], { env: { PYWRY_AUTH_SECRET: SECRET } }), 3, /owned by another user/);
  });

  test("a symbolic link in a world-writable sticky directory, to a secret or a store: exit 3", async (t) => {
    const sb = sandboxFor(t);
    const shared = sb.path("shared-tmp");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const secretFile = sb.path("mine.secret");
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    symlinkSync(secretFile, `${shared}/secret`);
    const viaLink = await sb.run(["verify", "--secret-file", `${shared}/secret`, "-"], { input: `${token()}\n` });
    assertCliError(viaLink, 3, /symbolic link in .*shared-tmp/);
    assertExit(await sb.run(["verify", "--secret-file", secretFile, "-"], { input: `${token()}\n` }), 0);
    const store = sb.copyPywryFixture();
    symlinkSync(store, `${shared}/pywry.db`);
    assertCliError(await sb.run(["--store", `${shared}/pywry.db`, "session", "list"]), 3, /symbolic link/);
  });
});

describe("secret files must be small regular files", () => {
  const token = () => pywryToken("alice", nowSeconds(), nowSeconds() + 600, SECRET);

  test("a FIFO is refused at once (exit 3), not waited on forever", async (t) => {
    const sb = sandboxFor(t);
    const fifo = sb.path("secret.fifo");
    execFileSync("mkfifo", [fifo]);
    const result = await sb.run(["verify", "--secret-file", fifo, "-"], { input: `${token()}\n`, timeoutMs: 10_000 });
    assertCliError(result, 3, /is a named pipe, not a regular file: give the path of a file/);
  });

  test("/dev/zero, a directory and a 1 MB file are refused (exit 3) without reading them whole", async (t) => {
    const sb = sandboxFor(t);
    const big = sb.path("big.secret");
    writeFileSync(big, "a".repeat(1024 * 1024), { mode: 0o600 });
    mkdirSync(sb.path("a-directory"));
    for (const [path, reason] of [
      ["/dev/zero", /is a device, not a regular file/],
      [sb.path("a-directory"), /is a directory, not a regular file/],
      [big, /1048576 bytes/],
    ] as const) {
      const result = await sb.run(["verify", "--secret-file", path, "-"], { input: `${token()}\n`, timeoutMs: 10_000 });
      assertCliError(result, 3, reason);
    }
  });
});
