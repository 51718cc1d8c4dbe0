/**
 * One concurrent client for test/security/concurrency.test.ts: runs a fixed script of CLI
 * operations (token create, revoke, role change) against one store and writes a report.
 *
 *   node cli-worker.js '<json config>'
 *
 * mode "inprocess": each operation is one call of the CLI's own `run(argv)` in this process, so
 *   every operation opens the store, works in its own transaction and closes it, exactly as a
 *   `pywry-auth` process does, without paying ~200 ms of Node start-up per operation.
 * mode "spawn": each operation is a real `bin/pywry-auth` process (the heavy variant).
 *
 * The environment (HOME, PYWRY_AUTH_SECRET) comes from the parent.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";

export interface WorkerConfig {
  id: number;
  ops: number;
  mode: "inprocess" | "spawn";
  /** --store and any other global flags. */
  globals: string[];
  /** Where to write the WorkerReport (JSON). */
  report: string;
  binPath: string;
  /** Operation indexes at which to mint for the user "shared", the same as every other worker does. */
  sharedAt: number[];
}

export interface OpResult {
  op: number;
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface WorkerReport {
  id: number;
  created: Array<{ accessor: string; user: string; token: string }>;
  revoked: string[];
  granted: string[];
  failures: OpResult[];
  /** Every non-empty stderr, failure or not (the suite checks none mentions a busy database). */
  stderr: string[];
  /** Every stdout and stderr, for the hygiene scan. */
  outputs: string[];
  ms: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;

type Runner = (args: string[]) => Promise<Omit<OpResult, "op" | "args" | "ms">>;

async function inProcessRunner(): Promise<Runner> {
  const { run } = (await import("../../../src/cli/main.js")) as { run: (argv: readonly string[]) => Promise<void> };
  // The CLI writes its own output straight to fd 1 until a command asks for process.stdout;
  // asking first makes every write go through process.stdout.write, which is captured below.
  const { stdoutStream } = await import("../../../src/cli/output.js");
  stdoutStream();
  const realStdout = process.stdout.write.bind(process.stdout);
  const realStderr = process.stderr.write.bind(process.stderr);
  return async (args) => {
    let stdout = "";
    let stderr = "";
    process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
    process.exitCode = 0;
    try {
      await run(["node", "pywry-auth", ...args]);
    } finally {
      process.stdout.write = realStdout;
      process.stderr.write = realStderr;
    }
    const code = typeof process.exitCode === "number" ? process.exitCode : Number(process.exitCode ?? 0);
    process.exitCode = 0;
    return { code, stdout, stderr };
  };
}

function spawnRunner(): Runner {
  return (args) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [config.binPath, ...args], { env: process.env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

async function main(): Promise<void> {
  const runner = config.mode === "spawn" ? spawnRunner() : await inProcessRunner();
  const report: WorkerReport = { id: config.id, created: [], revoked: [], granted: [], failures: [], stderr: [], outputs: [], ms: 0 };
  const pending: string[] = [];
  const started = Date.now();
  const w = `w${config.id}`;
  for (let op = 0; op < config.ops; op += 1) {
    let args: string[];
    let onSuccess: (stdout: string) => void;
    const kind = op % 3;
    if (kind === 0 || (kind === 1 && pending.length === 0)) {
      const user = config.sharedAt.includes(op) ? "shared" : `${w}-u${op}`;
      args = ["--json", "token", "create", "--user", user, "--roles", "viewer", "--ttl", "1h", "--label", `${w}-${op}`];
      onSuccess = (stdout) => {
        const minted = JSON.parse(stdout) as { token: string; accessor: string };
        report.created.push({ accessor: minted.accessor, user, token: minted.token });
        if (user !== "shared") pending.push(minted.accessor);
      };
    } else if (kind === 1) {
      const accessor = pending.shift()!;
      args = ["revoke", "--accessor", accessor, "--reason", "concurrency test"];
      onSuccess = () => report.revoked.push(accessor);
    } else {
      const permission = `p-${w}-${op}`;
      args = ["roles", "grant", "--create", "shared-role", permission];
      onSuccess = () => report.granted.push(permission);
    }
    const fullArgs = [...config.globals, ...args];
    const opStarted = Date.now();
    const result = await runner(fullArgs);
    const entry: OpResult = { op, args: fullArgs, ...result, ms: Date.now() - opStarted };
    report.outputs.push(result.stdout, result.stderr);
    if (result.stderr.trim() !== "") report.stderr.push(result.stderr);
    if (result.code === 0) {
      try {
        onSuccess(result.stdout);
      } catch (error) {
        report.failures.push({ ...entry, stderr: `${entry.stderr}\n(worker could not read the output: ${String(error)})` });
      }
    } else {
      report.failures.push(entry);
    }
  }
  report.ms = Date.now() - started;
  writeFileSync(config.report, JSON.stringify(report));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`worker ${config.id} crashed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(99);
  },
);
