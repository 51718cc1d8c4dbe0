// Loaded with `node --import` by the benchmarks: writes the process's peak RSS when it exits.
//
// On Linux, getrusage's maxRSS (process.resourceUsage().maxRSS) survives execve: a child forked
// from a benchmark process that holds a lot of memory (a store it has just built) reports the
// parent's resident size at the fork as its own peak. /proc/self/status's VmHWM is the peak of
// this program's own memory only, so it is used where it exists.
import { readFileSync, writeFileSync } from "node:fs";

const out = process.env.BENCH_RSS_OUT;
if (out) {
  process.on("exit", () => {
    writeFileSync(out, JSON.stringify({ maxRssKb: ownPeakKb() ?? process.resourceUsage().maxRSS }));
  });
}

function ownPeakKb() {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
