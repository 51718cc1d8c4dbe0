/**
 * Confirmation for destructive commands. At a terminal it asks; in scripts and CI (no TTY) it
 * refuses rather than waiting for an answer that will never come, and says to pass --yes.
 */
import { UsageError } from "./errors.js";

/** `action` is a verb phrase such as `delete role "analyst"`: asked as a question, refused in prose. */
export async function confirmDestructive(action: string, options: { yes?: boolean; flag?: string }): Promise<void> {
  if (options.yes) return;
  const flag = options.flag ?? "--yes";
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError(`refusing to ${action} without confirmation (no terminal to ask on): pass ${flag} to proceed`);
  }
  const { confirm } = await import("@inquirer/prompts");
  // Ctrl-C at the prompt rejects with an ExitPromptError, which the CLI reports as cancelled (exit 130).
  const answer = await confirm({ message: `${action.charAt(0).toUpperCase()}${action.slice(1)}?`, default: false });
  if (!answer) throw new UsageError("cancelled: nothing was changed");
}
