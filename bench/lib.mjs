// Shared helpers for the benchmarks: scaling, timing, child processes, results.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const bin = join(root, "bin", "pywry-auth");
export const dist = (path) => pathToFileURL(join(root, "dist", path)).href;

/** BENCH_SCALE shrinks (or grows) every size: 0.1 for a quick run. */
export const SCALE = Number(process.env.BENCH_SCALE ?? "1") || 1;
/** How many times each side-by-side comparison is repeated; medians are reported. */
export const RUNS = Math.max(1, Math.trunc(Number(process.env.BENCH_RUNS ?? "5") || 5));

export function scaled(n, minimum = 1) {
  return Math.max(minimum, Math.round(n * SCALE));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function tempDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `pywry-auth-bench-${name}-`));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Seconds taken by `work` (sync or async). */
export async function seconds(work) {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** The environment the CLI gets: nothing from this machine's pywry-auth or pywry settings. */
export function cliEnv(home, extra = {}) {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...extra };
}

const RSS_HOOK = pathToFileURL(join(root, "bench", "rss-hook.mjs")).href;

/**
 * Runs the CLI with stdin from `stdinFd` (or nothing) and stdout to `stdoutFd` (or a pipe that is
 * drained), and reports its wall time, exit code, stderr and peak RSS (MB).
 */
export function runCli(args, { env, stdinFd, stdoutFd, timeoutMs = 600_000 }) {
  const rssFile = join(tmpdir(), `pywry-auth-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ["--import", RSS_HOOK, bin, ...args], {
      env: { ...env, BENCH_RSS_OUT: rssFile },
      stdio: [stdinFd ?? "ignore", stdoutFd ?? "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk) => {
      if (stdout.length < 1_000_000) stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      let rssMb = null;
      try {
        rssMb = JSON.parse(readFileSync(rssFile, "utf8")).maxRssKb / 1024;
        rmSync(rssFile, { force: true });
      } catch {
        // the child died before its exit hook ran
      }
      resolve({ code, wall, stderr, stdout, rssMb });
    });
  });
}

/** Wall time (ms) of one run of a command with piped output, as a CI loop captures it. */
export function wallMs(command, args, env) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0 && !(args.includes("verify") && result.status === 1)) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  }
  return ms;
}

/**
 * A figure: what was measured, against what, and the target. `better` says which way is good:
 * "higher" (value >= target) or "lower" (value <= target).
 */
export function figure({ id, target, label, value, unit, better = "higher", goal, reference = null, note = null, runs = null }) {
  const met = value === null || Number.isNaN(value) ? false : better === "higher" ? value >= goal : value <= goal;
  return { id, target, label, value, unit, better, goal, met, reference, note, runs };
}

/** Sections print one JSON document on stdout (their last line); everything else goes to stderr. */
export function report(figures, extra = {}) {
  process.stdout.write(`${JSON.stringify({ figures, ...extra })}\n`);
}

export function log(message) {
  process.stderr.write(`  ${message}\n`);
}
