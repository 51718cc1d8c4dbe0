/**
 * The npm package, proved from the outside: `npm pack` the project, install the tarball into a
 * fresh directory the way a user's project would, then use it only through what was installed
 * (the bin on PATH, `npx`, `import "pywry-auth"`, its .d.ts files).
 *
 * How it stays fast and offline:
 * - `npm pack --ignore-scripts`: `npm test` has just built dist/, so the `prepare` rebuild is skipped.
 * - The install is `npm ci --offline` from a lockfile written here: the tarball, plus exactly the
 *   versions of its dependencies that the project's package-lock.json pins (walked from the
 *   tarball's own `dependencies`, so an undeclared dependency is missing here as it would be for
 *   a user). Every one of those tarballs is in the npm cache after the project's own `npm ci`, so
 *   nothing is downloaded. (`npm install --offline <tgz>` is not enough: it needs registry
 *   metadata that `npm ci` does not always cache, and it may pick versions that were never
 *   downloaded.)
 * - `--ignore-scripts`: better-sqlite3-multiple-ciphers's install script would compile SQLite again (~70 s with
 *   node-gyp). That build is the user's npm's job (see the README's Install section) and tests
 *   better-sqlite3-multiple-ciphers, not this package. So the installed CLI first mints and verifies tokens on the
 *   paths that never load SQLite (`token create --no-session`, `widget-token --no-record`,
 *   `verify --offline`), which is also what works for a user whose native build failed. Then, for
 *   the store, the binary the project's `npm ci` already built for the same better-sqlite3-multiple-ciphers version
 *   and the same Node is copied into the installed better-sqlite3-multiple-ciphers, standing in for its install
 *   script, and the installed CLI and library use a real SQLite store.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../helpers/paths.js";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface PackedFile {
  path: string;
  size: number;
  mode: number;
}

interface PackResult {
  name: string;
  version: string;
  filename: string;
  integrity: string;
  files: PackedFile[];
}

interface Manifest {
  name: string;
  version: string;
  license?: string;
  main?: string;
  types?: string;
  type?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  files?: string[];
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

const SETUP_TIMEOUT = 240_000;
const STEP_TIMEOUT = 60_000;

/** Runs a program and collects its output; never rejects on a non-zero exit. */
function run(file: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? STEP_TIMEOUT);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function show(what: string, result: Result): string {
  return `${what}: exit ${result.code}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
}

function assertOk(what: string, result: Result): void {
  assert.equal(result.code, 0, show(what, result));
}

/**
 * The environment for npm itself: ours, without the npm_* variables that `npm test` sets for its
 * scripts (package and lifecycle details, the project's prefix), but keeping where the cache and
 * the registry are.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_userconfig", "npm_config_globalconfig", "npm_config_registry", "npm_config_cafile"]);
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith("npm_") || keep.has(key.toLowerCase())));
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** The lockfile path at which Node would find `name` when required from the package at `from`. */
function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | null {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ""}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return null;
    const parent = base.lastIndexOf("/node_modules/");
    base = parent < 0 ? "" : base.slice(0, parent);
  }
}

/**
 * A package-lock.json for a project that depends only on the tarball: the tarball's dependency
 * closure, at the paths and versions the project's own lockfile pins.
 */
function consumerLock(projectLock: { packages: Record<string, LockEntry> }, manifest: Manifest, tarball: PackResult, spec: string): unknown {
  const packages = projectLock.packages;
  const chosen: Record<string, LockEntry> = {};
  const walk = (from: string, dependencies: Record<string, string> | undefined, optional: boolean): void => {
    for (const name of Object.keys(dependencies ?? {})) {
      const at = resolveInLock(packages, from, name);
      if (!at) {
        if (optional) continue;
        throw new Error(`package-lock.json has no ${name} (needed by ${from || manifest.name}): run npm install`);
      }
      if (chosen[at]) continue;
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = packages[at]!;
      chosen[at] = entry;
      walk(at, entry.dependencies, false);
      walk(at, entry.optionalDependencies, true);
    }
  };
  walk("", manifest.dependencies, false);
  walk("", manifest.optionalDependencies, true);
  return {
    name: "pywry-auth-consumer",
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "pywry-auth-consumer", dependencies: { [manifest.name]: spec } },
      [`node_modules/${manifest.name}`]: {
        version: manifest.version,
        resolved: spec,
        integrity: tarball.integrity,
        license: manifest.license,
        dependencies: manifest.dependencies,
        optionalDependencies: manifest.optionalDependencies,
        bin: manifest.bin,
        engines: manifest.engines,
      },
      ...chosen,
    },
  };
}

/** Every .ts under src/, as the dist/ path tsc compiles it to (without the extension). */
function compiledSources(dir = join(projectRoot, "src")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return compiledSources(path);
    if (!entry.name.endsWith(".ts") || entry.name.endsWith(".d.ts")) return [];
    return [`dist/${relative(join(projectRoot, "src"), path).replace(/\.ts$/, "")}`];
  });
}

/** Packages imported by compiled code: `import ... from "x"`, `export ... from "x"`, `import "x"`, `import("x")`. */
function bareImports(source: string): string[] {
  const found = new Set<string>();
  const patterns = [/^\s*(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']/gm, /^\s*import\s*["']([^"']+)["']/gm, /\bimport\(\s*["']([^"']+)["']\s*\)/g];
  for (const match of patterns.flatMap((pattern) => [...source.matchAll(pattern)])) {
    const specifier = match[1]!;
    if (specifier.startsWith(".") || specifier.startsWith("/")) continue;
    if (specifier.startsWith("node:")) continue;
    found.add(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!);
  }
  return [...found];
}

/** Module hooks that make loading a Redis client fail loudly (SQLite-only use must never load one). */
const DENY_REDIS_HOOKS = `
const REDIS_CLIENTS = /^(?:ioredis|redis|iovalkey|@redis\\/[^/]+|@valkey\\/[^/]+)(?:\\/|$)/;
export async function resolve(specifier, context, next) {
  if (REDIS_CLIENTS.test(specifier)) {
    throw new Error("a SQLite-only use of pywry-auth loaded the Redis client " + JSON.stringify(specifier) + "; load it lazily, only for redis:// stores");
  }
  return next(specifier, context);
}
`;

describe("the npm package, packed and installed into a fresh project", { timeout: SETUP_TIMEOUT + 120_000 }, () => {
  const projectManifest = readJson<Manifest>(join(projectRoot, "package.json"));
  let work = "";
  let consumer = "";
  let installed = "";
  let home = "";
  let packed: PackResult;
  let cliEnv: NodeJS.ProcessEnv;

  before(
    async () => {
      assert.ok(existsSync(join(projectRoot, "dist", "index.js")), "dist/ is not built: run `npm run build` (npm test does)");
      work = mkdtempSync(join(tmpdir(), "pywry-auth-pack-"));
      consumer = join(work, "consumer");
      home = join(work, "home");
      mkdirSync(consumer);
      mkdirSync(home);

      const pack = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", consumer], { cwd: projectRoot, env: npmEnv() });
      assertOk("npm pack", pack);
      packed = (JSON.parse(pack.stdout) as PackResult[])[0]!;

      const spec = `file:${packed.filename}`;
      writeFileSync(
        join(consumer, "package.json"),
        `${JSON.stringify({ name: "pywry-auth-consumer", private: true, type: "module", dependencies: { [projectManifest.name]: spec } }, null, 2)}\n`,
      );
      const lock = consumerLock(readJson(join(projectRoot, "package-lock.json")), projectManifest, packed, spec);
      writeFileSync(join(consumer, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);

      const flags = ["--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"];
      let install = await run("npm", ["ci", "--offline", ...flags], { cwd: consumer, env: npmEnv(), timeoutMs: SETUP_TIMEOUT / 2 });
      if (install.code !== 0 && /ENOTCACHED/.test(install.stderr)) {
        // The cache lost a dependency tarball (e.g. `npm cache clean`): fetch just what is missing.
        install = await run("npm", ["ci", "--prefer-offline", ...flags], { cwd: consumer, env: npmEnv(), timeoutMs: SETUP_TIMEOUT / 2 });
      }
      assertOk("npm ci of the packed tarball (offline, from the npm cache)", install);
      installed = join(consumer, "node_modules", projectManifest.name);

      const hooks = join(work, "deny-redis-hooks.mjs");
      const register = join(work, "deny-redis.mjs");
      writeFileSync(hooks, DENY_REDIS_HOOKS);
      writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
      // What a user's shell gives the CLI: PATH (with the project's bin directory, as after a
      // global install) and HOME, nothing from this machine's pywry-auth or pywry settings.
      cliEnv = {
        PATH: `${join(consumer, "node_modules", ".bin")}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
        HOME: home,
        NODE_OPTIONS: `--import=${pathToFileURL(register).href}`,
      };
    },
    { timeout: SETUP_TIMEOUT },
  );

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs the installed `pywry-auth` through its bin link, as a shell would. */
  function cli(args: readonly string[], input?: string): Promise<Result> {
    return run(join(consumer, "node_modules", ".bin", "pywry-auth"), args, { cwd: home, env: cliEnv, input });
  }

  test("the tarball holds only what users need", () => {
    const paths = packed.files.map((file) => file.path).sort();
    for (const required of [
      "package.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
      "docs/cli.md",
      "docs/encrypted-stores.md",
      "bin/pywry-auth",
      "bin/package.json",
      "dist/pywry-auth.cjs",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli/main.js",
    ]) {
      assert.ok(paths.includes(required), `${required} is in the package\n${paths.join("\n")}`);
    }
    const forbidden = [
      /^test\//,
      /(^|\/)[^/]*\.test\.[cm]?[jt]s$/,
      /^src\//,
      /^\.build-test\//,
      /\.db(-wal|-shm)?$/,
      /fixtures/,
      /^\.ci\//,
      /^tsconfig.*\.json$/,
      /node_modules\//,
      /^scripts\//,
      /\.tgz$/,
      /\.map$/,
      /(^|\/)\.env/,
      /(^|\/)(secret(\.next)?|[^/]*\.(pem|key))$/,
      /^dist\/cli\/reference\./,
    ];
    for (const path of paths) {
      for (const pattern of forbidden) assert.doesNotMatch(path, pattern, `${path} must not be published`);
      assert.match(
        path,
        /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|docs\/[a-z-]+\.md|bin\/pywry-auth|bin\/package\.json|dist\/pywry-auth\.cjs|dist\/.+\.(js|d\.ts))$/,
        `${path} is not something users need; adjust "files" in package.json`,
      );
    }
    const bin = packed.files.find((file) => file.path === "bin/pywry-auth");
    assert.ok(bin && (bin.mode & 0o111) !== 0, "bin/pywry-auth is packed executable");
  });

  test("dist/ in the tarball is exactly the compiled src/ plus the CLI bundle (no stale files from an old build)", () => {
    const expected = compiledSources()
      .filter((path) => path !== "dist/cli/reference")
      .flatMap((path) => [`${path}.js`, `${path}.d.ts`])
      .concat("dist/pywry-auth.cjs")
      .sort();
    const shipped = packed.files.map((file) => file.path).filter((path) => path.startsWith("dist/")).sort();
    assert.deepEqual(shipped, expected, "dist/ differs from src/: run `rm -rf dist && npm run build` before packing");
  });

  test("package.json: name, version, engines, bin, types and exports are right", () => {
    const manifest = readJson<Manifest>(join(installed, "package.json"));
    assert.equal(manifest.name, "pywry-auth");
    assert.equal(manifest.version, projectManifest.version);
    assert.match(manifest.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, "a semantic version");
    assert.equal(manifest.type, "module");
    assert.equal(manifest.license, "MIT");
    assert.match(manifest.engines?.["node"] ?? "", /^>=\s*20(\.0)*$/, "engines.node is >=20");
    assert.deepEqual(manifest.bin, { "pywry-auth": "bin/pywry-auth" });
    assert.ok(statSync(join(installed, "bin", "pywry-auth")).mode & 0o111, "the installed bin is executable");

    const root = manifest.exports?.["."] as Record<string, string> | undefined;
    assert.ok(root, 'exports["."]');
    for (const [subpath, entry] of Object.entries(manifest.exports ?? {})) {
      const targets = typeof entry === "string" ? { default: entry } : (entry as Record<string, string>);
      if (typeof entry !== "string") {
        assert.equal(Object.keys(targets)[0], "types", `"types" comes first in exports["${subpath}"], as TypeScript requires`);
        assert.ok(targets["import"], `exports["${subpath}"] has an "import" target`);
      }
      for (const target of Object.values(targets)) {
        assert.ok(existsSync(join(installed, target)), `exports["${subpath}"]: ${target} exists in the installed package`);
      }
    }
    for (const target of [manifest.main, manifest.types]) {
      assert.ok(target && existsSync(join(installed, target)), `${target} exists in the installed package`);
    }
    assert.equal(manifest.types?.replace(/^\.\//, ""), root["types"]?.replace(/^\.\//, ""));
    assert.ok(manifest.exports?.["./package.json"], "package.json is exported");
  });

  test("every package the compiled code imports is a declared dependency", () => {
    const declared = new Set(Object.keys({ ...projectManifest.dependencies, ...projectManifest.optionalDependencies, ...projectManifest.peerDependencies }));
    const missing: string[] = [];
    for (const file of packed.files.filter((each) => each.path.endsWith(".js"))) {
      for (const name of bareImports(readFileSync(join(installed, file.path), "utf8"))) {
        if (name !== projectManifest.name && !declared.has(name)) missing.push(`${file.path} imports ${name}`);
      }
    }
    assert.deepEqual(missing, [], "add these to dependencies in package.json");
  });

  test("npx pywry-auth --version prints the package version", async () => {
    // --offline: the installed bin or nothing; never a package of that name from the registry.
    const result = await run("npx", ["--offline", "pywry-auth", "--version"], { cwd: consumer, env: npmEnv() });
    assertOk("npx pywry-auth --version", result);
    assert.equal(result.stdout, `${projectManifest.version}\n`);
  });

  test("the installed bin mints and verifies tokens without loading SQLite", async () => {
    const created = await cli(["token", "create", "--user", "alice", "--ttl", "1h", "--no-session"]);
    assertOk("token create --no-session", created);
    const token = created.stdout.trim();
    assert.match(token, /^alice:\d+:\d+:[0-9a-f]{64}$/, show("token create", created));
    assert.match(created.stderr, /created a new signing secret/);
    const secretFile = join(home, ".config", "pywry-auth", "secret");
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    // pywry's wire format, checked independently: user:issued:expires:hmac-sha256(secret, payload).
    const secret = readFileSync(secretFile, "utf8").trim();
    const payload = token.slice(0, token.lastIndexOf(":"));
    assert.equal(token.slice(payload.length + 1), createHmac("sha256", secret).update(payload).digest("hex"));

    const valid = await cli(["verify", "--offline", "-"], `${token}\n`);
    assertOk("verify --offline", valid);
    assert.match(valid.stdout, /^valid: token for "alice"/);

    const wrongUser = await cli(["--json", "verify", "--offline", "--user", "bob", "-"], `${token}\n`);
    assert.equal(wrongUser.code, 1, show("verify --user bob", wrongUser));
    assert.equal((JSON.parse(wrongUser.stdout) as { error: { code: string } }).error.code, "ERR_TOKEN_SUBJECT");

    const widget = await cli(["widget-token", "chart-1", "--ttl", "5m", "--no-record"]);
    assertOk("widget-token --no-record", widget);
    assertOk("verify --offline --widget", await cli(["verify", "--offline", "--widget", "chart-1", "-"], widget.stdout));

    const generated = await cli(["secret", "generate"]);
    assertOk("secret generate", generated);
    assert.match(generated.stdout, /^[0-9a-f]{64}\n$/);

    assert.equal(existsSync(join(home, ".config", "pywry")), false, "no store was created");
  });

  test("a TypeScript consumer compiles against the installed types (tsc --noEmit)", async () => {
    const dir = join(consumer, "ts");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          // Check pywry-auth's .d.ts files too (not TypeScript's own lib files: that only costs time).
          skipLibCheck: false,
          skipDefaultLibCheck: true,
          // A Node project has @types/node (the HTTP middleware's types use node:http); use ours.
          typeRoots: [join(projectRoot, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    writeFileSync(
      join(dir, "consumer.ts"),
      `import { generateSessionToken, validateSessionToken, MemorySessionStore, SqliteSessionStore, type UserSession } from "pywry-auth";
import { describeSessionStore, type MakeStore } from "pywry-auth/testing";

const secret = "s3cret";
const token: string = generateSessionToken("alice", secret, Math.floor(Date.now() / 1000) + 3600);
const result = validateSessionToken(token, [secret]);
const userId: string | null = result.valid ? result.userId : null;
const code: string | undefined = result.error?.code;

export async function roles(path: string): Promise<string[]> {
  const store: SqliteSessionStore = SqliteSessionStore.open(path, { mode: "read" });
  const session: UserSession | null = await store.getSession(token);
  await store.close();
  return session?.roles ?? [];
}

// A third-party store is checked with the contract suite the same way.
const makeStore: MakeStore = (clock) => new MemorySessionStore({ now: () => clock.now });
export const contract = (): void => describeSessionStore("MemorySessionStore", makeStore);

// The types are real, not \`any\`: a wrong argument is an error.
// @ts-expect-error a user id is a string
generateSessionToken(42, secret);

export { userId, code };
`,
    );
    // A consumer's package.json makes consumer.ts an ES module, as in an ESM project.
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const tsc = join(projectRoot, "node_modules", "typescript", "bin", "tsc");
    const result = await run(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { cwd: dir, env: process.env });
    assertOk("tsc --noEmit on a consumer of the installed package", result);
  });

  test("with better-sqlite3-multiple-ciphers's native addon in place, the installed CLI and library use a SQLite store", async (t) => {
    const addon = join("build", "Release", "better_sqlite3.node");
    const source = join(projectRoot, "node_modules", "better-sqlite3-multiple-ciphers");
    const target = join(consumer, "node_modules", "better-sqlite3-multiple-ciphers");
    const ours = readJson<Manifest>(join(source, "package.json")).version;
    const theirs = readJson<Manifest>(join(target, "package.json")).version;
    if (!existsSync(join(source, addon)) || ours !== theirs) {
      t.skip(`the project's better-sqlite3-multiple-ciphers ${ours} has no built addon, or differs from the installed ${theirs}`);
      return;
    }
    // Stands in for better-sqlite3-multiple-ciphers's install script: same version, same Node, so the same binary.
    mkdirSync(dirname(join(target, addon)), { recursive: true });
    copyFileSync(join(source, addon), join(target, addon));

    const store = join(home, "pywry.db");
    const created = await cli(["--json", "--store", store, "--create", "token", "create", "--user", "carol", "--roles", "editor", "--label", "ci"]);
    assertOk("token create (with a session)", created);
    const { token, accessor } = JSON.parse(created.stdout) as { token: string; accessor: string };
    assertOk("verify (consulting the store)", await cli(["--store", store, "verify", "-"], token));
    const listed = await cli(["--store", store, "token", "list"]);
    assertOk("token list", listed);
    assert.match(listed.stdout, new RegExp(`^${accessor}\\s+session\\s+carol`, "m"));
    assertOk("revoke", await cli(["--store", store, "revoke", "-"], token));
    const revoked = await cli(["--json", "--store", store, "verify", "-"], token);
    assert.equal(revoked.code, 1, show("verify after revoke", revoked));
    assert.equal((JSON.parse(revoked.stdout) as { error: { code: string } }).error.code, "ERR_TOKEN_REVOKED");

    // The library, imported by its package name from the consumer project.
    writeFileSync(
      join(consumer, "app.mjs"),
      `import { generateSessionToken, validateSessionToken, SqliteSessionStore, hasPermission } from "pywry-auth";
const token = generateSessionToken("dave", "s3cret", Math.floor(Date.now() / 1000) + 60);
const store = SqliteSessionStore.open(process.argv[2]);
const session = await store.createSession(token, "dave", ["editor"], 60);
const result = {
  valid: validateSessionToken(token, "s3cret").valid,
  write: hasPermission(session, "write"),
  checked: await store.checkPermission(token, "widget", "w1", "write"),
};
await store.close();
console.log(JSON.stringify(result));
`,
    );
    const app = await run(process.execPath, [join(consumer, "app.mjs"), store], { cwd: consumer, env: cliEnv });
    assertOk("a library consumer", app);
    assert.deepEqual(JSON.parse(app.stdout), { valid: true, write: true, checked: true });
  });
});
