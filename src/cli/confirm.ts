/**
 * Confirmation for destructive commands. At a terminal it asks; in scripts and CI (no TTY) it
 * refuses rather than waiting for an answer that will never come, and says to pass --yes.
 */
import { InvalidInputError } from "../core/errors.js";

export async function confirmDestructive(question: string, options: { yes?: boolean; flag?: string }): Promise<void> {
  if (options.yes) return;
  const flag = options.flag ?? "--yes";
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new InvalidInputError(`${question.replace(/\?$/, "")}: refusing without confirmation; pass ${flag} to proceed`, "ERR_USAGE");
  }
  const { confirm } = await import("@inquirer/prompts");
  let answer: boolean;
  try {
    answer = await confirm({ message: question, default: false });
  } catch {
    // Ctrl-C at the prompt: nothing was done.
    answer = false;
  }
  if (!answer) throw new InvalidInputError("cancelled: nothing was changed", "ERR_USAGE");
}
