#!/usr/bin/env node
// `npm run bench`: runs every benchmark section (each in its own process, one after the other),
// prints one table of figures with their targets, and writes the results as JSON to bench/out/.
// `node bench/run.mjs verify batch` runs only those sections. See bench/README.md (how to run)
// and docs/performance.md (the figures).
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { RUNS, SCALE, root } from "./lib.mjs";

const SECTIONS = ["verify", "coldstart", "batch", "bulk", "create", "middleware", "encrypted", "lists"];
const chosen = process.argv.slice(2);
for (const name of chosen) if (!SECTIONS.includes(name)) throw new Error(`unknown section ${name}; sections: ${SECTIONS.join(", ")}`);
const sections = chosen.length > 0 ? SECTIONS.filter((name) => chosen.includes(name)) : SECTIONS;

function runSection(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(root, "bench", `${name}.mjs`)], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.on("close", (code) => {
      const seconds = (Date.now() - started) / 1000;
      const last = stdout.trim().split("\n").at(-1) ?? "";
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve({ name, seconds, ...JSON.parse(last) });
      } catch (error) {
        resolve({ name, seconds, error: `section ${name} failed: ${error.message}`, figures: [] });
      }
    });
  });
}

const format = (value, unit) => {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  if (unit === "x") return `${value.toFixed(2)}x`;
  if (unit === "/s") return `${Math.round(value).toLocaleString("en-US")}/s`;
  return `${value.toLocaleString("en-US", { maximumFractionDigits: 2 })} ${unit}`;
};

const load = loadavg()[0];
process.stderr.write(
  `pywry-auth benchmarks: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
    `load average ${load.toFixed(2)}, BENCH_SCALE=${SCALE}, BENCH_RUNS=${RUNS}\n`,
);
const results = [];
for (const name of sections) {
  process.stderr.write(`\n[${name}]\n`);
  const result = await runSection(name);
  if (result.error) process.stderr.write(`  ${result.error}\n`);
  process.stderr.write(`  (${result.seconds.toFixed(0)} s)\n`);
  results.push(result);
}

const figures = results.flatMap((result) => result.figures);
const rows = figures.map((f) => [
  f.target,
  f.label,
  format(f.value, f.unit),
  `${f.better === "higher" ? ">=" : "<="} ${format(f.goal, f.unit)}`,
  f.met ? "met" : "NOT MET",
  [f.reference ? `vs ${f.reference.label} ${format(f.reference.value, f.reference.unit)}` : "", f.note ?? ""].filter(Boolean).join("; "),
]);
const headers = ["#", "figure", "measured", "target", "", "reference and notes"];
const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (column === 5 ? 0 : row[column].length))));
const line = (cells) => cells.map((cell, column) => (column === 5 ? cell : cell.padEnd(widths[column]))).join("  ").trimEnd();
console.log("");
console.log(line(headers));
for (const row of rows) console.log(line(row));
const failed = results.filter((result) => result.error);
console.log("");
console.log(
  `${figures.filter((f) => f.met).length} of ${figures.length} figures meet their target` +
    (failed.length > 0 ? `; ${failed.length} section(s) failed: ${failed.map((result) => result.name).join(", ")}` : "") +
    `. Ratios are measured side by side in the same run; see docs/performance.md.`,
);

const out = join(root, "bench", "out");
mkdirSync(out, { recursive: true });
const document = {
  at: new Date().toISOString(),
  machine: { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverageAtStart: load },
  scale: SCALE,
  runs: RUNS,
  sections: results.map(({ name, seconds, error }) => ({ name, seconds, error: error ?? null })),
  figures,
};
const text = `${JSON.stringify(document, null, 2)}\n`;
writeFileSync(join(out, "latest.json"), text);
writeFileSync(join(out, `results-${document.at.replace(/[:.]/g, "-")}.json`), text);
console.log(`wrote bench/out/latest.json`);
if (failed.length > 0) process.exitCode = 1;
