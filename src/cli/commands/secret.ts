/** `secret generate`: 32 random bytes as hex, on stdout or into an owner-only file. */
import type { Context } from "../context.js";
import { generateSecret, writePrivateFile } from "../secrets.js";
import { modeNote } from "../../files.js";
import type { Output } from "../output.js";

function modeText(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

interface SecretGenerateOptions {
  out?: string;
  force?: boolean;
}

export async function secretGenerate(_context: Context, output: Output, options: SecretGenerateOptions): Promise<void> {
  const secret = generateSecret();
  if (options.out === undefined) {
    output.result(secret, { secret });
    return;
  }
  const written = writePrivateFile(options.out, `${secret}\n`, Boolean(options.force));
  output.result(`wrote a new secret to ${options.out} (${modeNote(written)})`, { path: options.out, bytes: secret.length / 2, mode: modeText(written.mode) });
}
