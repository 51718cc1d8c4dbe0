/**
 * Runs the CLI in a real pseudo-terminal (test/fixtures/pty_drive.py), answering its prompts in
 * order: for the wizard, pickers, confirmations and Ctrl-C, which only happen at a terminal.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { Sandbox } from "./cli.js";
import { binPath, fixturesDir } from "./paths.js";

export interface PtyResult {
  code: number | null;
  output: string;
  /** The first prompt that never came (null when every one did). */
  missed: string | null;
}

export interface PtyStep {
  /** A regular expression the output must show before `send` is typed. */
  expect: string;
  send: string;
}

export function inTerminal(sandbox: Sandbox, args: string[], steps: PtyStep[], env: Record<string, string> = {}): PtyResult {
  const request = {
    argv: [process.execPath, binPath, ...args],
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: sandbox.home, TERM: "xterm", ...env },
    steps,
    timeout: 20,
  };
  const output = execFileSync("python3", [join(fixturesDir, "pty_drive.py")], { input: JSON.stringify(request), encoding: "utf8" });
  return JSON.parse(output) as PtyResult;
}
