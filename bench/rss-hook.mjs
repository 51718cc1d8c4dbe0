// Loaded with `node --import` by the benchmarks: writes the process's peak RSS when it exits.
import { writeFileSync } from "node:fs";

const out = process.env.BENCH_RSS_OUT;
if (out) {
  process.on("exit", () => {
    writeFileSync(out, JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }));
  });
}
